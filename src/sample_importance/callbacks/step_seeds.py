"""The global random streams (torch on every device, numpy, Python) re-seeded before every training step.

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

# A stream tag, so that step seeds never coincide with the sampler's or the augmentation's.
STEP_STREAM = 0x53544550


def seed_step(seed: int, epoch: int, batch_idx: int) -> None:
    state = np.random.SeedSequence([seed, epoch, batch_idx, STEP_STREAM]).generate_state(2, dtype=np.uint32)
    torch.manual_seed(int(state[0]) << 32 | int(state[1]))
    np.random.seed(state)
    random.seed(int(state[0]) << 32 | int(state[1]))


class SeedEachStep(Callback):
    """Seeds the global random streams from (seed, epoch, batch index) at every training batch start."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        seed_step(self.seed, trainer.current_epoch, batch_idx)
