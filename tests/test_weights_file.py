"""Weights read from files (App. B, E.3, E.4): one file or the average of several, wrong lengths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import FEW_BATCHES, RECORD_DRAWS, run_training
from draw_recorder import load_draws
from run_outputs import sampler_weights_in
from sample_importance.dataset.digits import DigitsSource
from sample_importance.errors import UserError


def test_weights_file_reproduces_the_files_weights_and_averages_several(tmp_path):
    n = len(DigitsSource().load().train_labels)
    generator = torch.Generator().manual_seed(0)
    first = torch.rand(n, generator=generator, dtype=torch.float64)
    first[: n // 2] = 0.0  # half the samples may never be drawn
    second = torch.rand(n, generator=generator, dtype=torch.float64)
    second[: n // 2] = 0.0
    np.save(tmp_path / "first.npy", first.numpy())
    torch.save({"weight": second, "label": DigitsSource().load().train_labels}, tmp_path / "second.pt")
    run = tmp_path / "run"
    run_training(
        [
            f"sampler.weights_file=[{tmp_path / 'first.npy'},{tmp_path / 'second.pt'}]",
            "sampler.weights_order=index",
            "sampler.burn_in_epochs=0",
            "schedule.max_epochs=1",
            RECORD_DRAWS,
        ],
        run,
    )
    assert torch.equal(sampler_weights_in(run / "checkpoints" / "last.ckpt"), (first + second) / 2)
    assert (load_draws(run)[0] >= n // 2).all()  # zero-weight samples are never drawn
    single = tmp_path / "single"
    summary = run_training(
        [
            f"sampler.weights_file={tmp_path / 'first.npy'}",
            "sampler.weights_order=index",
            "sampler.burn_in_epochs=1",
            "schedule.max_epochs=2",
            FEW_BATCHES,
        ],
        single,
    )
    assert torch.equal(sampler_weights_in(single / "checkpoints" / "last.ckpt"), first)
    assert torch.equal(torch.load(single / "sample_weights.pt", weights_only=True)["weight"], first)
    assert summary["sampler_settings"]["switched_after_epoch"] == 1


def test_a_weights_file_of_the_wrong_length_is_a_one_line_error(tmp_path):
    np.save(tmp_path / "short.npy", np.ones(10))
    with pytest.raises(UserError) as error:
        run_training(
            [
                f"sampler.weights_file={tmp_path / 'short.npy'}",
                "sampler.burn_in_epochs=0",
                "schedule.max_epochs=1",
            ],
            tmp_path / "run",
        )
    assert "has 10 values, the training set has" in str(error.value) and "\n" not in str(error.value)
