"""Reading files written by ``torch.save`` (checkpoints, ``sample_weights.pt``, scores) as data only.

``torch.load`` unpickles, and a pickle may name any Python callable to be called while it loads:
with the unrestricted unpickler a checkpoint someone shares, or a ``last.ckpt`` dropped into a
run folder, runs its author's code. ``weights_only=True`` accepts tensors, numbers, strings and
containers of them, which is everything this project's own files hold, so nothing needs
allow-listing; any other object is refused before it is built.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch

from sample_importance.errors import UserError


def refused_object(error: Exception) -> str:
    """The object torch's weights-only unpickler refused, from its message ("posix.system")."""
    match = re.search(r"GLOBAL ([\w.]+)", str(error))
    return match.group(1) if match else "an object that is not a tensor or plain data"


def read_torch_file(path, name: str | None = None):
    """``torch.load(path)`` on the CPU with ``weights_only=True``; any failure is a one-line UserError.

    ``name`` is the file in the message (default: its path; e.g. ``ckpt_path=PATH``).
    """
    path = Path(str(path))
    name = name or str(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "Weights only load failed" in str(error):
            raise UserError(
                f"{name} holds Python objects besides tensors and plain data ({refused_object(error)}); "
                f"it is not loaded, because loading such a file can run code"
            ) from error
        raise UserError(
            f"{name} is not a readable torch file (UnpicklingError: corrupt or not written by torch.save)"
        ) from error
    except Exception as error:
        first_line = str(error).strip().splitlines()[0][:120] if str(error).strip() else ""
        raise UserError(
            f"{name} is not a readable torch file (truncated, corrupt or not written by "
            f"torch.save: {type(error).__name__}{': ' + first_line if first_line else ''})"
        ) from error
