"""Paired seeds: only the sampler changes a run's random stream.

Every sampler with a burn-in trains its first E epochs exactly as SGD-Scan (``sampler=uniform``)
with the same seed, bit for bit on the CPU, whatever work it adds (scoring passes of any score,
``burn_in_epochs=auto``'s extra passes, recording), so that the difference after the switch is
the method's alone. And ``burn_in_epochs=auto`` that chooses E is exactly the run of fixed E.
"""

from __future__ import annotations

import pytest
import torch

from conftest import assert_same_parameters, run_training

E, EPOCHS = 2, 3
SCHEDULE = [
    f"schedule.max_epochs={EPOCHS}",
    "dataset.augment=true",
    "seed=5",
    "+callbacks.snapshots._target_=draw_recorder.SaveAt",
    f"+callbacks.snapshots.epochs=[{E}]",
]
WITH_BURN_IN = {
    "importance": ["sampler=importance"],
    "importance_score_loss": ["sampler=importance", "sampler.score=loss"],
    "importance_score_el2n": ["sampler=importance", "sampler.score=el2n"],
    "importance_score_grad_norm": ["sampler=importance", "sampler.score=grad_norm"],
    "random_weights": ["sampler=random_weights"],
    "importance_train_forward": ["sampler=importance", "sampler.score_source=train_forward"],
    "class_importance": ["sampler=class_importance"],
    "importance_unbiased": ["sampler=importance_unbiased"],
    "importance_online": ["sampler=importance_online"],
    "spv": ["sampler=spv"],
    "prioritized_proportional": ["sampler=prioritized_proportional"],
    "prioritized_rank": ["sampler=prioritized_rank"],
}


def weights_at_epoch_end(folder, epoch: int = E) -> dict:
    path = folder / "checkpoints" / f"epoch{epoch}_end.ckpt"
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def sgd_scan(tmp_path_factory):
    folder = tmp_path_factory.mktemp("paired") / "uniform"
    return folder, run_training(["sampler=uniform", *SCHEDULE], folder)


@pytest.mark.parametrize("name", list(WITH_BURN_IN))
def test_the_burn_in_epochs_are_sgd_scans_bit_for_bit(tmp_path, sgd_scan, name):
    scan_folder, scan = sgd_scan
    folder = tmp_path / name
    summary = run_training([*WITH_BURN_IN[name], f"sampler.burn_in_epochs={E}", *SCHEDULE], folder)
    assert summary["test_acc_history"][:E] == scan["test_acc_history"][:E]
    assert_same_parameters(weights_at_epoch_end(folder), weights_at_epoch_end(scan_folder))
    # the switch happened and changed the draw: the last epoch is the method's own
    assert summary["test_acc_history"][E:] != scan["test_acc_history"][E:]


def test_auto_burn_in_is_the_run_of_the_e_it_chooses(tmp_path, sgd_scan):
    """Auto-E scores at E=0 and after every epoch; those passes change nothing, before or after the switch."""
    scan_folder, scan = sgd_scan
    auto = run_training(["sampler=importance", "sampler.burn_in_epochs=auto", *SCHEDULE], tmp_path / "auto")
    chosen = auto["sampler_settings"]["burn_in_epochs_chosen"]
    assert 1 <= chosen <= EPOCHS - 1
    assert auto["test_acc_history"][:chosen] == scan["test_acc_history"][:chosen]
    fixed = run_training(
        ["sampler=importance", f"sampler.burn_in_epochs={chosen}", *SCHEDULE], tmp_path / "fixed"
    )
    assert auto["test_acc_history"] == fixed["test_acc_history"]
    assert auto["final_test_acc"] == fixed["final_test_acc"]
    final = {
        name: torch.load(
            tmp_path / name / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True
        )["state_dict"]
        for name in ("auto", "fixed")
    }
    assert_same_parameters(final["auto"], final["fixed"])
