"""Per-sample weights or scores from a file: another run's ``sample_weights.pt``, EL2N scores, ...

One value per training sample of this run. Accepted formats:
- ``.pt``: a dict with ``weight`` (``sample_weights.pt``) or ``score`` (``el2n_scores.pt``), or a
  1-D tensor;
- ``.npy``: a 1-D array.

Which value belongs to which sample: a file's ``index`` entry (value k belongs to training sample
``index[k]``) maps it, and its ``label`` entry must match this training set (after that map). A
file with neither (a bare ``.npy`` or tensor) says nothing about its order, and a file in another
project's order (data_diet sorts CIFAR by class) passes the length check and would be used
misaligned: it is refused unless the user states that it is in training-set index order with
``sampler.weights_order=index`` (``sampler.scores_order=index`` for a scores file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sample_importance.errors import ConfigError, UserError
from sample_importance.torch_files import read_torch_file

VALUE_KEYS = ("weight", "score")
# What a user may state about a file without labels or index map: "index", its values are in
# training-set index order; None, nothing (such a file is refused).
FILE_ORDERS = ("index",)


def check_file_order(key: str, order) -> str | None:
    if order is not None and order not in FILE_ORDERS:
        raise ConfigError(
            f"{key} must be null or {' or '.join(FILE_ORDERS)} (the file's values are in "
            f"training-set index order), got {order!r}"
        )
    return order


def load_values(path, key: str = "sampler.weights_file") -> tuple[torch.Tensor, dict]:
    """(float64 values, the rest of the record) from one file; any problem is a one-line UserError."""
    path = Path(str(path))
    if not path.is_file():
        raise UserError(f"{key}={path}: no such file")
    if path.suffix == ".npy":
        try:
            record = {
                "value": torch.from_numpy(np.load(path, allow_pickle=False))
            }  # no pickled objects either
        except Exception as error:
            raise UserError(
                f"{key}={path} is not a readable .npy file of numbers ({type(error).__name__})"
            ) from error
    else:
        loaded = read_torch_file(path, f"{key}={path}")
        record = dict(loaded) if isinstance(loaded, dict) else {"value": loaded}
    for name in ("value", *VALUE_KEYS):
        if name in record:
            values = record.pop(name)
            break
    else:
        raise UserError(
            f"{key}={path} holds a dict without a 'weight' or 'score' entry (keys: {sorted(record)})"
        )
    values = torch.as_tensor(values)
    if values.ndim != 1 or not (values.dtype.is_floating_point or values.dtype in (torch.int32, torch.int64)):
        raise UserError(
            f"{key}={path} must hold one number per training sample (a 1-D array), "
            f"got shape {tuple(values.shape)}"
        )
    return values.double(), record


def order_key(key: str) -> str:
    return key.replace("_file", "_order")  # sampler.weights_file -> sampler.weights_order


def align_to_training_set(
    values: torch.Tensor, record: dict, labels: torch.Tensor, path, key: str, order: str | None = None
) -> tuple[torch.Tensor, dict]:
    """The values in this training set's index order, with the record's per-sample entries likewise.

    Same length as the training set; the file's ``index`` map (if any) applied; its labels (if any)
    equal to the training set's; a file with neither is used only with ``order="index"``.
    """
    count = len(labels)
    if len(values) != count:
        raise UserError(
            f"{key}={path} has {len(values)} values, the training set has {count} samples "
            f"(one value per training sample, in training-set index order)"
        )
    if not torch.isfinite(values).all():
        raise UserError(f"{key}={path} holds {int((~torch.isfinite(values)).sum())} NaN or infinite values")
    index, file_labels = record.get("index"), record.get("label")
    if index is None and file_labels is None and order != "index":
        raise UserError(
            f"{key}={path} has no labels and no index map, so nothing says which value belongs "
            "to which training "
            f"sample; if its values are in this run's training-set index order add {order_key(key)}=index, "
            f"else convert it first (README: per-sample files from elsewhere)"
        )
    if index is not None:
        index = torch.as_tensor(index).long().flatten()
        if len(index) != count or not torch.equal(index.sort().values, torch.arange(count)):
            raise UserError(f"{key}={path}: its 'index' entry is not a permutation of 0..{count - 1}")
        record = dict(record)
        for name, entry in record.items():  # label, p_true, ...: per-sample entries follow the map
            if (
                isinstance(entry, torch.Tensor)
                and entry.ndim == 1
                and len(entry) == count
                and name != "index"
            ):
                record[name] = torch.empty_like(entry).index_copy_(0, index, entry)
        values = torch.empty_like(values).index_copy_(0, index, values)
        file_labels = record.get("label")
    if file_labels is not None and not torch.equal(
        torch.as_tensor(file_labels).long().cpu(), labels.long().cpu()
    ):
        raise UserError(
            f"{key}={path} was made on another training set (its labels differ): use the same dataset config"
        )
    return values, record


def mean_weights(
    paths, labels: torch.Tensor, key: str = "sampler.weights_file", order: str | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The mean of the files' weights (one file: its weights unchanged);
    their mean p_true if all have one."""
    total, p_total, have_p = None, None, True
    for path in paths:
        values, record = align_to_training_set(*load_values(path, key), labels, path, key, order)
        if (values < 0).any():
            raise UserError(
                f"{key}={path} holds {int((values < 0).sum())} negative values; weights must be >= 0"
            )
        share = values / len(paths)  # divided first: the sum of huge finite weights would overflow
        total = share if total is None else total + share
        p_true = record.get("p_true")
        have_p = have_p and p_true is not None
        if have_p:
            p_total = (
                torch.as_tensor(p_true).double()
                if p_total is None
                else p_total + torch.as_tensor(p_true).double()
            )
    if not (total > 0).any():
        raise UserError(f"{key}: every weight is zero")
    return total, (p_total / len(paths) if have_p else None)
