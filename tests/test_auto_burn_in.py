"""burn_in_epochs=auto: E chosen by the Spearman correlation of successive weights, through a resume."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from conftest import FEW_BATCHES, run_training
from independent import digits_p_true_from_checkpoint
from run_outputs import tensorboard_scalars
from sample_importance.errors import ConfigError
from sample_importance.sampler.burn_in import AutoBurnIn, FixedBurnIn
from sample_importance.sampler.importance import ImportanceSampling


class ScalarWriter:
    """A TensorBoard writer that keeps what it is given."""

    def __init__(self) -> None:
        self.scalars: list[tuple[str, float, int]] = []

    def add_scalar(self, tag, value, step) -> None:
        self.scalars.append((tag, value, step))

    def add_histogram(self, *args) -> None:  # what marks a TensorBoard writer
        pass


def trainer_with_writer():
    writer = ScalarWriter()
    return SimpleNamespace(
        is_global_zero=True, loggers=[SimpleNamespace(experiment=writer)], global_step=7
    ), writer


def drive(rule, epochs: list[torch.Tensor], trainer, start: int = 0) -> tuple[int | None, list[int]]:
    """Ask the rule as the sampler does, from ``start`` epochs done on: (the switch, the epochs weighed)."""
    weighed = []
    for epochs_done in range(start, len(epochs)):

        def weigh(epochs_done=epochs_done):
            weighed.append(epochs_done)
            return "scores", epochs[epochs_done], ""

        scored = rule.weights_at(epochs_done, weigh, trainer)
        if scored is not None:
            assert scored[1] is epochs[epochs_done]
            return epochs_done, weighed
    return None, weighed


def test_auto_burn_in_picks_the_first_epoch_whose_correlation_passes():
    base = torch.arange(100, dtype=torch.float64)
    noise = torch.randn(100, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    epochs = [noise, base + 200 * noise, base + 60 * noise, base + 10 * noise, base + 9 * noise, base]
    trainer, writer = trainer_with_writer()
    auto = AutoBurnIn(threshold=0.9, max_epochs=10)
    chosen, weighed = drive(auto, epochs, trainer)
    rhos = {e: r for e, r in auto.history}
    first_passing = min(e for e, r in rhos.items() if r >= 0.9)
    assert chosen == first_passing and all(rhos[e] < 0.9 for e in range(1, first_passing))
    assert weighed == list(range(first_passing + 1))  # before training, then after every epoch
    assert rhos[1] == pytest.approx(spearmanr(epochs[0], epochs[1]).statistic)
    assert writer.scalars == [("importance/auto_burn_in_spearman", rhos[e], 7) for e in range(1, chosen + 1)]
    assert auto.chosen(chosen) == chosen
    assert auto.summary(chosen) == {
        "burn_in_epochs_chosen": chosen,
        "auto_spearman_history": [[e, rhos[e]] for e in range(1, chosen + 1)],
    }
    capped = AutoBurnIn(threshold=0.999, max_epochs=10)
    capped.validate(max_epochs=3)  # the latest E is max_epochs - 1
    assert drive(capped, epochs, trainer)[0] == 2  # the maximum E, whatever the correlation
    constant = AutoBurnIn(threshold=0.9, max_epochs=10)  # gamma = 0: the weights never change
    ones = [torch.ones(5, dtype=torch.float64)] * 3
    assert drive(constant, ones, trainer)[0] == 1 and constant.history == [(1, 1.0)]


def test_fixed_and_auto_burn_in_answer_the_same_questions():
    """The sampler asks either rule the same way: a fixed E weighs once, at E; auto weighs every
    epoch until it switches, and a resumed auto rule does not weigh an epoch it has seen."""
    epochs = [
        torch.rand(50, generator=torch.Generator().manual_seed(e), dtype=torch.float64) for e in range(6)
    ]
    trainer, writer = trainer_with_writer()
    fixed = FixedBurnIn(2)
    assert drive(fixed, epochs, trainer) == (2, [2])
    assert [fixed.is_last_burn_in_epoch(i) for i in range(4)] == [False, True, False, False]
    assert fixed.chosen(2) is None and fixed.summary(2) == {} and fixed.hparams() == {}
    assert fixed.state_dict() == {} and not writer.scalars
    assert drive(FixedBurnIn(0), epochs, trainer) == (0, [0])  # before the first epoch
    with pytest.raises(ConfigError, match=r"sampler.burn_in_epochs must be in \[0, 2\)"):
        FixedBurnIn(2).validate(max_epochs=2)

    auto = AutoBurnIn(threshold=1.0, max_epochs=4)  # independent weights never agree: the cap
    assert drive(auto, epochs, trainer) == (4, [0, 1, 2, 3, 4])
    assert not any(auto.is_last_burn_in_epoch(i) for i in range(6))
    assert auto.hparams() == {"auto_spearman_threshold": 1.0, "auto_max_burn_in_epochs": 4}
    with pytest.raises(ConfigError, match="needs schedule.max_epochs >= 2"):
        auto.validate(max_epochs=1)

    # A checkpoint at the end of epoch 1 (0 and 1 weighed): the resumed rule goes on with epoch 2.
    first = AutoBurnIn(threshold=1.0, max_epochs=4)
    drive(first, epochs[:2], trainer)
    state = first.state_dict()
    assert list(state) == ["auto"] and [e for e, _ in state["auto"]["history"]] == [1]
    resumed = AutoBurnIn(threshold=1.0, max_epochs=4)
    resumed.load_state_dict(state)
    assert torch.equal(resumed.previous, epochs[1])
    assert drive(resumed, epochs, trainer) == (4, [2, 3, 4])
    assert resumed.history[:1] == first.history and len(resumed.history) == 4
    untouched = AutoBurnIn(threshold=1.0, max_epochs=4)
    untouched.load_state_dict({"switched_after_epoch": None})  # a checkpoint without the rule's state
    assert untouched.previous is None and untouched.history == []


@pytest.mark.parametrize(
    "options, message",
    [
        ({"score": "random"}, "needs a model-based score, not sampler.score=random"),
        ({"weights_file": "WEIGHTS"}, "cannot be combined with sampler.weights_file"),
        ({"auto_max_burn_in_epochs": 0}, "sampler.auto_max_burn_in_epochs must be an integer >= 1, got 0"),
    ],
)
def test_auto_burn_in_refuses_what_it_cannot_use_in_one_line(options, message, tmp_path):
    weights = tmp_path / "w.pt"
    torch.save({"weight": torch.ones(3)}, weights)
    options = {k: str(weights) if v == "WEIGHTS" else v for k, v in options.items()}
    with pytest.raises(ConfigError) as error:
        ImportanceSampling(burn_in_epochs="auto", **options)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_auto_burn_in_run_scores_every_epoch_and_records_e(tmp_path):
    run = tmp_path / "run"
    summary = run_training(
        [
            "sampler.burn_in_epochs=auto",
            "sampler.auto_spearman_threshold=1.0",
            "schedule.max_epochs=3",
            FEW_BATCHES,
            "callbacks.model_checkpoint.save_top_k=-1",
        ],
        run,
    )
    settings = summary["sampler_settings"]
    assert (
        settings["burn_in_epochs_chosen"] == settings["switched_after_epoch"] == 2
    )  # capped at max_epochs - 1
    assert [e for e, _ in settings["auto_spearman_history"]] == [1, 2]
    weights = [
        (1 - digits_p_true_from_checkpoint(run / "checkpoints" / f"epoch{e:03d}.ckpt")[0]).pow(0.5)
        for e in (0, 1)
    ]
    assert settings["auto_spearman_history"][1][1] == pytest.approx(
        spearmanr(weights[0], weights[1]).statistic, abs=1e-6
    )
    np.testing.assert_allclose(
        torch.load(run / "sample_weights.pt", weights_only=True)["weight"].numpy(),
        weights[1].numpy(),
        rtol=1e-4,
        atol=1e-7,
    )
    scalars = tensorboard_scalars(run)
    assert len(scalars["importance/auto_burn_in_spearman"]) == 2
    assert scalars["importance/burn_in_epochs_chosen"][0][1] == 2


def test_auto_burn_in_resumes_its_history_instead_of_starting_over(tmp_path):
    first = tmp_path / "first"
    overrides = [
        "sampler.burn_in_epochs=auto",
        "sampler.auto_spearman_threshold=1.0",
        "schedule.max_epochs=3",
        FEW_BATCHES,
    ]
    run_training(overrides + ["callbacks.model_checkpoint.save_top_k=-1"], first)
    state = torch.load(first / "checkpoints" / "epoch000.ckpt", weights_only=False)["callbacks"][
        "ImportanceSampling"
    ]
    assert state["switched_after_epoch"] is None and [e for e, _ in state["auto"]["history"]] == [1]
    resumed = run_training(
        overrides + [f"ckpt_path={first / 'checkpoints' / 'epoch000.ckpt'}"], tmp_path / "resumed"
    )
    settings = resumed["sampler_settings"]
    assert [e for e, _ in settings["auto_spearman_history"]] == [1, 2] and settings[
        "switched_after_epoch"
    ] == 2
    assert settings["auto_spearman_history"][0] == pytest.approx(state["auto"]["history"][0])
