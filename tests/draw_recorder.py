"""Test-only callback: records the sample indices every training batch used, per epoch and rank."""

from __future__ import annotations

from pathlib import Path

import torch
from pytorch_lightning.callbacks import Callback


class DrawRecorder(Callback):
    def __init__(self) -> None:
        self.draws: dict[int, list[torch.Tensor]] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.draws.setdefault(trainer.current_epoch, []).append(batch[2].detach().cpu())

    def on_train_end(self, trainer, pl_module) -> None:
        record = {epoch: torch.cat(parts) for epoch, parts in self.draws.items()}
        torch.save(record, Path(trainer.default_root_dir) / f"draws_rank{trainer.global_rank}.pt")


def load_draws(folder: Path, rank: int = 0) -> dict[int, torch.Tensor]:
    return torch.load(Path(folder) / f"draws_rank{rank}.pt", weights_only=True)


class KillAtStep(Callback):
    """Test-only: SIGKILL this process right after the given optimizer step (a preemption without warning)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            import os
            import signal

            for logger in trainer.loggers:  # what a real run would have flushed by now
                logger.experiment.flush()
            os.kill(os.getpid(), signal.SIGKILL)


class SlowEpochs(Callback):
    """Test-only: make every epoch last at least ``seconds`` more, so a job outlives a SLURM time limit."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        import time

        time.sleep(self.seconds)


class PoisonWeightsAtStep(Callback):
    """Test-only: set one weight to NaN before the given optimizer step, so every loss from then on is NaN."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            import torch

            with torch.no_grad():
                next(pl_module.parameters()).view(-1)[0] = float("nan")


class SaveAt(Callback):
    """Test-only: keep a copy of the run's state as a checkpoint after the given optimizer steps and epochs.

    ``checkpoints/step{N}.ckpt`` after step N (mid-epoch unless N ends an epoch), saved at the
    batch end as the every-N-steps and signal checkpoints are; ``checkpoints/epoch{E}_end.ckpt``
    at the end of epoch E (counted from 1), after the sampler's own epoch-end work.
    """

    def __init__(self, steps=(), epochs=()) -> None:
        self.steps, self.epochs = set(steps), set(epochs)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step in self.steps:
            trainer.save_checkpoint(
                Path(trainer.default_root_dir) / "checkpoints" / f"step{trainer.global_step}.ckpt"
            )

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch + 1 in self.epochs:
            path = (
                Path(trainer.default_root_dir) / "checkpoints" / f"epoch{trainer.current_epoch + 1}_end.ckpt"
            )
            trainer.save_checkpoint(path)


class SlowAfterStep(Callback):
    """Test-only: write ``training_at_step`` after step ``step``, then sleep ``seconds`` after every step.

    A test waits for the file, then signals the process: the signal lands mid-epoch, while training.
    """

    def __init__(self, step: int, seconds: float = 0.2) -> None:
        self.step, self.seconds = step, seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        import time

        if trainer.global_step == self.step:
            (Path(trainer.default_root_dir) / "training_at_step").write_text(str(self.step))
        if trainer.global_step >= self.step:
            time.sleep(self.seconds)
