"""``burn_in_epochs=auto``: switch once the weights stop changing.

The weights are recomputed after every burn-in epoch (and once before training, E = 0); the
switch happens at the first epoch E whose weights have a Spearman rank correlation with epoch
E-1's of at least ``threshold`` (the paper's Figure 9 measures the same correlation between
consecutive E), or at ``max_epochs`` if none does.
"""

from __future__ import annotations

import math

import torch

from sample_importance.config_checks import check_finite_number, check_int_at_least
from sample_importance.errors import ConfigError
from sample_importance.report.metrics import spearman


class AutoBurnIn:
    """Tracks consecutive weights during burn-in and says when to switch.

    Args:
        threshold: ``sampler.auto_spearman_threshold``, the rho in [-1, 1] that ends the burn-in.
        max_epochs: ``sampler.auto_max_burn_in_epochs``, the latest E (``validate`` caps it at the
            run's max_epochs - 1).
    """

    def __init__(self, threshold: float, max_epochs: int) -> None:
        self.threshold = check_finite_number("sampler.auto_spearman_threshold", threshold)
        if not -1 <= self.threshold <= 1:
            raise ConfigError(f"sampler.auto_spearman_threshold must be in [-1, 1], got {threshold}")
        self.max_burn_in = check_int_at_least("sampler.auto_max_burn_in_epochs", max_epochs, 1)
        self.max_epochs = self.max_burn_in  # the latest E in this run
        self.previous: torch.Tensor | None = None
        self.history: list[tuple[int, float]] = []  # (epochs done, rho with the epoch before)

    def hparams(self) -> dict:
        return {"auto_spearman_threshold": self.threshold, "auto_max_burn_in_epochs": self.max_burn_in}

    def validate(self, max_epochs: int) -> None:
        if max_epochs < 2:
            raise ConfigError(f"sampler.burn_in_epochs=auto needs schedule.max_epochs >= 2, got {max_epochs}")
        self.max_epochs = min(self.max_burn_in, max_epochs - 1)

    @property
    def started(self) -> bool:
        return self.previous is not None

    def observe(self, epochs_done: int, weights: torch.Tensor) -> float | None:
        """Record epoch ``epochs_done``'s weights; the correlation with the last (None the first time)."""
        weights = weights.detach().double().cpu().clone()
        rho = None
        if self.previous is not None:
            rho = spearman(self.previous.numpy(), weights.numpy())
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
