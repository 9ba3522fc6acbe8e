"""Checkpoints that survive preemption: every N steps, and when the cluster says time is up.

One owner of requeueing: submitit (hydra-submitit-launcher). SLURM sends submitit's signal
(SIGUSR2 by default, ``SUBMITIT_PREEMPT_SIGNAL``) before the time limit; the handler installed
here only raises a flag, the next batch end saves ``checkpoints/last.ckpt`` on every rank, and
then submitit's own handler runs (it requeues the job and exits). Lightning's SLURM auto-requeue
is switched off in ``train.py`` so that two handlers never compete. The requeued job runs in
the same folder and resumes from ``last.ckpt`` (``auto_resume``), mid-epoch included: the
sampler skips the batches already done instead of replaying the epoch's start.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

log = logging.getLogger(__name__)


def last_checkpoint_path(trainer: pl.Trainer) -> Path:
    return Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt"


class PreemptionCheckpoint(Callback):
    """Save ``last.ckpt`` every ``every_n_train_steps`` (None: never) and on the preemption signal.

    Args:
        every_n_train_steps: mid-epoch checkpoint interval, for clusters that kill without warning.
        handle_signal: ``auto`` installs the signal handler only inside a submitit job; true/false force it.
    """

    def __init__(self, every_n_train_steps: int | None = None, handle_signal: str | bool = "auto") -> None:
        if every_n_train_steps is not None and every_n_train_steps <= 0:
            raise ValueError(f"every_n_train_steps must be positive or null, got {every_n_train_steps}")
        self.every_n_train_steps = every_n_train_steps
        self.handle_signal = handle_signal
        self.signal_received = False
        self.previous_handler = None
        self.signal_number: int | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        wanted = "SUBMITIT_EXECUTOR" in os.environ if self.handle_signal == "auto" else bool(self.handle_signal)
        if not wanted:
            return
        name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")
        self.signal_number = getattr(signal, f"SIG{name}" if not name.startswith("SIG") else name)
        self.previous_handler = signal.signal(self.signal_number, self._on_signal)
        log.info("checkpointing on %s before the job is requeued", signal.Signals(self.signal_number).name)

    def _on_signal(self, signum, frame) -> None:
        self.signal_received = True

    def _signal_on_any_rank(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> bool:
        if self.signal_number is None:
            return False
        flag = torch.tensor(float(self.signal_received), device=pl_module.device)
        return bool(trainer.strategy.reduce(flag, reduce_op="max") > 0)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        preempted = self._signal_on_any_rank(trainer, pl_module)
        periodic = self.every_n_train_steps and trainer.global_step % self.every_n_train_steps == 0
        if not (preempted or periodic):
            return
        trainer.save_checkpoint(last_checkpoint_path(trainer))
        if preempted:
            log.warning("preemption signal: saved %s at step %d", last_checkpoint_path(trainer), trainer.global_step)
            handler = self.previous_handler
            if callable(handler):
                handler(self.signal_number, None)  # submitit: requeue, then exit on rank 0
            else:
                raise SystemExit(f"stopped by signal {self.signal_number} after saving {last_checkpoint_path(trainer)}")
