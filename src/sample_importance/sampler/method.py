"""The paper's method, top to bottom: importance weights from the model's p_true at the end of epoch E.

Eq. (4): w_i = (1 - f_E(x_i)_{y_i})^gamma, P(i) = w_i / sum_j w_j, drawn with replacement, N draws
per epoch (so iterations per epoch and the learning-rate schedule do not change).
gamma > 0 favours hard samples, gamma < 0 easy ones, gamma = 0 is uniform with replacement.

In order: the pure functions (``p_true``, the weights), the one scoring pass over the training
set, the one writer of ``sample_weights.pt``, and ``ScoringPassWeights``, the method's weight
source. ``importance.py`` is the callback that switches the run's sampler to these weights at
the end of epoch E; the paper's ablations are other weight sources (``ablations.py``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch

from sample_importance.atomic import torch_save
from sample_importance.config_checks import check_finite_number
from sample_importance.errors import ConfigError, TrainingDiverged, UserError
from sample_importance.model.classifier import gather_from_ranks

# For gamma < 0 a sample with p_true = 1 would get an infinite weight; its hardness 1 - p is
# raised to this value first (float32 softmax cannot resolve 1 - p below ~6e-8 anyway).
MIN_HARDNESS = 1e-7


def p_true(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """softmax(logits)_{label} for every row, in float32 (half-precision logits are upcast first)."""
    return torch.softmax(logits.float(), dim=1).gather(1, labels[:, None].long()).squeeze(1)


def hardness_weights(
    hardness: torch.Tensor, gamma: float, weight_floor: float = 0.0
) -> tuple[torch.Tensor, str]:
    """w = max(h^gamma, weight_floor) in float64, and what was done about degenerate weights.

    Only the ratios of the weights matter for the draw. For large |gamma| h^gamma leaves float64
    (0.01^-200 is infinite, 0.5^2000 is 0 for every sample): the weights are then the same ones
    times a common factor, computed in log space so that the largest is 1, finite for any gamma.
    Returns ``(weights, fallback)``: ``fallback`` is ``"uniform"`` when every weight is zero
    (every sample learned perfectly with gamma > 0; the draw is then uniform with replacement).
    """
    hardness = hardness.double().clamp(min=0.0)
    if gamma < 0:
        hardness = hardness.clamp(min=MIN_HARDNESS)
    weights = hardness.pow(gamma).clamp(min=weight_floor)
    if torch.isfinite(weights).all() and (weights > 0).any():
        return weights, ""
    log_weights = torch.xlogy(torch.tensor(float(gamma), dtype=torch.float64), hardness)  # 0 log 0 = 0
    if weight_floor > 0:
        log_weights = log_weights.clamp(min=math.log(weight_floor))
    largest = log_weights.max()
    if not torch.isfinite(largest):  # every h = 0 with gamma > 0: no sample is preferred
        return torch.ones_like(hardness), "uniform"
    return torch.exp(log_weights - largest), ""


def check_weight_settings(gamma, weight_floor) -> tuple[float, float]:
    """``sampler.gamma`` and ``sampler.weight_floor`` as floats, or a one-line ``ConfigError``."""
    gamma = check_finite_number("sampler.gamma", gamma)
    if check_finite_number("sampler.weight_floor", weight_floor) < 0:
        raise ConfigError(f"sampler.weight_floor must be >= 0, got {weight_floor}")
    return gamma, float(weight_floor)


def importance_weights(p: torch.Tensor, gamma: float, weight_floor: float = 0.0) -> tuple[torch.Tensor, str]:
    """Eq. (4): w = max((1 - p)^gamma, weight_floor); see ``hardness_weights``."""
    return hardness_weights((1.0 - p.double()).clamp(min=0.0, max=1.0), gamma, weight_floor)


@dataclass
class Scores:
    """Every training sample's values, in index order 0..N-1 (float64 on the CPU).

    ``score`` names the hardness (``p_true``: 1 - p_true; ``scores.py`` lists the others);
    ``p_true`` is NaN where no model ran (random weights, a file without p_true).
    """

    score: str
    label: torch.Tensor
    p_true: torch.Tensor
    hardness: torch.Tensor
    seconds: float


def scatter_by_index(index: torch.Tensor, values: torch.Tensor, num_samples: int) -> torch.Tensor:
    """``values`` placed at ``index`` in a full-length float64 vector (NaN where no index came)."""
    full = torch.full((num_samples,), float("nan"), dtype=torch.float64)
    full[index.cpu().long()] = values.cpu().double()
    return full


def scoring_pass(module, datamodule, score: str = "p_true") -> Scores:
    """The model over the un-augmented training set in eval mode, every rank its shard, gathered by index.

    ``score="p_true"`` is the method's pass; the metrics of ``scores.py`` (Appendix E.2) ride on
    the same pass. Collective: call it on all ranks. NaN or infinite values raise ``TrainingDiverged``.
    """
    from sample_importance.sampler.scores import METRICS

    metric = METRICS.get(score)  # None: the hardness is 1 - p_true
    start = time.perf_counter()
    was_training = module.training
    module.eval()
    net = module.scoring_network()
    indices, labels, probabilities, values = [], [], [], []
    try:
        for images, targets, index in datamodule.scoring_dataloader():
            images, targets = images.to(module.device, non_blocking=True), targets.to(module.device)
            with torch.no_grad():
                logits = net(images)
            indices.append(index.to(module.device))
            labels.append(targets)
            probabilities.append(p_true(logits, targets))
            if metric is not None:
                values.append(metric(module, logits, images, targets).double())
    finally:
        module.train(was_training)
    index, label, p = gather_from_ranks(torch.cat(indices), torch.cat(labels), torch.cat(probabilities))
    num_samples = datamodule.num_train
    labels = scatter_by_index(index, label, num_samples)
    if torch.isnan(labels).any():
        raise RuntimeError(f"scoring pass missed {int(torch.isnan(labels).sum())} training samples")
    p = scatter_by_index(index, p, num_samples)
    if metric is None:
        hardness = 1.0 - p
    else:
        hardness = scatter_by_index(index, *gather_from_ranks(torch.cat(values)), num_samples)
    bad = int((~torch.isfinite(hardness)).sum())
    if bad:
        raise TrainingDiverged(
            f"the scoring pass gives NaN or infinite {score} for {bad} of {num_samples} training samples "
            f"(the model diverged: lower schedule.lr); the last good checkpoint is checkpoints/last.ckpt"
        )
    return Scores(score, labels.long(), p, hardness, time.perf_counter() - start)


def save_sample_weights(path: Path, epoch: int, gamma: float, scores, weights: torch.Tensor, **extra) -> None:
    """Write ``sample_weights.pt``, the record of a switch that the report, ``score`` and
    ``sampler.weights_file`` read: ``epoch gamma index label p_true weight`` and ``extra``."""
    bad = int((~torch.isfinite(weights)).sum())  # hardness_weights keeps them finite; so must the file
    if bad:
        raise UserError(f"{bad} weights are NaN or infinite; {path} not written")
    record = {
        "epoch": int(epoch),
        "gamma": float(gamma),
        "index": torch.arange(len(weights)),
        "label": scores.label.clone(),
        "p_true": scores.p_true.double().clone(),
        "weight": weights.double().clone(),
        **extra,
    }
    torch_save(record, path)


class ScoringPassWeights:
    """The method's weight source: the scoring pass after epoch E and w = h^gamma, h = 1 - p_true
    (or another ``score`` of ``scores.py``). The ablations in ``ablations.py`` replace it."""

    needs_model = True  # burn_in_epochs=auto compares the weights a model gives after each epoch

    def __init__(self, score: str = "p_true") -> None:
        self.score = score

    def hparams(self) -> dict:
        return {"score": self.score}

    def check(self, trainer: pl.Trainer) -> None:
        """Fail at the start of training, not at the switch, if the source cannot work."""

    def epoch_starts(self, is_epoch_e: bool, trainer: pl.Trainer) -> None:
        """Called at every burn-in epoch's start; ``is_epoch_e``: the last one before the switch."""

    def batch_ends(self, outputs: dict) -> None:
        """Called with every training step's outputs (``index``, ``target``, ``logits``, ``sample_loss``)."""

    def scores(self, trainer: pl.Trainer, module) -> Scores:
        return scoring_pass(module, trainer.datamodule, self.score)

    def weights(self, scores: Scores, gamma: float, weight_floor: float) -> tuple[torch.Tensor, str]:
        if scores.score == "p_true":
            return importance_weights(scores.p_true, gamma, weight_floor)
        return hardness_weights(scores.hardness, gamma, weight_floor)

    def record(self, scores: Scores) -> dict:
        """The source's fields of ``sample_weights.pt``."""
        if scores.score == "p_true":
            return {"score": "p_true"}
        return {"score": scores.score, "hardness": scores.hardness.clone()}
