"""A callback that writes every training batch's end time (perf_counter) per epoch to a JSON file."""

from __future__ import annotations

import json
import time

from pytorch_lightning.callbacks import Callback


class StepTimer(Callback):
    def __init__(self, path: str) -> None:
        self.path = path
        self.times: dict[int, list[float]] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.times.setdefault(trainer.current_epoch, []).append(time.perf_counter())

    def on_train_end(self, trainer, pl_module) -> None:
        with open(self.path, "w") as f:
            json.dump({str(k): v for k, v in self.times.items()}, f)


def epoch_rates(times: dict) -> list[float]:
    """(steps - 1) / (last batch end - first batch end) of every epoch after the first."""
    return [(len(t) - 1) / (t[-1] - t[0]) for epoch, t in sorted(times.items(), key=lambda kv: int(kv[0]))
            if int(epoch) > 0 and len(t) > 1]


def steady_steps_per_s(times: dict) -> float:
    """Median over epochs after the first of their steps/s."""
    from benchmarks.common import median

    return median(epoch_rates(times))
