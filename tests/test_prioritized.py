"""Prioritized sampling: proportional and rank priorities from the losses seen, draws that follow them."""

from __future__ import annotations

import pytest
import torch
from scipy.stats import chisquare

from fake_trainer import fake_trainer, loss_outputs
from sample_importance.errors import ConfigError
from sample_importance.sampler.prioritized import (
    PrioritizedSampling,
    proportional_priorities,
    rank_priorities,
)


# -- prioritized: priorities from the losses seen, draws that follow them ------------------------
def test_priorities_proportional_and_rank_with_unseen_samples():
    loss = torch.tensor([0.5, -2.0, 0.0, 1.0, 9.0], dtype=torch.float64)
    seen = torch.tensor([True, True, True, True, False])
    proportional = proportional_priorities(loss, seen, 1e-3)
    assert proportional.tolist() == pytest.approx([0.501, 2.001, 0.001, 1.001, 2.001])  # unseen: the max
    rank = rank_priorities(loss, seen)
    # |loss| order among the seen: 2.0 (rank 2), 1.0 (3), 0.5 (4), 0.0 (5); the unseen sample is rank 1
    assert rank.tolist() == pytest.approx([1 / 4, 1 / 2, 1 / 5, 1 / 3, 1.0])
    assert torch.all(proportional_priorities(loss, torch.zeros(5, dtype=torch.bool), 1e-3) == 1.0)


@pytest.mark.parametrize("kind, alpha", [("proportional", 0.6), ("rank", 0.7)])
def test_prioritized_draws_follow_the_priorities_of_the_losses_seen(kind, alpha):
    num_samples = 12
    strategy = PrioritizedSampling(kind=kind, alpha=alpha, epsilon=0.01)
    trainer = fake_trainer(num_samples, batch_size=4)
    strategy.on_fit_start(trainer, None)
    sampler = trainer.datamodule.sampler
    assert sampler.draw_chunk_size == 4 and torch.all(sampler.weights == sampler.weights[0])  # all unseen
    losses = torch.linspace(0.05, 3.0, num_samples)
    seen = list(range(num_samples - 2))  # two samples never seen: they keep the top priority
    for batch, start in enumerate(range(0, len(seen), 4)):
        index = seen[start : start + 4]
        strategy.on_train_batch_end(trainer, None, loss_outputs(index, losses[index].tolist()), None, batch)
    mask = torch.zeros(num_samples, dtype=torch.bool)
    mask[seen] = True
    if kind == "proportional":
        priority = proportional_priorities(losses.double(), mask, 0.01)
    else:
        priority = rank_priorities(losses.double(), mask)
    expected = priority.pow(alpha) / priority.pow(alpha).sum()
    torch.testing.assert_close(sampler.weights / sampler.weights.sum(), expected)
    draws = torch.cat([sampler.global_sequence(epoch) for epoch in range(3000)])
    counts = torch.bincount(draws, minlength=num_samples)
    assert chisquare(counts.numpy(), (expected * len(draws)).numpy()).pvalue > 1e-3
    uniform = torch.full((num_samples,), len(draws) / num_samples)
    assert chisquare(counts.numpy(), uniform.numpy()).pvalue < 1e-6  # and they are not uniform


def test_prioritized_rejects_bad_settings():
    with pytest.raises(ConfigError, match="sampler.kind"):
        PrioritizedSampling(kind="sum_tree")
    with pytest.raises(ConfigError, match="sampler.epsilon"):
        PrioritizedSampling(kind="proportional", epsilon=0.0)
    with pytest.raises(ConfigError, match="sampler.alpha"):
        PrioritizedSampling(alpha=-1)
