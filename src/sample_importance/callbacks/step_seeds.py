"""The global random streams re-seeded before every training step.

Torch's (on the CPU and the model's accelerator), numpy's and Python's.

What a training step draws from them (dropout, any random layer or loss) is then a pure function
of (run seed, epoch, batch): work between steps that uses random numbers (a scoring pass, an
evaluation, a checkpoint, logging) cannot shift it, runs that differ only in such work (SGD-Scan
and the method before its switch; ``burn_in_epochs=auto`` and the E it chooses) take the same
steps, and a resume from any checkpoint, mid-epoch included, needs no saved generator state.
The data side is keyed the same way (``index_sampler.Draw``).
"""

from __future__ import annotations

import random

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from sample_importance.sampler.index_sampler import stream_seed

# A stream tag, so that step seeds never coincide with the augmentation's.
STEP_STREAM = 0x53544550


def seed_step(seed: int, epoch: int, batch_idx: int, device_type: str = "cpu") -> None:
    """Seed the CPU generator, the accelerator's, numpy's and Python's from (seed, epoch, batch).

    Not ``torch.manual_seed``: it also asks every other backend whether it is there, about
    0.7 ms a call on a CPU-only machine, a few percent of a small model's step.
    """
    value = stream_seed(seed, epoch, batch_idx, STEP_STREAM)
    torch.default_generator.manual_seed(value)
    if device_type == "cuda":
        torch.cuda.manual_seed_all(value)
    elif device_type == "mps":
        torch.mps.manual_seed(value)
    np.random.seed(value & 0xFFFF_FFFF)
    random.seed(value)


class SeedEachStep(Callback):
    """Seeds the global random streams from (seed, epoch, batch index) at every training batch start."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int
    ) -> None:
        seed_step(self.seed, trainer.current_epoch, batch_idx, pl_module.device.type)
