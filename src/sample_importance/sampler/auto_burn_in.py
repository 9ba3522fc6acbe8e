"""``burn_in_epochs=auto``: switch once the weights stop changing.

The weights are recomputed after every burn-in epoch (and once before training, E = 0); the
switch happens at the first epoch E whose weights have a Spearman rank correlation with epoch
E-1's of at least ``threshold`` (the paper's Figure 9 measures the same correlation between
consecutive E), or at ``max_epochs`` if none does.
"""

from __future__ import annotations

import math

import torch
from scipy.stats import spearmanr


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation with average ranks for ties; 1 for identical vectors, NaN if one is constant."""
    if torch.equal(a, b):
        return 1.0
    rho = spearmanr(a.double().numpy(), b.double().numpy()).statistic
    return float(rho)


class AutoBurnIn:
    """Tracks consecutive weights during burn-in and says when to switch."""

    def __init__(self, threshold: float, max_epochs: int) -> None:
        self.threshold = float(threshold)
        self.max_epochs = int(max_epochs)
        self.previous: torch.Tensor | None = None
        self.history: list[tuple[int, float]] = []  # (epochs done, rho with the epoch before)

    @property
    def started(self) -> bool:
        return self.previous is not None

    def observe(self, epochs_done: int, weights: torch.Tensor) -> float | None:
        """Record epoch ``epochs_done``'s weights; the correlation with the last ones (None the first time)."""
        weights = weights.detach().double().cpu().clone()
        rho = None
        if self.previous is not None:
            rho = spearman(self.previous, weights)
            self.history.append((int(epochs_done), rho))
        self.previous = weights
        return rho

    def should_switch(self, epochs_done: int) -> bool:
        if epochs_done >= self.max_epochs:
            return True
        if not self.history or self.history[-1][0] != epochs_done:
            return False
        rho = self.history[-1][1]
        return not math.isnan(rho) and rho >= self.threshold

    def state_dict(self) -> dict:
        return {"previous": self.previous, "history": [list(item) for item in self.history]}

    def load_state_dict(self, state: dict) -> None:
        self.previous = state.get("previous")
        self.history = [(int(e), float(r)) for e, r in state.get("history", [])]
