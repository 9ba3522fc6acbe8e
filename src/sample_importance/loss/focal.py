"""Focal loss (Lin et al. 2017), the paper's Eq. (5) baseline.

L_i = -alpha_{y_i} (1 - p_i)^gamma log p_i, with p_i = softmax(logits_i)_{y_i}: the same
(1 - p)^gamma the method uses as a sampling weight, here as a loss factor recomputed on every
minibatch. gamma = 0 and no alpha is plain cross-entropy.
"""

from __future__ import annotations

import torch
from torch import nn

from sample_importance.config_checks import check_finite_number
from sample_importance.errors import ConfigError

MIN_HARDNESS = 1e-30


class FocalLoss(nn.Module):
    """Per-sample focal loss (no reduction).

    Args:
        gamma: focusing parameter (the paper uses 2, Appendix A.1.5).
        alpha: per-class weights alpha_c (one per class), or None for alpha_c = 1.
    """

    def __init__(self, gamma: float = 2.0, alpha: list[float] | None = None) -> None:
        super().__init__()
        self.gamma = check_finite_number("loss.gamma", gamma)
        if alpha is not None:
            alpha = [check_finite_number("loss.alpha[]", a) for a in alpha]
            if not alpha or min(alpha) < 0:
                raise ConfigError(f"loss.alpha must be null or a non-empty list of numbers >= 0, got {alpha}")
            self.register_buffer("alpha", torch.tensor(alpha, dtype=torch.float32), persistent=False)
        else:
            self.alpha = None

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = logits.to(
            torch.promote_types(logits.dtype, torch.float32)
        )  # at least float32 (bf16/fp16 autocast)
        log_p = torch.log_softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1)
        # 1 - p as -expm1(log p) stays accurate when p is close to 1; the floor keeps the gradient
        # of (1 - p)^gamma finite (zero) at p = 1 when gamma < 1
        hardness = (-torch.expm1(log_p)).clamp(min=MIN_HARDNESS)
        loss = -hardness.pow(self.gamma) * log_p
        if self.alpha is not None:
            if len(self.alpha) != logits.shape[1]:
                raise ConfigError(
                    f"loss.alpha has {len(self.alpha)} entries, the model has {logits.shape[1]} classes"
                )
            loss = loss * self.alpha.to(loss.device)[targets]
        return loss
