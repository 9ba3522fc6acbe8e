"""SGD-Scan (the paper's Eq. 1): every epoch a fresh permutation, each sample seen once."""

from __future__ import annotations

import pytorch_lightning as pl

from sample_importance.errors import UserError
from sample_importance.sampler.base import SamplerCallback


class UniformScan(SamplerCallback):
    """Leaves the sampler uniform without replacement for the whole run (its default mode)."""

    name = "uniform"

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        sampler = trainer.datamodule.train_sampler()
        if sampler.weights is not None:
            raise UserError("sampler=uniform cannot resume a checkpoint whose sampler draws by weight")
