"""Lightning checkpoints written whole or not at all (see ``atomic.py``).

Lightning's own writer goes through a temporary file in the system's temporary folder and then
copies it over the real name when that folder is on another filesystem: a full disk then leaves
a truncated checkpoint under its real name, and ``auto_resume`` would pick it up.
"""

from __future__ import annotations

from typing import Any

from pytorch_lightning.plugins import TorchCheckpointIO

from sample_importance.atomic import torch_save


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):  # options or a remote store: Lightning's writer
            return super().save_checkpoint(checkpoint, path, storage_options)
        torch_save(checkpoint, path)
