"""A resume from any checkpoint continues exactly as the uninterrupted run: same draws, same
augmentation, same weights, same test accuracy, bit for bit on the CPU (digits, augmentation on)."""

from __future__ import annotations

import pytest
import torch

from conftest import RECORD_DRAWS, assert_same_parameters, run_training
from draw_recorder import load_draws

# digits: 44 steps of 32 per epoch; the switch after epoch 1 (burn_in_end_epoch1.ckpt).
STEPS = 44
SETTINGS = [
    "sampler=importance",
    "sampler.burn_in_epochs=1",
    "schedule.max_epochs=3",
    "dataset.augment=true",
    RECORD_DRAWS,
]
SNAPSHOTS = [
    "+callbacks.snapshots._target_=draw_recorder.SaveAt",
    "+callbacks.snapshots.steps=[30,70]",
    "+callbacks.snapshots.epochs=[2]",
]
CHECKPOINTS = {
    "mid_epoch_before_the_switch": "step30.ckpt",
    "the_switch": "burn_in_end_epoch1.ckpt",
    "mid_epoch_after_the_switch": "step70.ckpt",
    "epoch_end_after_the_switch": "epoch2_end.ckpt",
}


def final_weights(folder):
    return torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)[
        "state_dict"
    ]


def assert_same_run(resumed_folder, resumed, reference_folder, reference) -> None:
    assert resumed["total_steps"] == reference["total_steps"]
    assert resumed["test_acc_history"] == reference["test_acc_history"]
    assert resumed["final_test_acc"] == reference["final_test_acc"]
    assert_same_parameters(final_weights(resumed_folder), final_weights(reference_folder))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resume") / "reference"
    return folder, run_training(SETTINGS + SNAPSHOTS, folder)


@pytest.mark.parametrize("kind", list(CHECKPOINTS))
def test_resume_from_any_checkpoint_ends_bit_equal_to_the_uninterrupted_run(tmp_path, reference, kind):
    reference_folder, reference_summary = reference
    checkpoint = reference_folder / "checkpoints" / CHECKPOINTS[kind]
    step = torch.load(checkpoint, map_location="cpu", weights_only=True)["global_step"]
    folder = tmp_path / "resumed"
    resumed = run_training(SETTINGS + [f"ckpt_path={checkpoint}"], folder)
    assert_same_run(folder, resumed, reference_folder, reference_summary)
    # the draws after the checkpoint are the reference's own
    original, again = load_draws(reference_folder), load_draws(folder)
    epoch, done = divmod(step, STEPS)
    assert torch.equal(again[epoch], original[epoch][done * 32 :])


def run_and_resume_at(settings: list[str], step: int, tmp_path):
    """An uninterrupted run that saves a checkpoint after ``step``, then a run resumed from it;
    asserts they end the same and returns the reference (folder, summary)."""
    reference_folder = tmp_path / "reference"
    reference = run_training(
        settings
        + ["+callbacks.snapshots._target_=draw_recorder.SaveAt", f"+callbacks.snapshots.steps=[{step}]"],
        reference_folder,
    )
    folder = tmp_path / "resumed"
    resumed = run_training(
        settings + [f"ckpt_path={reference_folder / 'checkpoints' / f'step{step}.ckpt'}"], folder
    )
    assert_same_run(folder, resumed, reference_folder, reference)
    return reference_folder, reference


def test_resume_mid_epoch_with_loader_workers_ends_bit_equal(tmp_path):
    """Workers are re-seeded at every iterator; the augmentation must not depend on them."""
    reference_folder, reference = run_and_resume_at(SETTINGS + ["dataset.num_workers=2"], 70, tmp_path)
    # and the workers change nothing: the same run as in the main process
    plain_folder = tmp_path / "plain"
    plain = run_training(SETTINGS, plain_folder)
    assert_same_run(plain_folder, plain, reference_folder, reference)


PER_BATCH_STRATEGIES = {
    "importance_online": ["sampler=importance_online", "sampler.burn_in_epochs=1"],
    "spv": ["sampler=spv", "sampler.burn_in_epochs=1"],
    "infobatch": ["sampler=infobatch"],
}


@pytest.mark.parametrize("name", list(PER_BATCH_STRATEGIES))
def test_strategies_that_learn_every_batch_resume_mid_epoch_bit_equal(tmp_path, name):
    """Their per-sample state travels in the checkpoint; the rest is keyed as for every sampler."""
    run_and_resume_at(
        [*PER_BATCH_STRATEGIES[name], "schedule.max_epochs=3", "dataset.augment=true"], 60, tmp_path
    )
