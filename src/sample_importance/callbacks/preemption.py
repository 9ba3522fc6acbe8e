"""Checkpoints that survive preemption: every N steps, and when the cluster says time is up.

One owner of requeueing: submitit (hydra-submitit-launcher). SLURM sends submitit's signal
(SIGUSR2 by default, ``SUBMITIT_PREEMPT_SIGNAL``) before the time limit; the handler installed
here only raises a flag, the next batch end saves ``checkpoints/last.ckpt`` on every rank, and
then submitit's own handler runs (it requeues the job and exits). Lightning's SLURM auto-requeue
is switched off in ``train.py`` so that two handlers never compete. The requeued job runs in
the same folder and resumes from ``last.ckpt`` (``auto_resume``), mid-epoch included: the
sampler skips the batches already done instead of replaying the epoch's start.

SIGTERM (``kill``, schedulers without a warning signal, container runtimes) and SIGINT (Ctrl-C)
end a run the same way: the handler raises a flag, the next training batch end saves
``last.ckpt`` (the epoch's end if the signal came during a scoring pass or an evaluation), and
the process exits with 128 + the signal number (143, 130), so a script or scheduler sees that the
run did not finish. A second signal of the same kind exits at once. Lightning's own SIGTERM
handling would exit 0 without a mid-epoch checkpoint. Inside a submitit job SIGTERM stays with
submitit (it ignores it on purpose and acts on its own signal).
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


# Stopped by a signal: exit with 128 + its number, as a shell reports a process killed by it.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def in_submitit_job() -> bool:
    return "SUBMITIT_EXECUTOR" in os.environ


class PreemptionCheckpoint(Callback):
    """Save ``last.ckpt`` every ``every_n_train_steps`` (None: never), on the preemption signal, and on
    SIGTERM/SIGINT.

    Args:
        every_n_train_steps: mid-epoch checkpoint interval, for clusters that kill without warning.
        handle_signal: ``auto`` installs the preemption handler only inside a submitit job; true/false
            force it.
        handle_stop_signals: save and exit with 143/130 on SIGTERM/SIGINT (false: Lightning's handling).
    """

    def __init__(
        self,
        every_n_train_steps: int | None = None,
        handle_signal: str | bool = "auto",
        handle_stop_signals: bool = True,
    ) -> None:
        if every_n_train_steps is not None and every_n_train_steps <= 0:
            raise ValueError(f"every_n_train_steps must be positive or null, got {every_n_train_steps}")
        self.every_n_train_steps = every_n_train_steps
        self.handle_signal = handle_signal
        self.handle_stop_signals = bool(handle_stop_signals)
        self.signal_received = False
        self.previous_handler = None
        self.signal_number: int | None = None
        self.stop_signal = 0  # the stop signal received (0: none)
        self.stop_handlers: dict[int, object] = {}  # signal -> the handler ours replaced

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        wanted = in_submitit_job() if self.handle_signal == "auto" else bool(self.handle_signal)
        if not wanted:
            return
        name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")
        self.signal_number = getattr(signal, f"SIG{name}" if not name.startswith("SIG") else name)
        self.previous_handler = signal.signal(self.signal_number, self._on_signal)
        log.info("checkpointing on %s before the job is requeued", signal.Signals(self.signal_number).name)

    # Installed after Lightning's own SIGTERM handler (it comes after on_fit_start), which would
    # end the run with exit code 0 and no mid-epoch checkpoint, and for the test again.
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._install_stop_handlers()

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._install_stop_handlers()

    def _install_stop_handlers(self) -> None:
        if not self.handle_stop_signals:
            return
        for signum in STOP_SIGNALS:
            if signum == signal.SIGTERM and in_submitit_job():
                continue
            previous = signal.signal(signum, self._on_stop_signal)
            if previous != self._on_stop_signal:
                self.stop_handlers.setdefault(signum, previous)

    def _restore_stop_handlers(self) -> None:
        for signum, handler in self.stop_handlers.items():
            if signal.getsignal(signum) == self._on_stop_signal:
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self.stop_handlers = {}

    def _on_signal(self, signum, frame) -> None:
        self.signal_received = True

    def _on_stop_signal(self, signum, frame) -> None:
        if self.stop_signal == signum:  # asked twice: stop now, without a checkpoint
            raise SystemExit(128 + signum)
        self.stop_signal = signum
        log.warning(
            "%s received: saving checkpoints/last.ckpt at the next training step, then exiting "
            "(send it again to exit at once)",
            signal.Signals(signum).name,
        )

    def _signals_on_any_rank(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> tuple[bool, int]:
        """(preemption signal, stop signal number or 0), the maximum over ranks."""
        preempted = self.signal_number is not None and self.signal_received
        if trainer.world_size == 1 or not (self.signal_number is not None or self.stop_handlers):
            return preempted, self.stop_signal
        flags = torch.tensor([float(preempted), float(self.stop_signal)], device=pl_module.device)
        flags = trainer.strategy.reduce(flags, reduce_op="max")
        return bool(flags[0] > 0), int(flags[1])

    @staticmethod
    def _ranks_compare_signals_now(trainer: pl.Trainer) -> bool:
        """Under DDP, comparing the ranks' flags is an all-reduce and a host-device sync: done at
        logging steps only (where the logger syncs anyway), so a signal is acted on within
        ``log_every_n_steps`` steps. Every rank has the same global step, so they agree on when."""
        return trainer.world_size == 1 or trainer.global_step % max(1, trainer.log_every_n_steps) == 0

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx
    ) -> None:
        preempted, stop_signal = (
            self._signals_on_any_rank(trainer, pl_module)
            if self._ranks_compare_signals_now(trainer)
            else (False, 0)
        )
        periodic = bool(self.every_n_train_steps) and trainer.global_step % self.every_n_train_steps == 0
        self._save_and_stop(trainer, preempted, stop_signal, periodic)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # A signal during the epoch's end (evaluation, scoring), or one the ranks have not compared
        # yet: no batch end follows before the next epoch.
        preempted, stop_signal = self._signals_on_any_rank(trainer, pl_module)
        self._save_and_stop(trainer, preempted, stop_signal, periodic=False)

    def _save_and_stop(self, trainer: pl.Trainer, preempted: bool, stop_signal: int, periodic: bool) -> None:
        if not (preempted or stop_signal or periodic):
            return
        trainer.save_checkpoint(last_checkpoint_path(trainer))
        if preempted:
            log.warning(
                "preemption signal: saved %s at step %d", last_checkpoint_path(trainer), trainer.global_step
            )
            handler = self.previous_handler
            if callable(handler):
                handler(self.signal_number, None)  # submitit: requeue, then exit on rank 0
            else:
                raise SystemExit(
                    f"stopped by signal {self.signal_number} after saving {last_checkpoint_path(trainer)}"
                )
        if stop_signal:
            self._stop(trainer, stop_signal, saved=True)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        _, stop_signal = self._signals_on_any_rank(trainer, pl_module)
        if stop_signal:
            self._stop(trainer, stop_signal, saved=False)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _, stop_signal = self._signals_on_any_rank(trainer, pl_module)
        if stop_signal:
            self._stop(trainer, stop_signal, saved=False)
        self._restore_stop_handlers()

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore_stop_handlers()

    def _stop(self, trainer: pl.Trainer, signum: int, saved: bool) -> None:
        self._restore_stop_handlers()
        where = (
            f"saved {last_checkpoint_path(trainer)} at step {trainer.global_step}"
            if saved
            else "training had finished (checkpoints/last.ckpt holds its end)"
        )
        log.warning(
            "stopped by %s: %s; the same command continues the run", signal.Signals(signum).name, where
        )
        raise SystemExit(128 + signum)
