"""Item 5: one epoch's draws (N with replacement by N float64 weights) by the IndexSampler against
torch.multinomial, which refuses more than 2^24 categories."""

from __future__ import annotations

import time
from functools import partial

import torch

from benchmarks.common import median

MULTINOMIAL_LIMIT = 2**24


def time_it(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(quick: bool = False) -> dict:
    from sample_importance.sampler.index_sampler import IndexSampler

    sizes = [10**4, 10**5] if quick else [10**6, 10**7, 10**8]
    repeats = 3
    rows = []
    for n in sizes:
        weights = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        sampler = IndexSampler(n, seed=0)
        sampler.set_weights(weights)
        reps = repeats if n <= 10**6 else 2 if n <= 10**7 else 1  # multinomial: about 9 s at 1e7
        ours, theirs = [], []
        for r in range(reps):  # interleaved
            ours.append(time_it(partial(sampler.global_sequence, r)))
            if n <= MULTINOMIAL_LIMIT:
                theirs.append(time_it(partial(torch.multinomial, weights, n, replacement=True)))
        row = {
            "n": n,
            "repeats": reps,
            "index_sampler_s": ours,
            "index_sampler_draws_per_s": n / median(ours),
        }
        if theirs:
            row.update(
                multinomial_s=theirs,
                multinomial_draws_per_s=n / median(theirs),
                index_sampler_vs_multinomial_speed=median(theirs) / median(ours),
            )
        else:
            row["multinomial"] = (
                f"not possible: torch.multinomial takes at most 2^24 = {MULTINOMIAL_LIMIT} categories"
            )
        rows.append(row)
        del weights, sampler
    return {"rows": rows}
