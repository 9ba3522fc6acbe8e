"""SGD with replacement (Appendix E.1, Figure 20): every epoch N uniform draws with replacement."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from sample_importance.sampler.base import SamplerCallback


class UniformReplacement(SamplerCallback):
    """All weights 1 on the sampler from epoch 0: uniform, with replacement, N draws per epoch.

    The method with gamma = 0 draws the same way but only after E epochs without replacement.
    The weights travel in the sampler's checkpoint state, so a resume keeps drawing this way.
    """

    name = "uniform_replacement"

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        sampler = trainer.datamodule.train_sampler()
        if sampler.weights is None:
            sampler.set_weights(torch.ones(sampler.dataset_size, dtype=torch.float64))
