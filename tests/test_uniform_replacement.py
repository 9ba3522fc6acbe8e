"""Uniform sampling with replacement: the weighted draw with all weights 1, from epoch zero."""

from __future__ import annotations

import pytest
import torch

from conftest import RECORD_DRAWS, run_training
from draw_recorder import load_draws
from run_outputs import tensorboard_scalars
from sample_importance.sampler.index_sampler import IndexSampler


def test_uniform_replacement_draws_with_replacement_from_epoch_zero(tmp_path):
    summary = run_training(
        ["sampler=uniform_replacement", "loss=focal", "schedule.max_epochs=1", RECORD_DRAWS], tmp_path / "run"
    )
    drawn = load_draws(tmp_path / "run")[0]
    n = summary["num_train"]
    sampler = IndexSampler(n, seed=summary["seed"])
    sampler.set_weights(torch.ones(n, dtype=torch.float64))
    assert torch.equal(drawn, sampler.global_sequence(0)[: len(drawn)])  # the weighted draw, all weights 1
    assert len(drawn.unique()) < len(drawn)  # repeats within the first epoch
    assert summary["loss"] == "focal"
    scalars = tensorboard_scalars(tmp_path / "run")
    assert scalars["sampling/effective_sample_fraction"][0][1] == pytest.approx(1.0)
