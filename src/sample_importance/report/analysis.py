"""The report's numbers, per comparison set and per dataset, as plain dicts (also written to report.json)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sample_importance.errors import UserError
from sample_importance.report import events, metrics
from sample_importance.report.groups import ComparisonSet, Group, format_value, varying_keys
from sample_importance.report.names import setting_name
from sample_importance.report.runs import WEIGHTS_FILE, Run

DEFAULT_EPS_TABLE = (0.0, 0.005, 0.01)
# The tolerance of the headlines and the sensitivity summaries.
HEADLINE_EPS = 0.005
# Fewer seeds than this: a 16-84% band is drawn but says little; a test is not attempted.
MIN_SEEDS = 3
SPLIT_TAGS = {"all": "test/acc", "augmented": "test/acc_augmented", "other": "test/acc_other"}


def eps_key(eps: float) -> str:
    return f"{eps:g}"


def finite_or_none(value):
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value


def mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return float("nan"), float("nan")
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(
        values
    ) > 1 else None  # one: no spread


def extra_iterations(run: Run) -> float:
    value = run.setting("extra_iterations", 0)
    return float(value) if isinstance(value, (int, float)) else 0.0


def eval_times(run: Run) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, seconds since the run started fitting) of each evaluation, from the events; cached."""
    if not hasattr(run, "_eval_times"):
        run._eval_times = events.read_eval_times(run.events_dir) if run.events_dir.is_dir() else None
    return run._eval_times


def seconds_at(run: Run, step: int | None) -> float | None:
    """Seconds until the run's last evaluation at or before ``step`` (the model its curve shows there)."""
    times = eval_times(run)
    if step is None or times is None or len(times[0]) == 0 or step < times[0][0]:
        return None
    return float(times[1][np.searchsorted(times[0], step, side="right") - 1])


def mean_seconds_at(runs: list[Run], step: int | None) -> float | None:
    values = [v for r in runs if (v := seconds_at(r, step)) is not None]
    return float(np.mean(values)) if values and len(values) == len(runs) else None


def batch_size(group: Group) -> int | None:
    value = group.settings.get("schedule.batch_size")
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def machine(run: Run) -> str:
    """Where a run's times come from: host CPU or GPU name, device, torch (older runs lack the host)."""
    summary = run.summary or {}
    host = summary.get("host") or {}
    versions = summary.get("versions") or {}
    parts = []
    if host.get("gpu"):
        parts.append(str(host["gpu"]))
    if host.get("cpu"):
        parts.append(
            str(host["cpu"])
            + (f", {host['cpu_count']} CPUs" if host.get("cpu_count") else "")
            + (f", {host['threads']} torch threads" if host.get("threads") else "")
        )
    if host.get("name"):
        parts.append(f"host {host['name']}")
    if not host:
        parts.append("host not recorded")
    parts.append(f"device {summary.get('device', '?')}")
    if versions.get("torch"):
        parts.append(f"torch {versions['torch']}")
    return "; ".join(parts)


def final_accuracy(run: Run) -> float:
    value = (run.summary or {}).get("final_test_acc")
    return float(value) if isinstance(value, (int, float)) else float(run.curve[1][-1])


# -- Table 1, Eq. (3), Fig. 1-2 ---------------------------------------------------------------
def group_row(comparison: ComparisonSet, group: Group, eps_table, count_extra: bool) -> dict:
    curves = group.curves
    acc, step = metrics.peak(curves.steps, curves.mean)
    final_mean, final_std = mean_std([final_accuracy(r) for r in group.runs])
    row = {
        "label": group.label,
        "config": group.config_label,
        "baseline": group.is_baseline,
        "seeds": group.seeds,
        "missing_seeds": comparison.missing_seeds(group),
        "partial_runs": [str(r.folder) for r in group.partial],
        "max_mean_acc": acc,
        "std_at_max": metrics.std_at_peak(curves),
        "max_mean_step": step,
        "final_acc_mean": final_mean,
        "final_acc_std": final_std,
        "best_acc_per_seed": [float(a.max()) for a in curves.acc],
        "dropped_steps": curves.dropped_steps,
        "carried_steps": curves.carried_steps,
        "extra_iterations": [extra_iterations(r) for r in group.runs],
    }
    if comparison.baseline is None:
        return row
    baseline = metrics.Baseline.of(comparison.baseline.curves)
    baseline_seconds = mean_seconds_at(comparison.baseline.runs, baseline.step)
    extra = float(np.mean(row["extra_iterations"])) if count_extra else 0.0
    batch = batch_size(group)
    row["speedup"] = {}
    for eps in sorted(set(eps_table) | {HEADLINE_EPS}):
        t_n = metrics.iterations_to_reach(baseline, curves.steps, curves.mean, eps)
        per_seed = []
        for run, seed_acc in zip(group.runs, curves.acc):
            t_seed = metrics.iterations_to_reach(baseline, curves.steps, seed_acc, eps)
            seed_extra = extra_iterations(run) if count_extra else 0.0
            per_seed.append(
                {
                    "seed": run.seed,
                    "t_n": t_seed,
                    "speedup": finite_or_none(metrics.speedup(baseline, t_seed, seed_extra)),
                    "seconds": seconds_at(run, t_seed),
                }
            )
        seconds = mean_seconds_at(group.runs, t_n)
        row["speedup"][eps_key(eps)] = {
            "t_n": t_n,
            "speedup": finite_or_none(metrics.speedup(baseline, t_n, extra)),
            "per_seed": per_seed,
            "samples": None if t_n is None or batch is None else int((t_n + extra) * batch),
            "seconds": seconds,
            "speedup_time": (
                baseline_seconds / seconds if seconds and baseline_seconds is not None else None
            ),
        }
    row["speedup_curve"] = [
        finite_or_none(v)
        for v in metrics.speedup_curve(baseline, curves.steps, curves.mean, extra_iterations=extra)
    ]
    return row


def comparison_numbers(
    comparison: ComparisonSet, eps_table=DEFAULT_EPS_TABLE, count_extra: bool = False
) -> dict:
    result = {"title": comparison.title, "baseline_note": comparison.baseline_note, "groups": []}
    if comparison.baseline is not None:
        baseline = metrics.Baseline.of(comparison.baseline.curves)
        result.update(
            A_b=baseline.acc,
            t_b=baseline.step,
            baseline=comparison.baseline.label,
            t_b_seconds=mean_seconds_at(comparison.baseline.runs, baseline.step),
            t_b_samples=None
            if batch_size(comparison.baseline) is None
            else baseline.step * batch_size(comparison.baseline),
        )
    result["eps_grid"] = metrics.EPS_GRID.tolist()
    result["eps_table"] = [eps_key(e) for e in eps_table]
    result["extra_iterations_counted"] = count_extra
    result["groups"] = [group_row(comparison, g, eps_table, count_extra) for g in comparison.groups if g.runs]
    result["groups_without_finished_runs"] = unfinished_groups(comparison)
    result["costs"] = [costs(g) for g in comparison.groups if g.runs]
    result["machines"] = sorted({machine(r) for g in comparison.groups for r in g.runs})
    result["markers"] = markers(comparison)
    result["headline"] = headline(comparison, result)
    return result


def markers(comparison: ComparisonSet) -> dict:
    """Iterations of the learning-rate decays (the set's schedule) and of each group's switch (E)."""
    reference = comparison.baseline or next(g for g in comparison.groups if g.runs)
    steps_per_epoch = (reference.runs[0].summary or {}).get("steps_per_epoch")
    milestones = reference.settings.get("schedule.lr_milestones_epochs") or ()
    decays = []
    if isinstance(steps_per_epoch, (int, float)) and isinstance(milestones, (list, tuple)):
        decays = [int(m * steps_per_epoch) for m in milestones if isinstance(m, (int, float))]
    switches = {}
    for group in comparison.groups:
        if not group.runs:
            continue
        epochs = [r.setting("switched_after_epoch", r.setting("burn_in_epochs_chosen")) for r in group.runs]
        if not all(isinstance(e, (int, float)) for e in epochs):  # not recorded: the configured E, if any
            configured = group.settings.get("sampler.burn_in_epochs")
            if not isinstance(configured, (int, float)) or isinstance(configured, bool):
                continue
            epochs = [configured] * len(group.runs)
        per_epoch = [(r.summary or {}).get("steps_per_epoch") for r in group.runs]
        if all(isinstance(n, (int, float)) for n in per_epoch):
            switches[group.label] = sorted({int(e * n) for e, n in zip(epochs, per_epoch)})
    return {"lr_decays": decays, "switches": switches}


def paired_or_welch(group: dict, baseline: dict) -> dict:
    """Is the group's per-seed best accuracy different from the baseline's by more than the seed noise?

    Seeds both groups ran are paired (a paired t-test on the differences); without three shared
    seeds, Welch's t-test on the two samples when each has three; below that no test is made.
    """
    from scipy import stats

    mine = dict(zip(group["seeds"], group["best_acc_per_seed"]))
    theirs = dict(zip(baseline["seeds"], baseline["best_acc_per_seed"]))
    shared = [s for s in mine if s in theirs and s is not None]
    result = {
        "statistic": "per-seed best test accuracy",
        "n": None,
        "test": None,
        "mean_difference": None,
        "ci95": None,
        "p_value": None,
        "exceeds_seed_noise": None,
    }
    if len(shared) >= MIN_SEEDS:
        diffs = np.array([mine[s] - theirs[s] for s in shared])
        result.update(
            test="paired t-test over shared seeds", n=len(shared), mean_difference=float(diffs.mean())
        )
        if np.ptp(diffs) == 0:  # the same difference on every seed: no spread to test against
            result.update(
                ci95=[float(diffs[0])] * 2,
                p_value=0.0 if diffs[0] else 1.0,
                exceeds_seed_noise=bool(diffs[0] != 0),
            )
            return result
        half = stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs))
        result.update(
            ci95=[float(diffs.mean() - half), float(diffs.mean() + half)],
            p_value=float(stats.ttest_rel([mine[s] for s in shared], [theirs[s] for s in shared]).pvalue),
        )
    elif len(mine) >= MIN_SEEDS and len(theirs) >= MIN_SEEDS:
        a, b = np.array(list(mine.values())), np.array(list(theirs.values()))
        result.update(
            test="Welch's t-test (too few shared seeds to pair)",
            n=min(len(a), len(b)),
            mean_difference=float(a.mean() - b.mean()),
        )
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        if va + vb == 0:
            result.update(
                ci95=[result["mean_difference"]] * 2,
                exceeds_seed_noise=bool(a.mean() != b.mean()),
                p_value=0.0 if a.mean() != b.mean() else 1.0,
            )
            return result
        dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
        half = stats.t.ppf(0.975, dof) * np.sqrt(va + vb)
        result.update(
            ci95=[result["mean_difference"] - half, result["mean_difference"] + half],
            p_value=float(stats.ttest_ind(a, b, equal_var=False).pvalue),
        )
    else:
        result["n"] = len(shared) if shared else min(len(mine), len(theirs))
        result["mean_difference"] = float(np.mean(list(mine.values())) - np.mean(list(theirs.values())))
        return result
    result["exceeds_seed_noise"] = bool(result["ci95"][0] > 0 or result["ci95"][1] < 0)
    return result


def headline(comparison: ComparisonSet, numbers: dict) -> dict:
    """The set's best group (highest maximum mean accuracy, baseline excluded), its speed-up at
    eps = HEADLINE_EPS with the per-seed range, and its accuracy difference to the baseline."""
    rows = numbers["groups"]
    competitors = [r for r in rows if not r["baseline"]]
    result = {"eps": eps_key(HEADLINE_EPS), "groups": len(rows), "baseline": numbers.get("baseline")}
    if not competitors:
        result["best"] = None
        return result
    best = max(
        competitors,
        key=lambda r: (
            r["max_mean_acc"],
            (r.get("speedup") or {}).get(eps_key(HEADLINE_EPS), {}).get("speedup") or 0.0,
        ),
    )
    result.update(best=best["label"], max_mean_acc=best["max_mean_acc"], seeds=len(best["seeds"]))
    if "speedup" not in best:
        return result
    at = best["speedup"][eps_key(HEADLINE_EPS)]
    per_seed = [s["speedup"] for s in at["per_seed"]]
    reached = [v for v in per_seed if v is not None]
    result.update(
        speedup=at["speedup"],
        speedup_time=at["speedup_time"],
        speedup_seed_range=[min(reached), max(reached)] if reached else None,
        seeds_not_reached=len(per_seed) - len(reached),
        accuracy_difference=best["max_mean_acc"] - numbers["A_b"],
    )
    baseline_row = next(r for r in rows if r["baseline"])
    result["test"] = paired_or_welch(best, baseline_row)
    return result


def unfinished_groups(comparison: ComparisonSet) -> list[dict]:
    return [
        {"label": g.label, "partial_runs": [str(r.folder) for r in g.partial]}
        for g in comparison.groups
        if not g.runs
    ]


def costs(group: Group) -> dict:
    def values(key):
        return [
            float(v) for v in ((r.summary or {}).get(key) for r in group.runs) if isinstance(v, (int, float))
        ]

    scoring = [
        float(v) for v in (r.setting("scoring_time_s") for r in group.runs) if isinstance(v, (int, float))
    ]
    return {
        "label": group.label,
        "runs": len(group.runs),
        "wall_time_s": values("wall_time_s"),
        "total_steps": values("total_steps"),
        "scoring_time_s": scoring,
        "extra_iterations": [extra_iterations(r) for r in group.runs],
    }


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
    """For each setting that varies between groups of the same method: panels of groups that differ
    only in it."""
    result = []
    methods: dict[str, list[Group]] = {}
    for group in comparison.groups:
        if group.runs and not group.is_baseline:
            methods.setdefault(str(group.settings.get("sampler")), []).append(group)
    for method_groups in methods.values():
        keys = [k for k in varying_keys([g.settings for g in method_groups]) if k not in ("sampler",)]
        for key in keys:
            others = [k for k in keys if k != key]
            by_fixed: dict[tuple, list[Group]] = {}
            for group in method_groups:
                if key in group.settings:
                    fixed = tuple((k, format_value(group.settings[k])) for k in others if k in group.settings)
                    by_fixed.setdefault(fixed, []).append(group)
            by_fixed = {fixed: gs for fixed, gs in by_fixed.items() if len(gs) > 1}
            if by_fixed:
                # a panel is named by the other settings, in the paper's notation, that tell it apart
                # from the other panels (a setting equal in all of them says nothing)
                shared = set.intersection(*(set(fixed) for fixed in by_fixed))
                ordered = [
                    (
                        ", ".join(f"{setting_name(k)}={v}" for k, v in fixed if (k, v) not in shared),
                        sorted(gs, key=lambda g: _sortable(g.settings[key])),
                    )
                    for fixed, gs in by_fixed.items()
                ]
                result.append((key, ordered))
    return result


def numeric(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def sensitivity_summary(key: str, panels: list, rows: dict, eps: float = HEADLINE_EPS) -> list[dict]:
    """Per panel and swept value: the maximum mean accuracy with the 16-84% band of the seeds'
    accuracies at that iteration, and the speed-up at ``eps`` with the band of the per-seed speed-ups
    (over the seeds that reach A_b - eps; the others are counted as not reached)."""
    result = []
    for fixed, groups in panels:
        points, skipped = [], []
        for group in groups:
            value = group.settings[key]
            if not numeric(value):
                skipped.append(f"{key}={value}")
                continue
            row = rows[group.label]
            curves = group.curves
            at = int(np.flatnonzero(curves.steps == row["max_mean_step"])[0])
            low, high = np.percentile(curves.acc[:, at], metrics.BAND_PERCENTILES)
            point = {
                "value": value,
                "label": group.label,
                "seeds": len(group.runs),
                "max_mean_acc": row["max_mean_acc"],
                "acc_p16": float(low),
                "acc_p84": float(high),
            }
            if "speedup" in row:
                speed = row["speedup"][eps_key(eps)]
                reached = [s["speedup"] for s in speed["per_seed"] if s["speedup"] is not None]
                band = np.percentile(reached, metrics.BAND_PERCENTILES) if reached else (None, None)
                point.update(
                    speedup=speed["speedup"],
                    speedup_p16=finite_or_none(band[0] and float(band[0])),
                    speedup_p84=finite_or_none(band[1] and float(band[1])),
                    seeds_not_reached=len(speed["per_seed"]) - len(reached),
                )
            points.append(point)
        result.append({"fixed": fixed, "points": points, "skipped": skipped, "eps": eps_key(eps)})
    return result


def _sortable(value):
    return (
        (0, value, "")
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        else (1, 0, str(value))
    )


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
        except (
            UserError,
            KeyError,
            TypeError,
            IndexError,
            RuntimeError,
        ) as error:  # one bad file: that run is left out
            reason = (
                str(error)
                if isinstance(error, UserError)
                else f"no usable index, label and weight ({error!r})"
            )
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
    return GroupWeights(
        group,
        seeds,
        labels,
        np.stack(rows),
        list(summary.get("class_names") or []),
        list(summary.get("augmented_classes") or []),
        folders,
        notes,
    )


def dataset_key(group: Group) -> str:
    return format_value(
        sorted(
            (k, format_value(v))
            for k, v in group.settings.items()
            if k == "dataset" or k.startswith("dataset.")
        )
    )


def importance_numbers(bucket: list[GroupWeights]) -> dict:
    """Class importance over seeds, rho between seeds per group, rho between groups' mean weights."""
    groups = []
    for item in bucket:
        shares = item.class_importance()
        mean, low, high = metrics.spread(shares)
        groups.append(
            {
                "label": item.group.label,
                "seeds": item.seeds,
                "folders": [str(f) for f in item.folders],
                "class_importance_per_seed": shares.tolist(),
                "class_importance_mean": mean.tolist(),
                "class_importance_p16": low.tolist(),
                "class_importance_p84": high.tolist(),
                "spearman_between_seeds": finite_or_none(metrics.mean_pairwise_spearman(list(item.weights))),
                "notes": item.notes,
            }
        )
    between = [[None] * len(bucket) for _ in bucket]
    for i, a in enumerate(bucket):
        for j, b in enumerate(bucket):
            if len(a.labels) == len(b.labels):
                between[i][j] = finite_or_none(metrics.spearman(a.weights.mean(0), b.weights.mean(0)))
    off_diagonal = [
        between[i][j]
        for i in range(len(bucket))
        for j in range(len(bucket))
        if i < j and between[i][j] is not None
    ]
    first = bucket[0]
    return {
        "class_names": first.class_names or [str(c) for c in range(first.num_classes)],
        "augmented_classes": first.augmented,
        "groups": groups,
        "spearman_between_groups": between,
        "mean_spearman_between_groups": float(np.mean(off_diagonal)) if off_diagonal else None,
    }
