"""Test-only callbacks and run settings for the tests of samplers that update during training.

Imported by those tests and, through ``_target_``, by the DDP children they start.

``SamplerRecorder`` keeps, per rank: every global chunk the training loader's sampler drew (with
the strategy's refresh count at that moment), the indices of every batch, the learning rate of
every batch, and the strategy's final state. ``StopAfterEpochs`` ends a run after an epoch;
``PreemptAtStep`` sends the preemption signal (SIGUSR2) to the process mid-epoch, as SLURM would.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import torch
from pytorch_lightning.callbacks import Callback

RECORD = "+callbacks.sampler_recorder._target_=sampler_recorder.SamplerRecorder"
BATCH = 128
LR = 0.05
STEPS = 1438 // BATCH  # digits: 1,438 training samples, 11 full batches per epoch
# The recorded runs pin their schedule, so that they do not depend on conftest's TINY settings.
SCHEDULE = [f"schedule.batch_size={BATCH}", f"schedule.lr={LR}"]


def stop_after(epochs: int) -> list[str]:
    return ["+callbacks.stop._target_=sampler_recorder.StopAfterEpochs", f"+callbacks.stop.epochs={epochs}"]


def find_strategy(trainer):
    return next(cb for cb in trainer.callbacks if hasattr(cb, "hparams") and hasattr(cb, "summary"))


class SamplerRecorder(Callback):
    def __init__(self) -> None:
        self.chunks: dict[tuple[int, int], tuple[torch.Tensor, int]] = {}
        self.batches: dict[int, list[torch.Tensor]] = {}
        self.lr: dict[int, list[float]] = {}

    def on_fit_start(self, trainer, pl_module) -> None:
        sampler = trainer.datamodule.train_sampler()
        strategy = find_strategy(trainer)
        draw = sampler.global_chunks

        def recording(epoch=None):
            # Only the loader's draws: diagnostics call global_sequence(epoch) with an explicit epoch.
            for number, chunk in enumerate(draw(epoch)):
                if epoch is None:
                    self.chunks[(sampler.epoch, number)] = (chunk.clone(), getattr(strategy, "refreshes", 0))
                yield chunk

        sampler.global_chunks = recording

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.batches.setdefault(trainer.current_epoch, []).append(batch[2].detach().cpu())
        self.lr.setdefault(trainer.current_epoch, []).append(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_end(self, trainer, pl_module) -> None:
        record = {
            "chunks": self.chunks,
            "batches": self.batches,
            "lr": self.lr,
            "state": find_strategy(trainer).state_dict(),
            "world_size": trainer.world_size,
        }
        torch.save(record, Path(trainer.default_root_dir) / f"sampler_record_rank{trainer.global_rank}.pt")


def load_record(folder: Path, rank: int = 0) -> dict:
    return torch.load(Path(folder) / f"sampler_record_rank{rank}.pt", weights_only=False)


class StopAfterEpochs(Callback):
    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch + 1 >= self.epochs:
            trainer.should_stop = True


class PreemptAtStep(Callback):
    """Needs ``callbacks.preemption_checkpoint.handle_signal=true`` (else SIGUSR2 ends the process)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGUSR2)
