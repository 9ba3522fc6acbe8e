"""The report's numbers, per comparison set and per dataset, as plain dicts (also written to report.json)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sample_importance.report import events, metrics
from sample_importance.report.groups import ComparisonSet, Group, describe, format_value, varying_keys
from sample_importance.errors import UserError
from sample_importance.report.runs import WEIGHTS_FILE, Run

DEFAULT_EPS_TABLE = (0.0, 0.005, 0.01)
SPLIT_TAGS = {"all": "test/acc", "augmented": "test/acc_augmented", "other": "test/acc_other"}


def eps_key(eps: float) -> str:
    return f"{eps:g}"


def finite_or_none(value):
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value


def mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return float("nan"), float("nan")
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def extra_iterations(run: Run) -> float:
    value = run.setting("extra_iterations", 0)
    return float(value) if isinstance(value, (int, float)) else 0.0


def final_accuracy(run: Run) -> float:
    value = (run.summary or {}).get("final_test_acc")
    return float(value) if isinstance(value, (int, float)) else float(run.curve[1][-1])


# -- Table 1, Eq. (3), Fig. 1-2 ---------------------------------------------------------------
def group_row(comparison: ComparisonSet, group: Group, eps_table, count_extra: bool) -> dict:
    curves = group.curves
    acc, step = metrics.peak(curves.steps, curves.mean)
    final_mean, final_std = mean_std([final_accuracy(r) for r in group.runs])
    row = {
        "label": group.label, "baseline": group.is_baseline, "seeds": group.seeds,
        "missing_seeds": comparison.missing_seeds(group), "partial_runs": [str(r.folder) for r in group.partial],
        "max_mean_acc": acc, "std_at_max": metrics.std_at_peak(curves), "max_mean_step": step,
        "final_acc_mean": final_mean, "final_acc_std": final_std,
        "best_acc_per_seed": [float(a.max()) for a in curves.acc], "dropped_steps": curves.dropped_steps,
        "carried_steps": curves.carried_steps,
        "extra_iterations": [extra_iterations(r) for r in group.runs],
    }
    if comparison.baseline is None:
        return row
    baseline = metrics.Baseline.of(comparison.baseline.curves)
    extra = float(np.mean(row["extra_iterations"])) if count_extra else 0.0
    row["speedup"] = {}
    for eps in eps_table:
        t_n = metrics.iterations_to_reach(baseline, curves.steps, curves.mean, eps)
        per_seed = []
        for run, seed_acc in zip(group.runs, curves.acc):
            t_seed = metrics.iterations_to_reach(baseline, curves.steps, seed_acc, eps)
            seed_extra = extra_iterations(run) if count_extra else 0.0
            per_seed.append({"seed": run.seed, "t_n": t_seed,
                             "speedup": finite_or_none(metrics.speedup(baseline, t_seed, seed_extra))})
        row["speedup"][eps_key(eps)] = {
            "t_n": t_n, "speedup": finite_or_none(metrics.speedup(baseline, t_n, extra)), "per_seed": per_seed}
    row["speedup_curve"] = [finite_or_none(v) for v in
                            metrics.speedup_curve(baseline, curves.steps, curves.mean, extra_iterations=extra)]
    return row


def comparison_numbers(comparison: ComparisonSet, eps_table=DEFAULT_EPS_TABLE, count_extra: bool = False) -> dict:
    result = {"title": comparison.title, "baseline_note": comparison.baseline_note, "groups": []}
    if comparison.baseline is not None:
        baseline = metrics.Baseline.of(comparison.baseline.curves)
        result.update(A_b=baseline.acc, t_b=baseline.step, baseline=comparison.baseline.label)
    result["eps_grid"] = metrics.EPS_GRID.tolist()
    result["extra_iterations_counted"] = count_extra
    result["groups"] = [group_row(comparison, g, eps_table, count_extra) for g in comparison.groups if g.runs]
    result["groups_without_finished_runs"] = unfinished_groups(comparison)
    result["costs"] = [costs(g) for g in comparison.groups if g.runs]
    return result


def unfinished_groups(comparison: ComparisonSet) -> list[dict]:
    return [{"label": g.label, "partial_runs": [str(r.folder) for r in g.partial]}
            for g in comparison.groups if not g.runs]


def costs(group: Group) -> dict:
    def values(key):
        return [float(v) for v in ((r.summary or {}).get(key) for r in group.runs) if isinstance(v, (int, float))]

    scoring = [float(v) for v in (r.setting("scoring_time_s") for r in group.runs) if isinstance(v, (int, float))]
    return {"label": group.label, "runs": len(group.runs), "wall_time_s": values("wall_time_s"),
            "total_steps": values("total_steps"), "scoring_time_s": scoring,
            "extra_iterations": [extra_iterations(r) for r in group.runs]}


# -- Fig. 4: augmented and other classes -------------------------------------------------------
def augmented_classes(group: Group) -> list[int]:
    return list((group.runs[0].summary or {}).get("augmented_classes") or []) if group.runs else []


def split_curves(group: Group) -> dict[str, metrics.Curves] | None:
    """Test accuracy over all, augmented and other classes per seed (from the events), or None."""
    if not augmented_classes(group):
        return None
    per_split: dict[str, list] = {name: [] for name in SPLIT_TAGS}
    seeds = []
    for run in group.runs:
        if not run.events_dir.is_dir():
            continue
        scalars = events.read_run_scalars(run, list(SPLIT_TAGS.values()))
        if not all(tag in scalars for tag in SPLIT_TAGS.values()):
            continue
        seeds.append(run.seed)
        for name, tag in SPLIT_TAGS.items():
            per_split[name].append(scalars[tag])
    if not seeds:
        return None
    return {name: metrics.align(seeds, curves) for name, curves in per_split.items()}


def split_final(group: Group) -> dict:
    finals = {name: [] for name in ("acc", "acc_augmented", "acc_other")}
    for run in group.runs:
        final = (run.summary or {}).get("final_test") or {}
        for name in finals:
            if isinstance(final.get(name), (int, float)):
                finals[name].append(float(final[name]))
    return {name: mean_std(values) for name, values in finals.items()}


# -- Fig. 8 and 10: one hyperparameter at a time ----------------------------------------------
def sensitivity_panels(comparison: ComparisonSet) -> list[tuple[str, list[tuple[str, list[Group]]]]]:
    """For each setting that varies between groups of the same method: panels of groups that differ only in it."""
    result = []
    methods: dict[str, list[Group]] = {}
    for group in comparison.groups:
        if group.runs and not group.is_baseline:
            methods.setdefault(str(group.settings.get("sampler")), []).append(group)
    for method_groups in methods.values():
        keys = [k for k in varying_keys([g.settings for g in method_groups]) if k not in ("sampler",)]
        for key in keys:
            others = [k for k in keys if k != key]
            panels: dict[str, list[Group]] = {}
            for group in method_groups:
                if key in group.settings:
                    panels.setdefault(describe(group.settings, others), []).append(group)
            panels = {fixed: gs for fixed, gs in panels.items() if len(gs) > 1}
            if panels:
                ordered = [(fixed, sorted(gs, key=lambda g: _sortable(g.settings[key])))
                           for fixed, gs in panels.items()]
                result.append((key, ordered))
    return result


def _sortable(value):
    return (0, value, "") if isinstance(value, (int, float)) and not isinstance(value, bool) else (1, 0, str(value))


# -- Section 4.2, Appendix B: sample and class importance ---------------------------------------
@dataclass
class GroupWeights:
    group: Group
    seeds: list
    labels: np.ndarray  # (M,) by sample index
    weights: np.ndarray  # (S, M) by sample index
    class_names: list[str]
    augmented: list[int]
    folders: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return max(len(self.class_names), int(self.labels.max()) + 1)

    def class_importance(self) -> np.ndarray:
        """(S, C): each seed's share of the weight per class."""
        return np.stack([metrics.class_importance(w, self.labels, self.num_classes) for w in self.weights])


def load_weights(group: Group) -> GroupWeights | None:
    """The group's ``sample_weights.pt`` files, ordered by sample index; None when no run has one."""
    import torch

    from sample_importance.torch_files import read_torch_file

    seeds, labels, rows, folders, notes = [], None, [], [], []
    for run in group.runs:
        if run.weights_file is None:
            continue
        try:
            record = read_torch_file(run.weights_file)
            order = torch.as_tensor(record["index"]).argsort()
            run_labels = torch.as_tensor(record["label"])[order].numpy()
            run_weights = torch.as_tensor(record["weight"]).double()[order].numpy()
        except (UserError, KeyError, TypeError, IndexError, RuntimeError) as error:  # one bad file: that run is left out
            reason = str(error) if isinstance(error, UserError) else f"no usable index, label and weight ({error!r})"
            run.unreadable.append(f"{WEIGHTS_FILE} left out: {reason}")
            continue
        if labels is not None and (len(run_labels) != len(labels) or not np.array_equal(run_labels, labels)):
            notes.append(f"{run.folder}: its samples differ from the group's first run; left out")
            continue
        labels = run_labels
        seeds.append(run.seed)
        rows.append(run_weights)
        folders.append(run.folder)
    if not rows:
        return None
    summary = group.runs[0].summary or {}
    return GroupWeights(group, seeds, labels, np.stack(rows), list(summary.get("class_names") or []),
                        list(summary.get("augmented_classes") or []), folders, notes)


def dataset_key(group: Group) -> str:
    return format_value(sorted((k, format_value(v)) for k, v in group.settings.items()
                               if k == "dataset" or k.startswith("dataset.")))


def importance_numbers(bucket: list[GroupWeights]) -> dict:
    """Class importance over seeds, rho between seeds per group, rho between groups' mean weights."""
    groups = []
    for item in bucket:
        shares = item.class_importance()
        mean, low, high = metrics.spread(shares)
        groups.append({
            "label": item.group.label, "seeds": item.seeds, "folders": [str(f) for f in item.folders],
            "class_importance_per_seed": shares.tolist(), "class_importance_mean": mean.tolist(),
            "class_importance_p16": low.tolist(), "class_importance_p84": high.tolist(),
            "spearman_between_seeds": finite_or_none(metrics.mean_pairwise_spearman(list(item.weights))),
            "notes": item.notes,
        })
    between = [[None] * len(bucket) for _ in bucket]
    for i, a in enumerate(bucket):
        for j, b in enumerate(bucket):
            if len(a.labels) == len(b.labels):
                between[i][j] = finite_or_none(metrics.spearman(a.weights.mean(0), b.weights.mean(0)))
    off_diagonal = [between[i][j] for i in range(len(bucket)) for j in range(len(bucket))
                    if i < j and between[i][j] is not None]
    first = bucket[0]
    return {"class_names": first.class_names or [str(c) for c in range(first.num_classes)],
            "augmented_classes": first.augmented, "groups": groups, "spearman_between_groups": between,
            "mean_spearman_between_groups": float(np.mean(off_diagonal)) if off_diagonal else None}
