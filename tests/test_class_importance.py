"""SGD-SCI (Fig. 5): classes drawn by class weight, samples uniformly within a class."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import chisquare

from conftest import FEW_BATCHES, run_training
from independent import digits_p_true_from_checkpoint
from run_outputs import sampler_weights_in, tensorboard_scalars
from sample_importance.sampler.class_importance import class_level_weights
from sample_importance.sampler.index_sampler import IndexSampler


def test_class_importance_draws_classes_by_class_weight_and_samples_uniformly_within():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    weights = torch.cat(
        [torch.full((50,), 0.1), torch.linspace(0.5, 2.0, 30), torch.full((20,), 3.0)]
    ).double()
    per_sample, class_weight = class_level_weights(weights, labels, 3)
    np.testing.assert_allclose(
        class_weight.numpy(), [5 / (5 + 37.5 + 60), 37.5 / (5 + 37.5 + 60), 60 / (5 + 37.5 + 60)]
    )
    sampler = IndexSampler(len(labels), seed=0)
    sampler.set_weights(per_sample)
    draws = torch.cat([sampler.global_sequence(epoch) for epoch in range(2000)])
    class_counts = torch.bincount(labels[draws], minlength=3)
    assert chisquare(class_counts.numpy(), (class_weight * len(draws)).numpy()).pvalue > 1e-3
    for c in range(3):
        members = torch.bincount(draws, minlength=len(labels))[labels == c]
        assert chisquare(members.numpy()).pvalue > 1e-3  # uniform within the class


def test_class_importance_run_uses_the_methods_class_shares(tmp_path):
    run = tmp_path / "run"
    summary = run_training(
        ["sampler=class_importance", "sampler.burn_in_epochs=1", "schedule.max_epochs=2", FEW_BATCHES], run
    )
    p_true, labels = digits_p_true_from_checkpoint(run / "checkpoints" / "burn_in_end_epoch1.ckpt")
    method = (1 - p_true).clamp(min=0).pow(0.5)
    shares = torch.zeros(10, dtype=torch.float64).index_add_(0, labels, method)
    shares /= shares.sum()
    np.testing.assert_allclose(summary["sampler_settings"]["class_weights"], shares.numpy(), rtol=1e-4)
    expected = (shares / torch.bincount(labels, minlength=10))[labels]
    np.testing.assert_allclose(
        sampler_weights_in(run / "checkpoints" / "last.ckpt").numpy(), expected.numpy(), rtol=1e-4
    )
    assert "sampling/effective_sample_fraction" in tensorboard_scalars(run)
