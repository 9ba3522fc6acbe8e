"""Cross-entropy, the loss of the paper's method and of SGD-Scan."""

from __future__ import annotations

import torch
from torch import nn


class CrossEntropy(nn.Module):
    """Per-sample cross-entropy (no reduction: the module averages, samplers read the per-sample values)."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits, targets, reduction="none")
