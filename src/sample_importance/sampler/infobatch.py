"""InfoBatch (Qin et al., ICLR 2024): prune well-learned samples at random, rescale the rest.

Every epoch e < delta * max_epochs: among the samples whose last seen training loss is below
the mean of the last seen losses, a random fraction r is left out of the epoch, and the loss of
the kept ones is multiplied by 1 / (1 - r) (the ``sample_loss_weight`` hook), so the expected
gradient matches the full epoch. The epoch is a permutation of the kept samples (no
replacement), so it is shorter: that is the saving. The last epochs (e >= delta * max_epochs,
defaults r = 0.5, delta = 0.875) use the full data without rescaling ("annealing").

Choices and how the pieces fit:
- Losses are the per-sample training losses of the forward passes (no extra pass), gathered
  across ranks every batch (``updating.py``); a sample never seen yet (epoch 0, or dropped by
  the loader's last partial batch) is never pruned and does not count in the mean. Epoch 0 is
  therefore full.
- Which samples are pruned is drawn from a generator seeded by (seed, epoch): every rank
  prunes the same ones and the sampler (``IndexSampler.set_subset``) draws the same global
  permutation of the kept samples.
- Epoch length: Lightning caches the loader's length and a sampler that yields fewer indices
  only ends the epoch early, skipping the epoch-end validation (measured with Lightning 2.6). This
  callback therefore sets ``trainer.reload_dataloaders_every_n_epochs = 1``: each epoch's
  loader is rebuilt around the same sampler and has the pruned epoch's length.
- Learning rate: the schedule stays a function of epochs. Its milestones were set in steps of
  a full epoch (T); a pruned epoch of L < T steps advances the step-based scheduler by T / L
  per step (rounded so that it has advanced exactly T at the epoch's end), so the learning rate
  at every epoch boundary is that of the full-data run.
- Steps: ``summary()`` reports the steps each epoch actually ran (``trainer.global_step`` is
  their sum), the full-data count (epochs x T) and ``saved_iterations``, the difference; the
  same go to TensorBoard under ``infobatch/``.
"""

from __future__ import annotations

import logging

import numpy as np
import pytorch_lightning as pl
import torch

from sample_importance.config_checks import check_finite_number
from sample_importance.errors import ConfigError, UserError
from sample_importance.sampler import diagnostics
from sample_importance.sampler.base import SamplerCallback
from sample_importance.sampler.updating import LatestValues, gather_batch, loss_of

log = logging.getLogger(__name__)

# Keeps the pruning generator apart from the sampler's draw generators (seeded by (seed, epoch, chunk)).
PRUNING_STREAM = 1 << 40


def pruning_generator(seed: int, epoch: int) -> torch.Generator:
    state = np.random.SeedSequence([seed, epoch, PRUNING_STREAM]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def select_kept(
    loss: torch.Tensor,
    seen: torch.Tensor,
    prune_fraction: float,
    generator: torch.Generator,
    min_kept: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """One InfoBatch epoch: (kept indices, ascending; mask of the kept low-loss samples; the mean).

    The low-loss samples are the seen ones with loss below the mean loss of the seen samples;
    round(prune_fraction x their number) of them, drawn without replacement, are pruned (fewer if
    fewer than ``min_kept`` samples would remain).
    """
    num_samples = len(loss)
    rescaled = torch.zeros(num_samples, dtype=torch.bool)
    if not seen.any():
        return torch.arange(num_samples), rescaled, float("nan")
    threshold = float(loss[seen].double().mean())
    low = (seen & (loss.double() < threshold)).nonzero().flatten()
    num_pruned = min(round(prune_fraction * len(low)), max(num_samples - min_kept, 0))
    pruned = low[torch.randperm(len(low), generator=generator)[:num_pruned]]
    keep = torch.ones(num_samples, dtype=torch.bool)
    keep[pruned] = False
    rescaled[low] = True
    rescaled[pruned] = False
    return keep.nonzero().flatten(), rescaled, threshold


class InfoBatch(SamplerCallback):
    """Random pruning of low-loss samples with loss rescaling, full data in the last epochs.

    Args:
        prune_fraction: r, the fraction of the below-mean-loss samples left out of each epoch.
        pruning_epochs_fraction: delta, epochs e < delta x max_epochs are pruned, the rest full.
    """

    name = "infobatch"

    def __init__(self, prune_fraction: float = 0.5, pruning_epochs_fraction: float = 0.875) -> None:
        prune_fraction = check_finite_number("sampler.prune_fraction", prune_fraction)
        if not 0 <= prune_fraction < 1:
            raise ConfigError(f"sampler.prune_fraction must be in [0, 1), got {prune_fraction}")
        delta = check_finite_number("sampler.pruning_epochs_fraction", pruning_epochs_fraction)
        if not 0 <= delta <= 1:
            raise ConfigError(
                f"sampler.pruning_epochs_fraction must be in [0, 1], got {pruning_epochs_fraction}"
            )
        self.prune_fraction = prune_fraction
        self.pruning_epochs_fraction = delta
        self.losses: LatestValues | None = None
        self.rescaled: torch.Tensor | None = None  # kept low-loss samples of the current epoch
        self.steps_run: list[int] = []  # optimizer steps per finished epoch
        self.kept_per_epoch: list[int] = []  # samples in each finished epoch's draw
        self.full_steps_per_epoch = 0
        self.epoch_start_step = 0  # global step when the current epoch began
        self._factors: torch.Tensor | None = None

    # -- the SamplerCallback contract --------------------------------------------------------
    def hparams(self) -> dict:
        return {
            "prune_fraction": self.prune_fraction,
            "pruning_epochs_fraction": self.pruning_epochs_fraction,
        }

    def validate(self, max_epochs: int) -> None:
        """Any r in [0, 1) and delta in [0, 1] work with any number of epochs."""

    def prunes_epoch(self, epoch: int, max_epochs: int) -> bool:
        return epoch < self.pruning_epochs_fraction * max_epochs

    def summary(self) -> dict:
        full = self.full_steps_per_epoch * len(self.steps_run)
        total = sum(self.steps_run)
        return {
            **self.hparams(),
            "pruned_epochs": sum(kept < self.num_samples() for kept in self.kept_per_epoch),
            "steps_per_epoch_run": list(self.steps_run),
            "samples_per_epoch": list(self.kept_per_epoch),
            "total_steps_run": total,
            "full_data_steps": full,
            "saved_iterations": full - total,
            "saved_fraction": (full - total) / full if full else 0.0,
        }

    # -- the loss factor the module applies ---------------------------------------------------
    def sample_loss_weight(self, index: torch.Tensor) -> torch.Tensor:
        """The loss factor of each sample of a batch (the ``SamplerCallback`` hook)."""
        if self.rescaled is None:
            return torch.ones(len(index), device=index.device)
        if self._factors is None or self._factors.device != index.device:
            factors = torch.where(self.rescaled, 1.0 / (1.0 - self.prune_fraction), 1.0).float()
            self._factors = factors.to(index.device)
        return self._factors[index.long()]

    def num_samples(self) -> int:
        return 0 if self.losses is None else len(self.losses)

    def epoch_draw_size(self, sampler) -> int:
        """Distinct samples in the sampler's next epoch."""
        return self.num_samples() if sampler.subset is None else len(sampler.subset)

    def set_epoch_draw(self, sampler, kept: torch.Tensor | None, rescaled: torch.Tensor | None) -> None:
        sampler.set_subset(kept)
        self.rescaled = rescaled
        self._factors = None

    # -- hooks ------------------------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        datamodule = trainer.datamodule
        if self.losses is None:
            self.losses = LatestValues(datamodule.num_train)
        elif len(self.losses) != datamodule.num_train:
            raise UserError(
                f"the checkpoint's sampler=infobatch state covers {len(self.losses)} samples, "
                "this training set "
                f"has {datamodule.num_train}: resume with the same dataset config"
            )
        sampler = datamodule.train_sampler()
        if sampler.weights is not None:
            raise UserError("sampler=infobatch cannot resume a checkpoint whose sampler draws by weight")
        # A pruned epoch's loader must be rebuilt to have the pruned length (module docstring).
        trainer.reload_dataloaders_every_n_epochs = 1
        self.full_steps_per_epoch = pl_module.steps_per_epoch()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epoch_start_step = trainer.global_step

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        index, losses = gather_batch(outputs["index"], loss_of(outputs).detach())
        self.losses.update(index, losses)
        self.follow_schedule(trainer, batch_idx)

    def follow_schedule(self, trainer: pl.Trainer, batch_idx: int) -> None:
        """Advance step-based schedulers by T / L per step of an L-step pruned epoch (module docstring)."""
        steps, full = trainer.num_training_batches, self.full_steps_per_epoch
        if steps >= full:
            return
        target = trainer.current_epoch * full + ((batch_idx + 1) * full) // steps
        for config in trainer.lr_scheduler_configs:
            if config.interval != "step" or config.reduce_on_plateau:
                continue
            while config.scheduler.last_epoch < target:
                config.scheduler.step()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        sampler = trainer.datamodule.train_sampler()
        # From the step counter, not counted here: right also after a mid-epoch resume.
        steps_this_epoch = trainer.global_step - self.epoch_start_step
        self.steps_run.append(steps_this_epoch)
        self.kept_per_epoch.append(self.epoch_draw_size(sampler))
        next_epoch = trainer.current_epoch + 1
        threshold = float("nan")
        if next_epoch < trainer.max_epochs and self.prunes_epoch(next_epoch, trainer.max_epochs):
            min_kept = trainer.datamodule.per_device_batch_size() * trainer.world_size
            kept, rescaled, threshold = select_kept(
                self.losses.value,
                self.losses.seen,
                self.prune_fraction,
                pruning_generator(sampler.seed, next_epoch),
                min_kept,
            )
            if len(kept) < len(self.losses):
                self.set_epoch_draw(sampler, kept, rescaled)
            else:
                self.set_epoch_draw(sampler, None, None)
        else:
            self.set_epoch_draw(sampler, None, None)
        saved = self.full_steps_per_epoch * len(self.steps_run) - sum(self.steps_run)
        kept_next = self.epoch_draw_size(sampler)
        for writer in diagnostics.tensorboard_writers(trainer):
            step = trainer.global_step
            writer.add_scalar("infobatch/steps_this_epoch", steps_this_epoch, step)
            writer.add_scalar("infobatch/saved_iterations", saved, step)
            writer.add_scalar("infobatch/kept_fraction_next_epoch", kept_next / len(self.losses), step)
            if threshold == threshold:
                writer.add_scalar("infobatch/mean_loss_threshold", threshold, step)
        log.info(
            "infobatch: epoch %d ran %d of %d steps; next epoch draws %d of %d samples",
            trainer.current_epoch,
            steps_this_epoch,
            self.full_steps_per_epoch,
            kept_next,
            len(self.losses),
        )

    # -- checkpoint -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "losses": None if self.losses is None else self.losses.state_dict(),
            "rescaled": None if self.rescaled is None else self.rescaled.clone(),
            "steps_run": list(self.steps_run),
            "kept_per_epoch": list(self.kept_per_epoch),
            "epoch_start_step": self.epoch_start_step,  # a mid-epoch checkpoint resumes the epoch's count
        }

    def load_state_dict(self, state: dict) -> None:
        self.losses = None if state["losses"] is None else LatestValues.from_state(state["losses"])
        self.rescaled = state["rescaled"]
        self._factors = None
        self.steps_run = list(state["steps_run"])
        self.kept_per_epoch = list(state["kept_per_epoch"])
        self.epoch_start_step = int(state.get("epoch_start_step", 0))
