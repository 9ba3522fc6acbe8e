"""Per-sample weights or scores from a file: another run's ``sample_weights.pt``, EL2N scores, ...

One value per training sample, in the order of this run's training set (the sample index that
batches carry). Accepted formats:
- ``.npy``: a 1-D array;
- ``.pt``: a 1-D tensor, or a dict with ``weight`` (``sample_weights.pt``) or ``score``
  (``el2n_scores.pt``); a ``label`` entry, when present, must match this training set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sample_importance.errors import UserError

VALUE_KEYS = ("weight", "score")


def load_values(path, key: str = "sampler.weights_file") -> tuple[torch.Tensor, dict]:
    """(float64 values, the rest of the record) from one file; any problem is a one-line UserError."""
    path = Path(str(path))
    if not path.is_file():
        raise UserError(f"{key}={path}: no such file")
    try:
        if path.suffix == ".npy":
            record = {"value": torch.from_numpy(np.load(path, allow_pickle=False))}
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
            record = dict(loaded) if isinstance(loaded, dict) else {"value": loaded}
    except Exception as error:
        raise UserError(f"{key}={path} is not a readable .npy or .pt file ({type(error).__name__})") from error
    for name in ("value", *VALUE_KEYS):
        if name in record:
            values = record.pop(name)
            break
    else:
        raise UserError(f"{key}={path} holds a dict without a 'weight' or 'score' entry (keys: {sorted(record)})")
    values = torch.as_tensor(values)
    if values.ndim != 1 or not (values.dtype.is_floating_point or values.dtype in (torch.int32, torch.int64)):
        raise UserError(f"{key}={path} must hold one number per training sample (a 1-D array), got shape {tuple(values.shape)}")
    return values.double(), record


def check_against(values: torch.Tensor, record: dict, labels: torch.Tensor, path, key: str) -> None:
    """Same length and (when the file knows them) the same labels as this run's training set."""
    if len(values) != len(labels):
        raise UserError(f"{key}={path} has {len(values)} values, the training set has {len(labels)} samples "
                        f"(one value per training sample, in training-set index order)")
    if not torch.isfinite(values).all():
        raise UserError(f"{key}={path} holds {int((~torch.isfinite(values)).sum())} NaN or infinite values")
    file_labels = record.get("label")
    if file_labels is not None and not torch.equal(torch.as_tensor(file_labels).long().cpu(), labels.long().cpu()):
        raise UserError(f"{key}={path} was made on another training set (its labels differ): use the same dataset config")


def mean_weights(paths, labels: torch.Tensor, key: str = "sampler.weights_file") -> tuple[torch.Tensor, torch.Tensor | None]:
    """The mean of the files' weights (one file: its weights unchanged) and their mean p_true, if all have one."""
    total, p_total, have_p = None, None, True
    for path in paths:
        values, record = load_values(path, key)
        check_against(values, record, labels, path, key)
        if (values < 0).any():
            raise UserError(f"{key}={path} holds {int((values < 0).sum())} negative values; weights must be >= 0")
        total = values if total is None else total + values
        p_true = record.get("p_true")
        have_p = have_p and p_true is not None
        if have_p:
            p_total = torch.as_tensor(p_true).double() if p_total is None else p_total + torch.as_tensor(p_true).double()
    weights = total / len(paths)
    if not weights.sum() > 0:
        raise UserError(f"{key}: every weight is zero")
    return weights, (p_total / len(paths) if have_p else None)
