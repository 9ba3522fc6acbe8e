"""Importance sources: what makes a sample "hard", one small function each, feeding one sampler.

Every source gives a per-sample hardness h_i >= 0 (larger = more important); the method's
weights are then w_i = h_i^gamma (``importance.hardness_weights``). ``p_true`` is the paper's
Eq. (4), h = 1 - p_true; the others are the metrics of Appendix E.2 and the random-weights
ablation:

=============  ===================================================  ==========================
score          hardness h_i                                         cost
=============  ===================================================  ==========================
p_true         1 - softmax(f(x_i))_{y_i}                            one eval pass
loss           the run's per-sample training loss (eval mode)       one eval pass
el2n           || softmax(f(x_i)) - onehot(y_i) ||_2 (one model)    one eval pass
grad_norm      || d loss_i / d theta ||_2 over all parameters       one per-sample backward
random         Uniform(0, 1), seeded by the run's seed              none
=============  ===================================================  ==========================

All model-based sources score the un-augmented training set in eval mode on every rank's
shard and gather by sample index (collective: call on all ranks).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from sample_importance.config_checks import SAMPLER_SCORES
from sample_importance.errors import TrainingDiverged
from sample_importance.sampler.scoring import gather_from_ranks, scatter_by_index, score_training_set

SCORE_NAMES = SAMPLER_SCORES

# Samples per vmap call in the per-sample gradient pass: memory grows as chunk x parameters
# (64 x 23M floats, ResNet-50, is about 6 GB).
GRAD_NORM_CHUNK_SIZE = 64


@dataclass
class Hardness:
    """Per-sample values in index order 0..N-1 (float64 on the CPU).

    ``p_true`` is NaN where the source did not run the model (``random``).
    """

    score: str
    label: torch.Tensor
    p_true: torch.Tensor
    hardness: torch.Tensor
    seconds: float


# -- per-batch sources: (module, images, targets) -> (p_true, hardness), both (B,) -----------
def probabilities(module, images: torch.Tensor) -> torch.Tensor:
    return torch.softmax(module(images).float(), dim=1)


@torch.no_grad()
def batch_p_true(module, images, targets):
    p_true = probabilities(module, images).gather(1, targets[:, None]).squeeze(1)
    return p_true, 1.0 - p_true


@torch.no_grad()
def batch_loss(module, images, targets):
    logits = module(images)
    p_true = torch.softmax(logits.float(), dim=1).gather(1, targets[:, None]).squeeze(1)
    return p_true, module.loss(logits, targets).float()


def el2n_of(probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """|| softmax - onehot ||_2 per row (Paul et al. 2021, one model)."""
    onehot = torch.nn.functional.one_hot(targets, probs.shape[1]).to(probs)
    return (probs - onehot).norm(dim=1)


@torch.no_grad()
def batch_el2n(module, images, targets):
    probs = probabilities(module, images)
    return probs.gather(1, targets[:, None]).squeeze(1), el2n_of(probs, targets)


def per_sample_grad_norms(net: torch.nn.Module, loss, images, targets, chunk_size: int = GRAD_NORM_CHUNK_SIZE):
    """|| grad_theta loss(net(x_i), y_i) ||_2 for each sample, with torch.func (vmap over grad).

    The network must be in eval mode (batch norm then uses its running statistics, so every
    sample's loss depends on that sample alone).
    """
    from torch.func import functional_call, grad, vmap

    params = {name: p.detach() for name, p in net.named_parameters() if p.requires_grad}
    buffers = {name: b.detach() for name, b in net.named_buffers()}

    def sample_loss(params, buffers, image, target):
        logits = functional_call(net, (params, buffers), (image.unsqueeze(0),))
        return loss(logits, target.unsqueeze(0)).sum()

    with torch.enable_grad():
        grads = vmap(grad(sample_loss), in_dims=(None, None, 0, 0), chunk_size=chunk_size)(params, buffers, images, targets)
    squared = sum(g.flatten(1).double().pow(2).sum(1) for g in grads.values())
    return squared.sqrt()


def batch_grad_norm(module, images, targets):
    with torch.no_grad():
        p_true = probabilities(module, images).gather(1, targets[:, None]).squeeze(1)
    return p_true, per_sample_grad_norms(module.net, module.loss, images, targets)


BATCH_SOURCES = {"p_true": batch_p_true, "loss": batch_loss, "el2n": batch_el2n, "grad_norm": batch_grad_norm}


def run_source(module, dataloader, source) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(index, label, p_true, hardness) for this rank's share of ``dataloader``, in eval mode."""
    was_training = module.training
    module.eval()
    indices, labels, p_true, hardness = [], [], [], []
    try:
        for images, targets, index in dataloader:
            images, targets = images.to(module.device, non_blocking=True), targets.to(module.device)
            batch_p, batch_h = source(module, images, targets)
            indices.append(index.to(module.device))
            labels.append(targets)
            p_true.append(batch_p.float())
            hardness.append(batch_h.double())
    finally:
        module.train(was_training)
    return torch.cat(indices), torch.cat(labels), torch.cat(p_true), torch.cat(hardness)


def random_hardness(num_samples: int, seed: int) -> torch.Tensor:
    """i.i.d. Uniform(0, 1), a pure function of (seed, N): the same on every rank and after a resume."""
    state = np.random.SeedSequence([seed, 0x52414E44]).generate_state(2, dtype=np.uint32)
    generator = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
    return torch.rand(num_samples, generator=generator, dtype=torch.float64)


def score_hardness(module, datamodule, score: str, seed: int = 0) -> Hardness:
    """Every training sample's hardness under ``score`` (see the module's table). Collective."""
    if score not in SCORE_NAMES:
        raise ValueError(f"unknown score {score!r}; one of {SCORE_NAMES}")
    start = time.perf_counter()
    num_samples = datamodule.num_train
    if score == "random":
        labels = datamodule.train_set.labels.clone()
        p_true = torch.full((num_samples,), float("nan"), dtype=torch.float64)
        return Hardness(score, labels, p_true, random_hardness(num_samples, seed), time.perf_counter() - start)
    if score == "p_true":  # the method's own scoring pass, unchanged
        scores = score_training_set(module, datamodule)
        return Hardness(score, scores.label, scores.p_true, 1.0 - scores.p_true, scores.seconds)
    index, label, p_true, hardness = run_source(module, datamodule.scoring_dataloader(), BATCH_SOURCES[score])
    index, label, p_true, hardness = gather_from_ranks(index, label, p_true, hardness)
    labels = scatter_by_index(index, label, num_samples)
    if torch.isnan(labels).any():
        raise RuntimeError(f"scoring pass missed {int(torch.isnan(labels).sum())} training samples")
    values = scatter_by_index(index, hardness, num_samples)
    bad = int((~torch.isfinite(values)).sum())
    if bad:
        raise TrainingDiverged(
            f"score={score} is NaN or infinite for {bad} of {num_samples} training samples (the model diverged: "
            f"lower schedule.lr); the last good checkpoint is checkpoints/last.ckpt"
        )
    return Hardness(score, labels.long(), scatter_by_index(index, p_true, num_samples), values,
                    time.perf_counter() - start)
