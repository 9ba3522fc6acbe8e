"""The scoring pass: p_true for every training sample, gathered across ranks by index."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from sample_importance.errors import TrainingDiverged


@dataclass
class Scores:
    """Per-sample values in index order 0..N-1 (float64 on the CPU)."""

    label: torch.Tensor
    p_true: torch.Tensor
    seconds: float


def scatter_by_index(index: torch.Tensor, values: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Place ``values`` at ``index`` in a full-length vector; every index must appear (duplicates agree)."""
    full = torch.full((num_samples,), float("nan"), dtype=torch.float64)
    full[index.cpu().long()] = values.cpu().double()
    return full


def gather_from_ranks(*tensors: torch.Tensor) -> list[torch.Tensor]:
    """Concatenate each tensor over all ranks (uneven lengths allowed); identity in one process."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return list(tensors)
    from torchmetrics.utilities.distributed import gather_all_tensors

    return [torch.cat(gather_all_tensors(t.contiguous())) for t in tensors]


def score_training_set(module, datamodule) -> Scores:
    """Run the model over the un-augmented training set on every rank and gather by index.

    Collective: call it on all ranks. NaN probabilities raise ``TrainingDiverged``.
    """
    start = time.perf_counter()
    index, label, p_true = module.predict_p_true(datamodule.scoring_dataloader())
    index, label, p_true = gather_from_ranks(index, label, p_true)
    num_samples = datamodule.num_train
    labels = scatter_by_index(index, label, num_samples)
    probabilities = scatter_by_index(index, p_true, num_samples)
    if torch.isnan(labels).any():
        raise RuntimeError(f"scoring pass missed {int(torch.isnan(labels).sum())} training samples")
    bad = int(torch.isnan(probabilities).sum())
    if bad:
        raise TrainingDiverged(
            f"the model gives NaN probabilities for {bad} of {num_samples} training samples at the scoring pass "
            f"(it diverged: lower schedule.lr); the last good checkpoint is checkpoints/last.ckpt"
        )
    return Scores(labels.long(), probabilities, time.perf_counter() - start)
