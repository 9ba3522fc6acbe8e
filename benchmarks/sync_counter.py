"""A callback ``make gpu-check`` adds to a training run on a GPU: counts the host-device
synchronisations of every training step (item 5), with ``torch.cuda.set_sync_debug_mode``."""

from __future__ import annotations

import json
import warnings
from collections import Counter

import torch
from pytorch_lightning.callbacks import Callback


class SyncCounter(Callback):
    """Per training step, the synchronising CUDA calls torch reports (``set_sync_debug_mode("warn")``
    turns each into a warning, recorded here), written to ``path`` (JSON) with the Python lines
    that made them. A step's count runs from the previous step's end to its own end, so the work
    between steps (Lightning's loop, batch fetching, other callbacks) is counted, and an epoch's
    first step also carries the previous epoch's end (validation, scoring, checkpoints)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.per_step: dict[int, list[int]] = {}  # epoch -> syncs of each step
        self.where: Counter = Counter()
        self.catcher = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.catcher is None:
            self.catcher = warnings.catch_warnings(record=True)
            self.records = self.catcher.__enter__()
            warnings.simplefilter("always")
            if pl_module.device.type == "cuda":
                torch.cuda.set_sync_debug_mode("warn")
            self.seen = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        new = [r for r in self.records[self.seen :] if "synchroniz" in str(r.message)]
        self.seen = len(self.records)
        self.per_step.setdefault(trainer.current_epoch, []).append(len(new))
        self.where.update(f"{r.filename}:{r.lineno}" for r in new)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.catcher is not None:
            if pl_module.device.type == "cuda":
                torch.cuda.set_sync_debug_mode("default")
            self.catcher.__exit__(None, None, None)
            self.catcher = None
        with open(self.path, "w") as f:
            json.dump(
                {
                    "per_step": {str(k): v for k, v in self.per_step.items()},
                    "log_every_n_steps": trainer.log_every_n_steps,
                    "where": dict(self.where.most_common(20)),
                },
                f,
            )
