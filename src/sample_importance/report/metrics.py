"""The paper's numbers on plain arrays: Section 2 (A_b, t_b, Eq. 3), Appendix A.2.1, Section 4.2.

Nothing here reads files or draws; every function takes numpy arrays and is tested by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

# Appendix A.2.1: the mean with a band between the 16th and 84th percentiles over seeds.
BAND_PERCENTILES = (16.0, 84.0)
# Fig. 2: tolerances from 0 to 0.01.
EPS_GRID = np.round(np.linspace(0.0, 0.01, 21), 6)
# "Reaches A_b - eps" must hold when the accuracy equals it exactly; subtracting eps in float64
# can land one ulp above it.
REACH_SLACK = 1e-12


@dataclass
class Curves:
    """Accuracy of several runs (one per seed) on one grid of iterations."""

    steps: np.ndarray  # (T,) training iterations, increasing
    acc: np.ndarray  # (S, T)
    seeds: list[int]
    dropped_steps: int = 0  # iterations outside the span every run covers, left out of the statistics
    carried_steps: int = 0  # iterations some runs did not log: those runs' latest earlier accuracy is used

    @property
    def mean(self) -> np.ndarray:
        return self.acc.mean(axis=0)

    def band(self) -> tuple[np.ndarray, np.ndarray]:
        low, high = np.percentile(self.acc, BAND_PERCENTILES, axis=0)
        return low, high


def align(seeds: list[int], curves: list[tuple[np.ndarray, np.ndarray]]) -> Curves:
    """Stack per-run curves ``(steps, acc)`` (one per seed) on one grid of iterations.

    Runs of the same schedule log at the same iterations and the grid is those. Runs whose epochs
    differ in length (InfoBatch's pruned epochs) log at different ones: the grid is every logged
    iteration from the latest first log to the earliest last log, and a run that did not log at
    one of them counts with its latest earlier accuracy (the model it last evaluated).
    """
    if not curves:
        raise ValueError("no curves to align")
    curves = [(np.asarray(steps, dtype=np.int64), np.asarray(acc, dtype=float)) for steps, acc in curves]
    union = np.unique(np.concatenate([steps for steps, _ in curves]))
    start, end = max(steps[0] for steps, _ in curves), min(steps[-1] for steps, _ in curves)
    grid = union[(union >= start) & (union <= end)]
    rows, carried = [], np.zeros(len(grid), dtype=bool)
    for steps, acc in curves:
        latest = np.searchsorted(steps, grid, side="right") - 1  # the last log at or before each grid step
        carried |= steps[latest] != grid
        rows.append(acc[latest])
    acc = np.asarray(rows, dtype=float).reshape(len(curves), len(grid))
    return Curves(grid, acc, list(seeds), len(union) - len(grid), int(carried.sum()))


def peak(steps: np.ndarray, acc: np.ndarray) -> tuple[float, int]:
    """(A, t): the highest accuracy of a curve and the first iteration that reaches it."""
    index = int(np.argmax(acc))  # argmax returns the first of equal maxima
    return float(acc[index]), int(steps[index])


def std_at_peak(curves: Curves) -> float:
    """Standard deviation over seeds (ddof=1; 0 for one seed) at the iteration where the mean peaks."""
    if curves.acc.shape[0] < 2:
        return 0.0
    index = int(np.argmax(curves.mean))
    return float(np.std(curves.acc[:, index], ddof=1))


def first_reach(steps: np.ndarray, acc: np.ndarray, target: float, limit: int | None = None) -> int | None:
    """Eq. (3): the first iteration t (<= limit) where acc >= target, or None."""
    for step, value in zip(np.asarray(steps).tolist(), np.asarray(acc).tolist()):
        if limit is not None and step > limit:
            return None
        if value >= target - REACH_SLACK:
            return int(step)
    return None


@dataclass
class Baseline:
    """The reference of Eq. (3): A_b, the maximum mean accuracy, first reached at iteration t_b."""

    acc: float
    step: int

    @classmethod
    def of(cls, curves: Curves) -> Baseline:
        acc, step = peak(curves.steps, curves.mean)
        return cls(acc, step)


def iterations_to_reach(baseline: Baseline, steps: np.ndarray, acc: np.ndarray, eps: float) -> int | None:
    """t_n for one tolerance: first iteration t <= t_b with acc >= A_b - eps."""
    return first_reach(steps, acc, baseline.acc - eps, limit=baseline.step)


def speedup(baseline: Baseline, t_n: int | None, extra_iterations: float = 0.0) -> float:
    """t_b / (t_n + iterations spent before training); NaN when A_b - eps is not reached by t_b."""
    if t_n is None:
        return float("nan")
    return baseline.step / (t_n + extra_iterations)


def speedup_curve(
    baseline: Baseline, steps: np.ndarray, acc: np.ndarray, eps_values=EPS_GRID, extra_iterations: float = 0.0
) -> np.ndarray:
    return np.array(
        [
            speedup(baseline, iterations_to_reach(baseline, steps, acc, eps), extra_iterations)
            for eps in eps_values
        ]
    )


# -- sample and class importance (Section 4.2, Appendix B) ----------------------------------
def class_importance(weights, labels, num_classes: int) -> np.ndarray:
    """w-bar^c = sum of the weights of class c over the sum of all weights (the paper's class importance).

    The weights are divided by their largest first: the same shares, and sums that stay finite for
    any finite weights (two weights of 1e308 sum to infinity).
    """
    weights = np.asarray(weights, dtype=np.float64)
    top = weights.max() if weights.size else 0.0
    totals = np.bincount(
        np.asarray(labels, dtype=np.int64),
        weights=weights / top if top > 0 else weights,
        minlength=num_classes,
    )
    return totals / totals.sum()


def spread(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, 16th and 84th percentiles over the first axis (seeds)."""
    values = np.asarray(values, dtype=float)
    low, high = np.percentile(values, BAND_PERCENTILES, axis=0)
    return values.mean(axis=0), low, high


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n; tied values share the mean of their ranks."""
    _, inverse, counts = np.unique(np.asarray(values, dtype=float), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2.0)[inverse]


def spearman(a, b) -> float:
    """Spearman's rank correlation: Pearson's on the average ranks.

    Identical vectors give 1, constant ones included (the ranks agree exactly: gamma = 0 weights
    of two seeds, or of two epochs for ``burn_in_epochs=auto``, which then switches); otherwise a
    constant side has no ranking to correlate and gives NaN.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if np.array_equal(a, b):
        return 1.0
    ranks_a, ranks_b = average_ranks(a), average_ranks(b)
    if ranks_a.std() == 0 or ranks_b.std() == 0:
        return float("nan")
    return float(np.corrcoef(ranks_a, ranks_b)[0, 1])


def mean_pairwise_spearman(weights_by_seed: list[np.ndarray]) -> float:
    """The captions of Fig. 3 and 14: mean rho over every pair of seeds; NaN with fewer than two."""
    pairs = [spearman(a, b) for a, b in combinations(weights_by_seed, 2)]
    return float(np.mean(pairs)) if pairs else float("nan")


def sorted_by_mean(weights_by_seed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fig. 13: samples in ascending order of their mean weight over seeds -> (mean, per-seed) sorted."""
    weights_by_seed = np.asarray(weights_by_seed, dtype=float)
    mean = weights_by_seed.mean(axis=0)
    order = np.argsort(mean, kind="stable")
    return mean[order], weights_by_seed[:, order]
