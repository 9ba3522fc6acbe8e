"""burn_in_epochs=auto: E chosen by the Spearman correlation of successive weights, through a resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from conftest import FEW_BATCHES, run_training
from independent import digits_p_true_from_checkpoint
from run_outputs import tensorboard_scalars
from sample_importance.sampler.auto_burn_in import AutoBurnIn


def test_auto_burn_in_picks_the_first_epoch_whose_correlation_passes():
    base = torch.arange(100, dtype=torch.float64)
    noise = torch.randn(100, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    epochs = [noise, base + 200 * noise, base + 60 * noise, base + 10 * noise, base + 9 * noise, base]
    auto = AutoBurnIn(threshold=0.9, max_epochs=10)
    chosen = None
    for epoch, weights in enumerate(epochs):
        auto.observe(epoch, weights)
        if chosen is None and auto.should_switch(epoch):
            chosen = epoch
    rhos = {e: r for e, r in auto.history}
    first_passing = min(e for e, r in rhos.items() if r >= 0.9)
    assert chosen == first_passing and all(rhos[e] < 0.9 for e in range(1, first_passing))
    assert rhos[1] == pytest.approx(spearmanr(epochs[0], epochs[1]).statistic)
    capped = AutoBurnIn(threshold=0.999, max_epochs=2)
    capped.observe(0, epochs[0])
    capped.observe(1, epochs[1])
    assert not capped.should_switch(1)
    capped.observe(2, epochs[2])
    assert capped.should_switch(2)  # the maximum E, whatever the correlation
    restored = AutoBurnIn(0.999, 2)
    restored.load_state_dict(capped.state_dict())
    assert restored.history == capped.history and torch.equal(restored.previous, capped.previous)
    constant = AutoBurnIn(threshold=0.9, max_epochs=10)  # gamma = 0: the weights never change
    constant.observe(0, torch.ones(5, dtype=torch.float64))
    constant.observe(1, torch.ones(5, dtype=torch.float64))
    assert constant.history == [(1, 1.0)] and constant.should_switch(1)


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
