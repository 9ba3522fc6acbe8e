"""Test-only callback: stops a run after one optimizer step until the test lets it go on."""

from __future__ import annotations

import time
from pathlib import Path

from pytorch_lightning.callbacks import Callback


class PauseAtStep(Callback):
    """At ``step``, writes ``signal_dir/paused`` and waits (at most ``timeout_s``) for ``signal_dir/go``.

    The files live outside the run folder, so the folder holds only what the run itself writes.
    """

    def __init__(self, step: int, signal_dir: str, timeout_s: float = 240) -> None:
        self.step, self.signal_dir, self.timeout_s = step, Path(signal_dir), timeout_s

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step != self.step:
            return
        (self.signal_dir / "paused").touch()
        deadline = time.monotonic() + self.timeout_s
        while not (self.signal_dir / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
