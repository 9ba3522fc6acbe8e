"""Samplers whose weights follow the training forward passes: SPV, prioritized, online importance.

Per-sample values (p_true, the loss) are read from every batch's ``training_step`` outputs in
``on_train_batch_end`` (no second forward pass) and gathered across ranks right away, so every
rank holds the same per-sample state after every batch: the weights computed from it, and so
the global draw, are the same on every rank, and a checkpoint written by rank 0 (mid-epoch too)
holds everything. The gather is one small collective per batch (index and value packed in one
float64 tensor); in one process it is a copy to the CPU.

When the weights are recomputed (``refresh_every_n_batches``):
- 0: at the end of every epoch; the next epoch is drawn from them.
- n > 0: after every n-th batch. The sampler then draws one global batch at a time
  (``IndexSampler.draw_chunk_size``), each from the weights current when it is drawn. With
  ``num_workers=0`` batch t is drawn when the loop asks for it, after batch t - 1 refreshed the
  weights (Lightning does not prefetch a loader that has a length; measured in
  tests/test_baselines_b_training.py). With ``num_workers=w`` the DataLoader draws
  ``prefetch_factor * w`` batches ahead, so the weights lag that many batches more. The lag is
  the same on every rank (same loader, same batch counts), so the ranks still draw the same
  global sequence.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from sample_importance.config_checks import check_burn_in, check_int_at_least
from sample_importance.errors import UserError
from sample_importance.model.classifier import gather_from_ranks
from sample_importance.sampler.base import SamplerCallback
from sample_importance.sampler.method import p_true


# -- per-sample values of a batch -----------------------------------------------------------
def p_true_of(outputs: dict) -> torch.Tensor:
    """Softmax probability of the true class, from the training forward pass's logits."""
    return p_true(outputs["logits"], outputs["target"])


def loss_of(outputs: dict) -> torch.Tensor:
    """The per-sample training loss (before any ``sample_loss_weight``)."""
    return outputs["sample_loss"].float()


def gather_batch(index: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """This batch's (index, value) pairs from every rank, in rank order, on the CPU (collective).

    Indices travel as float64, exact below 2^53.
    """
    packed = torch.stack([index.to(values.device, torch.float64), values.double()], dim=1)
    (packed,) = gather_from_ranks(packed)
    packed = packed.cpu()
    return packed[:, 0].long(), packed[:, 1]


def last_per_index(index: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One value per distinct index: the last one (a sample can appear twice in a gathered batch).

    Assigning with repeated indices is unordered in torch; this keeps the result deterministic,
    hence identical on every rank.
    """
    unique, inverse = torch.unique(index, return_inverse=True)
    position = torch.arange(len(index))
    last = torch.full((len(unique),), -1, dtype=torch.long).scatter_reduce_(0, inverse, position, "amax")
    return unique, values[last]


# -- per-sample stores (state that goes into checkpoints) -------------------------------------
class LatestValues:
    """The last value seen for every sample, and which samples have been seen."""

    def __init__(self, num_samples: int) -> None:
        self.value = torch.zeros(num_samples, dtype=torch.float64)
        self.seen = torch.zeros(num_samples, dtype=torch.bool)

    def __len__(self) -> int:
        return len(self.value)

    def update(self, index: torch.Tensor, values: torch.Tensor) -> None:
        index, values = last_per_index(index, values)
        self.value[index] = values.double()
        self.seen[index] = True

    def state_dict(self) -> dict:
        return {"value": self.value.clone(), "seen": self.seen.clone()}

    @classmethod
    def from_state(cls, state: dict) -> LatestValues:
        store = cls(len(state["value"]))
        store.value, store.seen = state["value"].double().clone(), state["seen"].bool().clone()
        return store


class RunningMoments:
    """Count, sum and sum of squares of every value seen per sample: the history's variance.

    Holds a full history's variance in three numbers per sample. Values are probabilities in
    [0, 1], so float64 sums lose nothing that matters (error ~1e-13 on the variance).
    """

    def __init__(self, num_samples: int) -> None:
        self.count = torch.zeros(num_samples, dtype=torch.int64)
        self.total = torch.zeros(num_samples, dtype=torch.float64)
        self.total_squares = torch.zeros(num_samples, dtype=torch.float64)

    def __len__(self) -> int:
        return len(self.count)

    def update(self, index: torch.Tensor, values: torch.Tensor) -> None:
        values = values.double()
        self.count.index_add_(0, index, torch.ones_like(index))
        self.total.index_add_(0, index, values)
        self.total_squares.index_add_(0, index, values * values)

    def variance(self) -> torch.Tensor:
        """The unbiased sample variance of each history; NaN where fewer than 2 values were seen."""
        count = self.count.double()
        variance = (self.total_squares - self.total * self.total / count.clamp(min=1)) / (count - 1).clamp(
            min=1
        )
        variance = variance.clamp(min=0.0)
        return torch.where(self.count >= 2, variance, torch.full_like(variance, float("nan")))

    def state_dict(self) -> dict:
        return {
            "count": self.count.clone(),
            "total": self.total.clone(),
            "total_squares": self.total_squares.clone(),
        }

    @classmethod
    def from_state(cls, state: dict) -> RunningMoments:
        store = cls(len(state["count"]))
        store.count = state["count"].long().clone()
        store.total = state["total"].double().clone()
        store.total_squares = state["total_squares"].double().clone()
        return store


# -- the shared callback ----------------------------------------------------------------------
class UpdatingSampling(SamplerCallback):
    """Uniform for ``burn_in_epochs``, then draws by weights recomputed from the values seen.

    Subclasses define ``new_store(num_samples)``, ``batch_values(outputs)``,
    ``compute_weights()`` and may override ``start_weighting`` (what happens at the end of the
    burn-in). Values are observed from the first batch on, burn-in included.

    Args:
        burn_in_epochs: uniform epochs (without replacement) before the first weights; 0 starts
            weighted from the first batch.
        refresh_every_n_batches: 0 recomputes the weights at every epoch end, n > 0 after every
            n-th batch (see the module docstring for the lag).
    """

    name = "updating"
    store_class: type = LatestValues

    def __init__(self, burn_in_epochs: int = 0, refresh_every_n_batches: int = 0) -> None:
        self.burn_in_epochs = check_int_at_least("sampler.burn_in_epochs", burn_in_epochs, 0)
        self.refresh_every_n_batches = check_int_at_least(
            "sampler.refresh_every_n_batches", refresh_every_n_batches, 0
        )
        self.store = None
        self.weighting = False  # past the burn-in: the sampler draws by our weights
        self.refreshes = 0

    # -- what a subclass defines ----------------------------------------------------------
    def batch_values(self, outputs: dict) -> torch.Tensor:
        raise NotImplementedError

    def compute_weights(self) -> torch.Tensor:
        raise NotImplementedError

    def start_weighting(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.weighting = True
        self.refresh(trainer)

    # -- the SamplerCallback contract --------------------------------------------------------
    def hparams(self) -> dict:
        return {
            "burn_in_epochs": self.burn_in_epochs,
            "refresh_every_n_batches": self.refresh_every_n_batches,
        }

    def validate(self, max_epochs: int) -> None:
        check_burn_in("sampler.burn_in_epochs", self.burn_in_epochs, max_epochs)

    def summary(self) -> dict:
        return {**self.hparams(), "weight_refreshes": self.refreshes}

    # -- hooks ----------------------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.validate(trainer.max_epochs)
        datamodule = trainer.datamodule
        if self.store is None:
            self.store = self.store_class(datamodule.num_train)
        elif len(self.store) != datamodule.num_train:
            raise UserError(
                f"the checkpoint's sampler={self.name} state covers {len(self.store)} samples, "
                "this training set "
                f"has {datamodule.num_train}: resume with the same dataset config"
            )
        if self.refresh_every_n_batches:
            datamodule.train_sampler().draw_chunk_size = (
                datamodule.per_device_batch_size() * trainer.world_size
            )
        if self.burn_in_epochs == 0 and not self.weighting:
            self.start_weighting(trainer, pl_module)  # before the first epoch's iterator is made

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        index, values = gather_batch(outputs["index"], self.batch_values(outputs).detach())
        self.store.update(index, values)
        if (
            self.weighting
            and self.refresh_every_n_batches
            and (batch_idx + 1) % self.refresh_every_n_batches == 0
        ):
            self.refresh(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.weighting:
            if trainer.current_epoch + 1 == self.burn_in_epochs:
                self.start_weighting(trainer, pl_module)
        elif not self.refresh_every_n_batches:
            self.refresh(trainer)

    def refresh(self, trainer: pl.Trainer) -> None:
        trainer.datamodule.train_sampler().set_weights(self.compute_weights())
        self.refreshes += 1

    # -- checkpoint ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "weighting": self.weighting,
            "refreshes": self.refreshes,
            "store": None if self.store is None else self.store.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.weighting = bool(state["weighting"])
        self.refreshes = int(state.get("refreshes", 0))
        self.store = None if state["store"] is None else self.store_class.from_state(state["store"])
