"""Focal loss (Eq. 5): against a hand computation, finite gradients, alpha's checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sample_importance.errors import UserError
from sample_importance.loss.focal import FocalLoss


def test_focal_loss_matches_a_hand_computation():
    logits = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3], [-3.0, 4.0, 1.0], [9.0, -9.0, 0.0]])
    targets = np.array([0, 2, 0, 0])
    alpha = np.array([0.25, 1.0, 2.0])
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    p = probabilities[np.arange(4), targets]
    for gamma in (0.0, 0.5, 2.0):
        expected = -alpha[targets] * (1 - p) ** gamma * np.log(p)
        got = FocalLoss(gamma=gamma, alpha=alpha.tolist())(torch.tensor(logits), torch.tensor(targets))
        np.testing.assert_allclose(got.double().numpy(), expected, rtol=1e-5)
    plain = FocalLoss(gamma=0.0)(torch.tensor(logits), torch.tensor(targets))
    cross_entropy = torch.nn.functional.cross_entropy(
        torch.tensor(logits), torch.tensor(targets), reduction="none"
    )
    np.testing.assert_allclose(plain.double().numpy(), cross_entropy.numpy(), rtol=1e-6)


def test_focal_loss_gradient_is_finite_for_a_learned_sample_and_alpha_length_is_checked():
    logits = torch.tensor([[60.0, 0.0, 0.0]], requires_grad=True)  # p_true = 1 in float32
    for gamma in (0.5, 2.0):
        FocalLoss(gamma=gamma)(logits, torch.tensor([0])).sum().backward()
        assert torch.isfinite(logits.grad).all()
    with pytest.raises(UserError, match="loss.alpha has 2 entries"):
        FocalLoss(alpha=[1.0, 2.0])(torch.zeros(1, 3), torch.tensor([0]))
    with pytest.raises(UserError, match="loss.alpha"):
        FocalLoss(alpha=[1.0, -1.0])
