"""SGD-SPV (Active Bias, Chang et al. 2017): draw samples whose predictions vary the most.

The paper's Eq. (6):

    P(i) ∝ sqrt(var_i + var_i^2 / (|H_i| - 1)) + epsilon

where var_i is the unbiased variance of H_i, the history of the probabilities of the true
class that the model gave sample i in the training forward passes so far (augmentation and
train mode as trained), and epsilon keeps low-variance samples in play. Draws are with
replacement, N per epoch, after ``burn_in_epochs`` uniform epochs (the paper: 10, epsilon 0.2).

Choices (not fixed by the paper):
- The history is every value seen since the first batch, burn-in included, kept as running
  count / sum / sum of squares per sample (exact variance, 3 numbers per sample).
- Weights are recomputed at every epoch end by default (``refresh_every_n_batches=0``);
  ``refresh_every_n_batches=1`` follows Eq. (6)'s "until iteration t-1" batch by batch.
- A sample with fewer than 2 values in its history (never drawn, or drawn once: the loader
  drops the last partial batch, and draws with replacement miss samples) has no variance; it
  gets the largest weight of the others, like an unseen sample in prioritized replay.
"""

from __future__ import annotations

import torch

from sample_importance.config_checks import check_finite_number
from sample_importance.errors import ConfigError
from sample_importance.sampler.updating import RunningMoments, UpdatingSampling, p_true_of


def spv_weights(variance: torch.Tensor, count: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Eq. (6) in float64; ``variance`` NaN (or ``count`` < 2) marks samples without a variance."""
    variance, count = variance.double(), count.double()
    known = (count >= 2) & ~torch.isnan(variance)
    weights = torch.empty_like(variance)
    v = variance[known]
    weights[known] = torch.sqrt(v + v * v / (count[known] - 1)) + epsilon
    weights[~known] = weights[known].max() if known.any() else 1.0
    if not weights.sum() > 0:  # epsilon 0 and no sample varies yet: no preference
        weights.fill_(1.0)
    return weights


class SpvSampling(UpdatingSampling):
    """Active Bias sampling by prediction variance, Eq. (6).

    Args:
        burn_in_epochs: uniform epochs before the first weights (the paper: 10).
        epsilon: added to every weight (the paper: 0.2).
        refresh_every_n_batches: 0 = recompute the weights at every epoch end (default), n = after
            every n-th batch.
    """

    name = "spv"
    store_class = RunningMoments

    def __init__(
        self, burn_in_epochs: int = 10, epsilon: float = 0.2, refresh_every_n_batches: int = 0
    ) -> None:
        super().__init__(burn_in_epochs, refresh_every_n_batches)
        if check_finite_number("sampler.epsilon", epsilon) < 0:
            raise ConfigError(f"sampler.epsilon must be >= 0, got {epsilon}")
        self.epsilon = float(epsilon)

    def hparams(self) -> dict:
        return {**super().hparams(), "epsilon": self.epsilon}

    def batch_values(self, outputs: dict) -> torch.Tensor:
        return p_true_of(outputs)

    def compute_weights(self) -> torch.Tensor:
        return spv_weights(self.store.variance(), self.store.count, self.epsilon)

    def summary(self) -> dict:
        count = self.store.count if self.store is not None else torch.zeros(1)
        return {
            **super().summary(),
            "mean_history_length": float(count.double().mean()),
            "samples_without_variance": int((count < 2).sum()),
        }
