"""``sampler.score``: what makes a sample "hard", one small function each, for the method's weights.

Every score gives a per-sample hardness h_i >= 0 (larger = more important); the method's
weights are then w_i = h_i^gamma (``method.hardness_weights``). ``p_true`` is the paper's
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

All model-based metrics ride on the method's one scoring pass (``method.scoring_pass``):
the un-augmented training set in eval mode on every rank's shard, gathered by sample index.
Each is a function ``(module, logits, images, targets) -> hardness (B,)``.
"""

from __future__ import annotations

import numpy as np
import torch

# Samples per vmap call in the per-sample gradient pass: memory grows as chunk x parameters
# (64 x 23M floats, ResNet-50, is about 6 GB).
GRAD_NORM_CHUNK_SIZE = 64


def loss_metric(module, logits, images, targets) -> torch.Tensor:
    """The run's per-sample training loss."""
    return module.loss(logits, targets).float()


def el2n_of(probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """|| softmax - onehot ||_2 per row (Paul et al. 2021, one model)."""
    onehot = torch.nn.functional.one_hot(targets, probs.shape[1]).to(probs)
    return (probs - onehot).norm(dim=1)


def el2n_metric(module, logits, images, targets) -> torch.Tensor:
    return el2n_of(torch.softmax(logits.float(), dim=1), targets)


def per_sample_grad_norms(
    net: torch.nn.Module, loss, images, targets, chunk_size: int = GRAD_NORM_CHUNK_SIZE
):
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
        grads = vmap(grad(sample_loss), in_dims=(None, None, 0, 0), chunk_size=chunk_size)(
            params, buffers, images, targets
        )
    squared = sum(g.flatten(1).double().pow(2).sum(1) for g in grads.values())
    return squared.sqrt()


def grad_norm_metric(module, logits, images, targets) -> torch.Tensor:
    return per_sample_grad_norms(module.net, module.loss, images, targets)


METRICS = {"loss": loss_metric, "el2n": el2n_metric, "grad_norm": grad_norm_metric}
SCORE_NAMES = ("p_true", *METRICS, "random")


def random_hardness(num_samples: int, seed: int) -> torch.Tensor:
    """i.i.d. Uniform(0, 1), a pure function of (seed, N): the same on every rank and after a resume."""
    state = np.random.SeedSequence([seed, 0x52414E44]).generate_state(2, dtype=np.uint32)
    generator = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
    return torch.rand(num_samples, generator=generator, dtype=torch.float64)
