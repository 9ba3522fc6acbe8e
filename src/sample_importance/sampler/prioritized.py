"""SGD-Prop and SGD-Rank: prioritized sampling by the last seen loss (Schaul et al. 2015).

P(i) = p_i^alpha / sum_k p_k^alpha, with replacement, N draws per epoch, where p_i is
- proportional (SGD-Prop): p_i = |loss_i| + epsilon,
- rank-based (SGD-Rank): p_i = 1 / rank(i), rank 1 being the largest |loss_i|,

and loss_i is sample i's loss in the training forward pass that last drew it ("priorities
from per-sample losses as samples are seen"). A sample not yet seen has the largest priority
(Schaul et al. put new transitions at the maximal priority): at the start every sample is
unseen, so the first draws are uniform with replacement. For the rank-based variant the unseen
samples share rank 1 and the seen ones follow (competition ranking, ties by index).

Defaults are Schaul et al.'s: alpha 0.6 (proportional), 0.7 (rank-based); epsilon 1e-6 is the
usual choice in implementations (the paper only asks for "a small positive constant"). There
is no importance-sampling correction of the loss (Schaul's beta), as in the paper's comparison.
The weights are recomputed after every batch by default (``refresh_every_n_batches=1``): the
sampler then draws batch by batch from the current priorities, with the lag described in
``updating.py``. The rank-based variant sorts all N losses at every refresh (O(N log N)); for
very large N refresh less often.
"""

from __future__ import annotations

import torch

from sample_importance.config_checks import check_finite_number
from sample_importance.errors import ConfigError
from sample_importance.sampler.updating import LatestValues, UpdatingSampling, loss_of

KINDS = ("proportional", "rank")


def proportional_priorities(loss: torch.Tensor, seen: torch.Tensor, epsilon: float) -> torch.Tensor:
    """p_i = |loss_i| + epsilon; unseen samples get the largest seen priority (1 if none seen)."""
    priority = loss.double().abs() + epsilon
    priority[~seen] = priority[seen].max() if seen.any() else 1.0
    return priority


def rank_priorities(loss: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """p_i = 1 / rank(i) by descending |loss|; unseen samples share rank 1, the seen follow them."""
    priority = torch.ones(len(loss), dtype=torch.float64)
    members = seen.nonzero().flatten()
    order = torch.argsort(-loss.double()[members].abs(), stable=True)
    ranks = torch.empty(len(members), dtype=torch.float64)
    ranks[order] = torch.arange(1, len(members) + 1, dtype=torch.float64) + int((~seen).sum())
    priority[members] = 1.0 / ranks
    return priority


class PrioritizedSampling(UpdatingSampling):
    """Prioritized sampling by the last seen per-sample loss.

    Args:
        kind: ``proportional`` (SGD-Prop) or ``rank`` (SGD-Rank).
        alpha: the priority exponent (0 = uniform with replacement).
        epsilon: added to |loss| in the proportional variant (unused by the rank variant).
        burn_in_epochs: uniform epochs first (0, as in Schaul et al.: prioritized from the start).
        refresh_every_n_batches: n > 0 = recompute the priorities after every n-th batch, 0 = at
            every epoch end.
    """

    store_class = LatestValues

    def __init__(
        self,
        kind: str = "proportional",
        alpha: float = 0.6,
        epsilon: float = 1e-6,
        burn_in_epochs: int = 0,
        refresh_every_n_batches: int = 1,
    ) -> None:
        super().__init__(burn_in_epochs, refresh_every_n_batches)
        if kind not in KINDS:
            raise ConfigError(f"sampler.kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if check_finite_number("sampler.alpha", alpha) < 0:
            raise ConfigError(f"sampler.alpha must be >= 0, got {alpha}")
        if check_finite_number("sampler.epsilon", epsilon) <= 0 and kind == "proportional":
            raise ConfigError(
                f"sampler.epsilon must be > 0 (it keeps zero-loss samples drawable), got {epsilon}"
            )
        self.kind = kind
        self.name = f"prioritized_{kind}"
        self.alpha = float(alpha)
        self.epsilon = float(epsilon)

    def hparams(self) -> dict:
        settings = {**super().hparams(), "kind": self.kind, "alpha": self.alpha}
        if self.kind == "proportional":
            settings["epsilon"] = self.epsilon
        return settings

    def batch_values(self, outputs: dict) -> torch.Tensor:
        return loss_of(outputs)

    def priorities(self) -> torch.Tensor:
        if self.kind == "proportional":
            return proportional_priorities(self.store.value, self.store.seen, self.epsilon)
        return rank_priorities(self.store.value, self.store.seen)

    def compute_weights(self) -> torch.Tensor:
        return self.priorities().pow(self.alpha)

    def summary(self) -> dict:
        seen = int(self.store.seen.sum()) if self.store is not None else 0
        return {**super().summary(), "samples_seen": seen}
