"""SPV (Eq. 6): weights from each sample's p_true history, uniform burn-in, the history through a resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import run_training
from fake_trainer import fake_trainer, p_outputs
from run_outputs import checkpoint_state, tensorboard_scalars
from sample_importance.sampler.spv import SpvSampling, spv_weights
from sample_importance.sampler.updating import RunningMoments
from sampler_recorder import BATCH, RECORD, SCHEDULE, STEPS, load_record, stop_after


# -- SPV: Eq. 6 on a known history --------------------------------------------------------------------
def test_spv_weights_follow_eq6_on_a_known_history():
    rng = np.random.default_rng(0)
    histories = [list(rng.uniform(0, 1, size=n)) for n in (2, 3, 5, 10, 1, 0, 7)]
    strategy = SpvSampling(burn_in_epochs=0, epsilon=0.2)
    trainer = fake_trainer(len(histories))
    strategy.on_fit_start(trainer, None)
    # the history arrives in shuffled batches of 5 (p_true, index), some sample twice in a batch
    pairs = [(i, p) for i, history in enumerate(histories) for p in history]
    pairs = [pairs[k] for k in rng.permutation(len(pairs))]
    for batch, start in enumerate(range(0, len(pairs), 5)):
        index, values = zip(*pairs[start : start + 5])
        strategy.on_train_batch_end(trainer, None, p_outputs(list(index), list(values)), None, batch)
    strategy.refresh(trainer)
    weights = trainer.datamodule.sampler.weights

    expected = []
    for h in histories:
        if len(h) < 2:
            expected.append(None)
            continue
        var = np.var(h, ddof=1)
        expected.append(math.sqrt(var + var**2 / (len(h) - 1)) + 0.2)
    largest = max(e for e in expected if e is not None)
    expected = [largest if e is None else e for e in expected]  # fewer than 2 values: the largest weight
    torch.testing.assert_close(weights, torch.tensor(expected, dtype=torch.float64), atol=1e-6, rtol=0)


def test_spv_weights_function_edge_cases():
    count = torch.tensor([0, 1, 4])
    variance = torch.tensor([float("nan"), float("nan"), 0.0])
    assert spv_weights(variance, count, 0.2).tolist() == pytest.approx([0.2, 0.2, 0.2])
    assert spv_weights(variance, count, 0.0).tolist() == [1.0, 1.0, 1.0]  # nothing varies: uniform
    moments = RunningMoments(2)
    moments.update(torch.tensor([0, 0, 1]), torch.tensor([0.25, 0.75, 0.5]))
    assert moments.variance()[0].item() == pytest.approx(0.125) and math.isnan(moments.variance()[1].item())


def test_spv_is_uniform_during_burn_in_then_weighted_at_every_epoch_end():
    strategy = SpvSampling(burn_in_epochs=2, epsilon=0.2)
    trainer = fake_trainer(6)
    strategy.on_fit_start(trainer, None)
    sampler = trainer.datamodule.sampler
    for epoch in range(4):
        trainer.current_epoch = epoch
        strategy.on_train_batch_end(
            trainer,
            None,
            p_outputs(list(range(6)), [0.1 * (epoch + 1) * (i % 2) + 0.05 for i in range(6)]),
            None,
            0,
        )
        strategy.on_train_epoch_end(trainer, None)
        assert (sampler.weights is None) == (epoch == 0)
    assert strategy.refreshes == 3  # the switch after epoch 1, then epochs 2 and 3
    # odd samples changed p every epoch, even ones never: only odd ones are above epsilon
    assert torch.all(sampler.weights[0::2] == 0.2) and torch.all(sampler.weights[1::2] > 0.2)


# -- SPV: uniform burn-in, weighted epochs, history through a resume ---------------------------------
SPV = SCHEDULE + ["sampler=spv", "sampler.burn_in_epochs=1", "schedule.max_epochs=3", RECORD]


def test_spv_history_survives_a_resume_and_the_weighted_epoch_is_the_same(tmp_path):
    reference = run_training(SPV, tmp_path / "reference")
    first = tmp_path / "first"
    run_training(SPV + stop_after(2), first)
    saved = checkpoint_state(first, "SpvSampling")
    assert saved["weighting"] and int(saved["store"]["count"].sum()) == 2 * STEPS * BATCH
    resumed_dir = tmp_path / "resumed"
    resumed = run_training(SPV + [f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}"], resumed_dir)
    final = load_record(resumed_dir)["state"]["store"]
    assert int(final["count"].sum()) == 3 * STEPS * BATCH  # the history went on from the checkpoint
    # epoch 2 is drawn from the weights refreshed at the end of epoch 1, restored from the checkpoint
    assert torch.equal(
        torch.cat(load_record(resumed_dir)["batches"][2]),
        torch.cat(load_record(tmp_path / "reference")["batches"][2]),
    )
    assert (
        reference["sampler_settings"]["weight_refreshes"]
        == resumed["sampler_settings"]["weight_refreshes"]
        == 3
    )
    # the sampling diagnostics of both weighted epochs are in TensorBoard
    scalars = tensorboard_scalars(tmp_path / "reference")
    assert [step for step, _ in scalars["sampling/effective_sample_fraction"]] == [STEPS, 2 * STEPS]
    uniform_epoch = torch.cat(load_record(tmp_path / "reference")["batches"][0])
    assert len(uniform_epoch.unique()) == len(uniform_epoch)  # the burn-in epoch is without replacement
