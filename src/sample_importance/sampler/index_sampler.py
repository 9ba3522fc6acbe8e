"""The one sampler of a run: it owns the draw and the per-sample weights.

Every epoch's index sequence is a pure function of (seed, epoch, weights): the
global sequence is built the same way on every rank and each rank keeps the
slice ``[rank::num_replicas]``. That makes the draw exact under DDP, identical
for any world size, immune to ``__iter__`` being called twice, and
reproducible after a resume (the weights travel in the checkpoint, nothing
comes from the global RNG).

It subclasses ``DistributedSampler`` because Lightning then leaves it alone
instead of replacing or wrapping it (Lightning replaces a RandomSampler and wraps
any other sampler in DistributedSamplerWrapper, which shards a rank-aware draw
twice or lets each rank draw from its own global RNG). Its length
never changes: ``ceil(N / num_replicas)`` indices per rank and epoch, whether
the draw is uniform or weighted, so the epoch length and the learning-rate
schedule are the same before and after the switch. The one exception is a
uniform draw restricted to a subset (``set_subset``, InfoBatch's pruned epochs),
which is shorter on purpose.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DistributedSampler

from sample_importance.errors import UserError

# Draws are produced in chunks, each from its own generator seeded by
# (seed, epoch, chunk): memory stays bounded for huge N and no Python list of
# the whole epoch is ever built.
CHUNK_SIZE = 1 << 20


def chunk_generator(seed: int, epoch: int, chunk: int) -> torch.Generator:
    state = np.random.SeedSequence([seed, epoch, chunk]).generate_state(2, dtype=np.uint32)
    generator = torch.Generator()
    generator.manual_seed(int(state[0]) << 32 | int(state[1]))
    return generator


def scaled_to_max(weights: torch.Tensor) -> torch.Tensor:
    """``weights / max(weights)`` in float64: the same distribution, with sums, squares and cumulative
    sums that stay finite for any finite weights (two weights of 1e308 sum to infinity)."""
    weights = weights.double()
    top = weights.max()
    return weights / top if top > 0 else weights


# Stream tags: generators seeded by (seed, epoch, position) for augmentation never coincide with
# the draw's own (seed, epoch, chunk) generators.
AUGMENTATION_STREAM = 0x41554720


class Draw(NamedTuple):
    """One training draw: sample ``index`` at ``position`` of epoch ``epoch``'s global sequence, run ``seed``.

    The training loader yields these instead of bare indices, and the dataset seeds the
    augmentation from them (``augmentation_generator``): the augmentation is then a pure function
    of where the draw sits in the run, like the draw itself. Nothing else that uses random
    numbers (scoring passes, evaluation loaders, logging) can shift it, and a resume, mid-epoch
    included, repeats it exactly.
    """

    index: int
    seed: int
    epoch: int
    position: int


def stream_seed(*values: int) -> int:
    """A 64-bit seed that mixes ``values``; a few microseconds (``SeedSequence`` takes ten times longer),
    cheap enough for every batch and every step."""
    digest = hashlib.blake2b(struct.pack(f"<{len(values)}q", *values), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def augmentation_seed(draw: Draw) -> int:
    return stream_seed(draw.seed, draw.epoch, draw.position, AUGMENTATION_STREAM)


def augmentation_generator(draw: Draw) -> torch.Generator:
    """A CPU generator for the augmentation of the batch (or sample) that starts with ``draw``."""
    return torch.Generator().manual_seed(augmentation_seed(draw))


class WeightError(ValueError):
    """Weights that cannot define a sampling distribution."""


def check_weights(weights: torch.Tensor, num_samples: int) -> torch.Tensor:
    weights = torch.as_tensor(weights).detach().to("cpu", torch.float64).flatten()
    if weights.numel() != num_samples:
        raise WeightError(f"expected {num_samples} weights (one per training sample), got {weights.numel()}")
    if not torch.isfinite(weights).all():
        raise WeightError(f"{int((~torch.isfinite(weights)).sum())} weights are NaN or infinite")
    if (weights < 0).any():
        raise WeightError(f"{int((weights < 0).sum())} weights are negative")
    if not (weights > 0).any():
        raise WeightError("all weights are zero")
    return weights


class IndexSampler(DistributedSampler):
    """Uniform without replacement until weights are set, then weighted with replacement.

    Args:
        num_samples: N, the size of the training set.
        num_replicas, rank: the DDP world size and this process's rank.
        seed: the run's seed; epoch ``e`` draws from generators seeded by (seed, e, chunk).
    """

    def __init__(self, num_samples: int, num_replicas: int = 1, rank: int = 0, seed: int = 0) -> None:
        if num_samples <= 0:
            raise ValueError("the training set is empty")
        # DistributedSampler.__init__ wants a dataset only for len(); keep ours explicit.
        self.dataset_size = int(num_samples)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"rank {rank} outside [0, {num_replicas})")
        self.seed = int(seed)
        self.epoch = 0
        self.shuffle = True
        self.drop_last = False
        self.num_samples = math.ceil(self.dataset_size / self.num_replicas)  # per rank
        self.total_size = self.num_samples * self.num_replicas
        self.weights: torch.Tensor | None = None
        self._cdf: torch.Tensor | None = None
        self.skip_epoch: int | None = None  # see resume_mid_epoch
        self.skip_per_rank = 0
        # Weighted draws per chunk of this many global indices (None: CHUNK_SIZE). Each chunk reads
        # the weights when it is drawn, so a sampler callback that updates them every batch sets it to the
        # global batch size: batch t is then drawn from the weights of that moment (see online.py).
        self.draw_chunk_size: int | None = None
        # Uniform draws over these sample indices only (None: all); InfoBatch's pruned epochs.
        self.subset: torch.Tensor | None = None

    # -- the state a checkpoint carries -------------------------------------------------
    @property
    def mode(self) -> str:
        return "uniform" if self.weights is None else "weighted"

    def set_weights(self, weights: torch.Tensor | None) -> None:
        """Switch to weighted draws with replacement (``None`` switches back to uniform)."""
        if weights is None:
            self.weights, self._cdf = None, None
            return
        weights = check_weights(weights, self.dataset_size)
        self.weights = weights
        cdf = torch.cumsum(scaled_to_max(weights), 0)
        self._cdf = cdf / cdf[-1]

    def set_subset(self, indices: torch.Tensor | None) -> None:
        """Draw each uniform epoch as a permutation of ``indices`` only (``None``: of all samples).

        The epoch is then shorter: ``len(self)`` follows the subset (``num_samples`` stays the
        full per-rank length); the loader must be rebuilt to see it (Lightning caches a loader's
        length: the shorter epoch would otherwise end early, without its epoch-end validation).
        """
        if indices is None:
            self.subset = None
            return
        if self.weights is not None:
            raise ValueError("a subset restricts uniform draws; this sampler draws by weight")
        indices = torch.as_tensor(indices).detach().to("cpu", torch.int64).flatten()
        if len(indices) < self.num_replicas or len(indices.unique()) != len(indices):
            raise ValueError(f"a subset needs at least {self.num_replicas} distinct indices")
        if indices.min() < 0 or indices.max() >= self.dataset_size:
            raise ValueError(f"subset indices must lie in [0, {self.dataset_size})")
        self.subset = indices

    def state_dict(self) -> dict:
        return {
            "seed": self.seed,
            "dataset_size": self.dataset_size,
            "weights": self.weights,
            "subset": self.subset,
        }

    def load_state_dict(self, state: dict) -> None:
        if state["dataset_size"] != self.dataset_size:
            raise UserError(
                f"checkpoint's sampler covers {state['dataset_size']} samples, this training set has "
                f"{self.dataset_size}: resume with the same dataset config"
            )
        self.seed = int(state["seed"])
        self.set_weights(state["weights"])
        self.set_subset(state.get("subset"))

    # -- the draw -----------------------------------------------------------------------
    def global_chunks(self, epoch: int | None = None) -> Iterator[torch.Tensor]:
        """The epoch's global sequence (``total_size`` int64 indices) in chunks."""
        epoch = self.epoch if epoch is None else epoch
        if self._cdf is None:
            members = self.subset
            count = self.dataset_size if members is None else len(members)
            order = torch.randperm(count, generator=chunk_generator(self.seed, epoch, 0))
            if members is not None:
                order = members[order]
            # repeat the start, as DistributedSampler does
            padding = self.num_replicas * math.ceil(count / self.num_replicas) - count
            order = torch.cat([order, order[:padding]]) if padding else order
            yield from order.split(CHUNK_SIZE)
            return
        chunk_size = self.draw_chunk_size or CHUNK_SIZE
        for chunk, start in enumerate(range(0, self.total_size, chunk_size)):
            size = min(chunk_size, self.total_size - start)
            uniforms = torch.rand(
                size, generator=chunk_generator(self.seed, epoch, chunk), dtype=torch.float64
            )
            # Searching the uniforms in sorted order walks the cdf front to back, so a large cdf
            # (800 MB at N = 1e8) stays in cache: about 3x faster there than searching them in
            # drawn order, and scattering the results back gives exactly the same sequence.
            # right=True: a zero-weight sample (a flat step in the cdf) can never be hit.
            sorted_uniforms, order = torch.sort(uniforms)
            indices = torch.empty(size, dtype=torch.int64)
            indices[order] = torch.searchsorted(self._cdf, sorted_uniforms, right=True)
            yield indices.clamp_(max=self.dataset_size - 1)

    def global_sequence(self, epoch: int | None = None) -> torch.Tensor:
        return torch.cat(list(self.global_chunks(epoch)))

    def resume_mid_epoch(self, epoch: int, samples_done_per_rank: int) -> None:
        """After a mid-epoch resume: epoch ``epoch`` starts after the samples this rank already used.

        Without it the loader would replay the start of the interrupted epoch. Other epochs are
        unaffected, and the skipped part is the same global sequence as the uninterrupted run's.
        """
        self.skip_epoch, self.skip_per_rank = int(epoch), int(samples_done_per_rank)

    def _rank_slices(self) -> Iterator[tuple[range, torch.Tensor]]:
        """(global positions, indices) of this rank's draws in the current epoch, after any skipped ones."""
        offset = 0  # position of the current chunk inside the global sequence
        to_skip = self.skip_per_rank if self.epoch == self.skip_epoch else 0
        for chunk in self.global_chunks():
            first = (self.rank - offset) % self.num_replicas
            mine = chunk[first :: self.num_replicas]
            start = offset + first
            offset += len(chunk)
            if to_skip >= len(mine):
                to_skip -= len(mine)
                continue
            yield range(start + to_skip * self.num_replicas, offset, self.num_replicas), mine[to_skip:]
            to_skip = 0

    def __iter__(self) -> Iterator[int]:
        for _, indices in self._rank_slices():
            yield from indices.tolist()

    def draws(self) -> Iterator[Draw]:
        """The same indices as ``iter(self)``, each with its place in the run (see ``Draw``)."""
        seed, epoch = self.seed, self.epoch
        for positions, indices in self._rank_slices():
            for position, index in zip(positions, indices.tolist()):
                yield Draw(index, seed, epoch, position)

    def __len__(self) -> int:
        if self.subset is not None and self._cdf is None:
            return math.ceil(len(self.subset) / self.num_replicas)
        return self.num_samples


class TrainingDraws(DistributedSampler):
    """The training loader's view of an ``IndexSampler``: its draws as ``Draw`` tuples.

    Everything else (epoch, weights, length, ``set_epoch``) is the wrapped sampler's, so
    sampler callbacks keep working on ``datamodule.sampler``. A ``DistributedSampler`` so that
    Lightning leaves it in place, as it does the sampler itself.
    """

    def __init__(self, sampler: IndexSampler) -> None:
        self.sampler = sampler

    def __iter__(self) -> Iterator[Draw]:
        return self.sampler.draws()

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __getattr__(self, name: str):
        if name == "sampler":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.sampler, name)
