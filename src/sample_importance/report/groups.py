"""Runs that differ only in seed form a group; groups that differ only in method form a comparison set.

A run's settings are its composed config (``.hydra/config.yaml``, interpolations resolved where that
can be done offline) flattened to dotted keys, with what does not change the experiment removed
(the seed, paths, the checkpoint it resumed from, progress-bar switches, the `paper.*` values that
other keys read), plus Hydra's group choices (``sampler: importance``). A comparison set
is the settings without the method (the ``sampler`` and ``loss`` groups): the same data, model,
schedule and trainer. Each set's baseline for Eq. (3) is its ``sampler=uniform`` group (SGD-Scan)
with the default loss, unless ``--baseline`` says otherwise.

A group counts each seed once: where sweeps read together hold a seed of it twice, the finished,
newest run counts and the others are listed as left out (``one_run_per_seed``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sample_importance.dataset.class_subset import OLD_CHOICES, OPTION, as_exclude_classes
from sample_importance.report import metrics, names
from sample_importance.report.runs import LABEL_GROUPS, Run

# `experiment` names the file a run came from, not what it ran: two experiment files that run the
# same config (a figure reusing Table 1's SGD-Scan arm) belong to one group. `policy_sets` only
# names lists that the dataset settings hold resolved.
IGNORED_KEYS = (
    "seed",
    "ckpt_path",
    "paths",
    "hydra",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "experiment",
    "policy_sets",
)
SEED_INTERPOLATION = "${seed}"
# The experiments' `paper.*` settings are only read through interpolations in other keys
# (``sampler.burn_in_epochs: ${oc.select:paper.burn_in_epochs,5}``): once a run's config is
# resolved (runs.resolve_interpolations) their effect is in those keys, so they are left out, and
# experiment files that ran the same thing with different `paper.*` keys (a CPU file and its paper
# twin's leftovers) group. A run with a value still naming `paper.` (not resolvable offline) keeps them.
INTERPOLATION_INPUTS = "paper"
INPUT_REFERENCE = re.compile(r"[{:]paper\.")  # ${paper.x}, ${oc.select:paper.x,5}
# Keys that tell methods apart inside one comparison set (`method` presets and the `paper.*` settings
# a run keeps choose samplers and losses; EL2N is SGD-Scan on pruned data, `dataset.prune_*`).
METHOD_GROUPS = ("sampler", "loss", "method", INTERPOLATION_INPUTS)
METHOD_KEY_PREFIXES = ("dataset.prune_",)
MAX_TITLE = 120
DEFAULT_BASELINE = (("sampler", "uniform"),)
DEFAULT_LOSS = "cross_entropy"
# sampler_settings entries that are outcomes, not settings (used only for runs without .hydra/).
OUTCOME_SETTINGS = {"switched_after_epoch", "weights_fallback", "extra_iterations"}


def flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = tuple(value) if isinstance(value, list) else value
    return flat


def ignored(key: str) -> bool:
    return any(key == k or key.startswith(f"{k}.") for k in IGNORED_KEYS)


def is_input(key: str) -> bool:
    return key == INTERPOLATION_INPUTS or key.startswith(f"{INTERPOLATION_INPUTS}.")


def without_inputs(flat: dict) -> dict:
    """The settings without `paper.*`, unless another value still reads them (left unresolved)."""
    if any(INPUT_REFERENCE.search(str(value)) for key, value in flat.items() if not is_input(key)):
        return flat
    return {key: value for key, value in flat.items() if not is_input(key)}


def unset_new_key(key: str, value) -> bool:
    """A key that runs made before it existed lack, at its "off" value: left out, so those runs group."""
    return value is None and key.startswith(METHOD_KEY_PREFIXES)


# Dataset options that were part of a dataset's name before they became option groups
# (cifar100_imbalanced_a5 is now dataset=cifar100 with dataset/imbalance=a5_cifar): the choice
# names the source, the dataset.* settings tell the options apart, so old and new runs group.
OPTION_SUFFIX = re.compile(r"_(multiaug|imbalanced_a5|imbalanced_a20)$")
# Likewise dataset=cifar9 (a WithoutClasses source) became dataset=cifar10 dataset.exclude_classes=[dog]
# (class_subset.OLD_CHOICES, as_exclude_classes).


def run_settings(run: Run) -> dict:
    """What defines a run's experiment, without its seed (see the module docstring)."""
    if run.config is not None:
        flat = {
            k: v
            for k, v in flatten(run.config).items()
            if not ignored(k) and v != SEED_INTERPOLATION and not unset_new_key(k, v)
        }
        flat = as_exclude_classes(without_inputs(flat))
    else:  # a run made without Hydra's output folder: what summary.json says
        summary = run.summary or {}
        flat = {
            k: summary[k]
            for k in ("num_train", "steps_per_epoch", "total_steps", "world_size")
            if k in summary
        }
        for key, value in (summary.get("sampler_settings") or {}).items():
            if (
                key not in OUTCOME_SETTINGS
                and not key.endswith("_s")
                and isinstance(value, (int, float, str, bool))
            ):
                flat[f"sampler.{key}"] = value
        pruning = summary.get("pruning") or {}
        if pruning.get("scores_file"):
            flat["dataset.prune_scores_file"] = pruning["scores_file"]
            flat["dataset.prune_fraction"] = pruning.get("prune_fraction")
        if summary.get("excluded_classes"):
            flat[OPTION] = tuple(summary["excluded_classes"])
    flat.update(
        {group: run.choices[group] for group in LABEL_GROUPS if group in run.choices and not ignored(group)}
    )
    if isinstance(flat.get("dataset"), str):
        flat["dataset"] = OPTION_SUFFIX.sub("", flat["dataset"])
    if flat.get("dataset") in OLD_CHOICES:
        flat["dataset"], excluded = OLD_CHOICES[flat["dataset"]]
        flat.setdefault(OPTION, excluded)
        if run.config is not None:  # those configs left it to the datamodule's default
            flat.setdefault("dataset.on_device", False)
    return flat


def key_of(settings: dict) -> str:
    return json.dumps(sorted(settings.items(), key=lambda item: item[0]), default=str)


def is_method_key(key: str) -> bool:
    in_group = any(key == g or key.startswith(f"{g}.") for g in METHOD_GROUPS)
    return in_group or key.startswith(METHOD_KEY_PREFIXES)


def format_value(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    return "null" if value is None else str(value)


def slugify(text: str) -> str:
    """A file-name-safe version of a label."""
    for letter, word in (("γ", "gamma"), ("ε", "eps"), ("α", "alpha")):
        text = text.replace(letter, word)
    kept = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "-." else "_" for ch in text)
    return "_".join(part for part in kept.split("_") if part) or "runs"


@dataclass
class Group:
    settings: dict
    runs: list[Run] = field(default_factory=list)  # finished runs, the statistics' input
    partial: list[Run] = field(default_factory=list)  # partial and failed runs of the same settings
    # runs of a seed the group already counts from another folder (sweeps read together that both
    # hold it): seed -> (the run counted, the runs left out); see one_run_per_seed
    duplicates: dict[int, tuple[Run, list[Run]]] = field(default_factory=dict)
    label: str = ""  # its display name within its comparison set (names.py), unique there
    config_label: str = ""  # the config keys that set it apart (``importance gamma=0.5``)
    set_title: str = ""  # its comparison set's title (data, model, schedule)
    is_baseline: bool = False
    _curves: metrics.Curves | None = None

    @property
    def seeds(self) -> list:
        return [run.seed for run in self.runs]

    @property
    def all_runs(self) -> list[Run]:
        """Every run read with the group's settings: counted, partial and left out as duplicates."""
        return self.runs + self.partial + [r for _, dropped in self.duplicates.values() for r in dropped]

    @property
    def curves(self) -> metrics.Curves | None:
        if self._curves is None and self.runs:
            self._curves = metrics.align(self.seeds, [run.curve for run in self.runs])
        return self._curves

    number: int = 0  # unique within the report: file names never collide

    @property
    def full_label(self) -> str:
        return f"{self.set_title}: {self.label}" if self.set_title else self.label

    def slug(self) -> str:
        return f"g{self.number}_{slugify(self.full_label)[:60]}"


@dataclass
class ComparisonSet:
    settings: dict  # the groups' common settings without the method
    groups: list[Group]
    title: str = ""
    baseline: Group | None = None
    baseline_note: str = ""

    @property
    def expected_seeds(self) -> list:
        return sorted({seed for g in self.groups for seed in g.seeds if seed is not None})

    def missing_seeds(self, group: Group) -> list:
        return [s for s in self.expected_seeds if s not in group.seeds]

    number: int = 0

    def slug(self) -> str:
        return f"s{self.number}_{slugify(self.title)[:60]}"


STATUS_RANK = {"failed": 0, "partial": 1, "finished": 2}


def counted_first(run: Run) -> tuple:
    """Which of a seed's runs a group counts (the largest): a finished run before a partial one before
    a failed one; among equals the one that wrote last (a rerun), then the last folder by name."""
    return (STATUS_RANK[run.status], run.written_at, str(run.folder))


def one_run_per_seed(runs: list[Run]) -> tuple[list[Run], dict[int, tuple[Run, list[Run]]]]:
    """A group's runs with one per seed, and the seeds that had more: seed -> (counted, left out).

    Sweeps read together can hold the same run twice (a reference arm run by two experiments, a
    sweep and its copy): counting both would make the mean and std over seeds count one seed twice.
    Runs without a seed are all kept (nothing tells them apart)."""
    by_seed: dict[int, list[Run]] = {}
    for run in runs:
        if run.seed is not None:
            by_seed.setdefault(run.seed, []).append(run)
    duplicates = {}
    for seed, same in sorted(by_seed.items()):
        if len(same) > 1:
            ranked = sorted(same, key=counted_first, reverse=True)
            duplicates[seed] = (ranked[0], ranked[1:])
    left_out = {run.folder for _, dropped in duplicates.values() for run in dropped}
    return [run for run in runs if run.folder not in left_out], duplicates


def make_groups(runs: list[Run]) -> list[Group]:
    by_key: dict[str, tuple[dict, list[Run]]] = {}
    for run in runs:
        settings = run_settings(run)
        by_key.setdefault(key_of(settings), (settings, []))[1].append(run)
    groups = []
    for settings, members in by_key.values():
        kept, duplicates = one_run_per_seed(members)
        group = Group(settings, duplicates=duplicates)
        for run in kept:
            (group.runs if run.finished else group.partial).append(run)
        group.runs.sort(key=lambda r: (r.seed is None, r.seed if r.seed is not None else 0, str(r.folder)))
        groups.append(group)
    return groups


def varying_keys(settings_list: list[dict], include_targets: bool = False) -> list[str]:
    """Keys whose value differs between the settings that have them (first-seen order).

    A key inside a config group (``sampler.gamma``) is compared only between settings with the
    same choice for that group: between ``uniform`` and ``importance`` the choice says it all.
    ``include_targets`` also counts ``_target_`` keys and keys some settings lack.
    """
    order: dict[str, None] = {}
    for settings in settings_list:
        order.update(dict.fromkeys(settings))
    result = []
    for key in order:
        if key.endswith("_target_") and not include_targets:
            continue
        group = key.split(".", 1)[0] if "." in key and key.split(".", 1)[0] in LABEL_GROUPS else None
        buckets: dict[str, list[dict]] = {}
        for settings in settings_list:
            buckets.setdefault(format_value(settings.get(group)) if group else "", []).append(settings)
        for bucket in buckets.values():
            values = {format_value(s[key]) for s in bucket if key in s}
            present = sum(key in s for s in bucket)
            if len(values) > 1 or (include_targets and 0 < present < len(bucket)):
                result.append(key)
                break
    return result


def short_names(keys: list[str]) -> dict[str, str]:
    """``sampler.burn_in_epochs`` -> ``burn_in_epochs`` where the short name is unambiguous."""
    tails = [k.split(".", 1)[-1] for k in keys]
    return {k: (t if tails.count(t) == 1 and "." in k else k) for k, t in zip(keys, tails)}


def describe(settings: dict, keys: list[str], always: tuple[str, ...] = ()) -> str:
    shown = [k for k in always if k in settings] + [k for k in keys if k not in always and k in settings]
    names = short_names(shown)
    parts = []
    for key in shown:
        value = format_value(settings[key])
        parts.append(value if key in LABEL_GROUPS and key in always else f"{names[key]}={value}")
    return " ".join(parts)


def label_groups(groups: list[Group]) -> None:
    """Display names in the paper's notation (names.py); groups that still collide get the config keys
    that tell them apart. ``config_label`` keeps the config description (sampler and varying keys)."""
    keys = varying_keys([g.settings for g in groups])
    for group in groups:
        group.config_label = describe(group.settings, keys, always=("sampler",)) or "runs"
        group.label = names.method_name(group.settings) or group.config_label
    by_label: dict[str, list[Group]] = {}
    for group in groups:
        by_label.setdefault(group.label, []).append(group)
    for same in by_label.values():
        if len(same) > 1:
            extra = varying_keys([g.settings for g in same], include_targets=True)
            for group in same:
                group.label = f"{group.label} [{describe(group.settings, extra)}]"


def matches(group: Group, spec: tuple[tuple[str, str], ...]) -> bool:
    for key, text in spec:
        if key not in group.settings:
            return False
        wanted = yaml.safe_load(text) if text else text
        value = group.settings[key]
        if not (
            format_value(value) == text or value == wanted or format_value(value) == format_value(wanted)
        ):
            return False
    return True


def choose_baseline(
    comparison: ComparisonSet, spec: tuple[tuple[str, str], ...] | None, baseline_folder: Path | None
) -> None:
    if baseline_folder is not None:
        candidates = [g for g in comparison.groups if any(r.folder == baseline_folder for r in g.all_runs)]
        wanted = f"the group of {baseline_folder}"
    else:
        spec = spec or DEFAULT_BASELINE
        candidates = [g for g in comparison.groups if matches(g, spec)]
        if spec == DEFAULT_BASELINE:  # SGD-Scan on pruned data is EL2N, not the baseline
            candidates = [g for g in candidates if not names.prunes(g.settings)]
        if len(candidates) > 1 and spec == DEFAULT_BASELINE:
            default_loss = [g for g in candidates if g.settings.get("loss") in (DEFAULT_LOSS, None)]
            candidates = default_loss or candidates
        wanted = " ".join(f"{k}={v}" for k, v in spec)
    candidates = [g for g in candidates if g.runs]
    if len(candidates) == 1:
        comparison.baseline = candidates[0]
        comparison.baseline.is_baseline = True
        comparison.baseline_note = f"baseline: {candidates[0].label} ({wanted})"
    elif not candidates:
        comparison.baseline_note = f"no finished group matches the baseline {wanted}: speedups not computed"
    else:
        labels = "; ".join(g.label for g in candidates)
        comparison.baseline_note = (
            f"{len(candidates)} groups match the baseline {wanted} ({labels}): "
            f"choose one with --baseline KEY=VALUE; speedups not computed"
        )


def natural_key(text: str) -> list:
    """Sort ``burn_in_epochs=2`` before ``burn_in_epochs=10``."""
    return [
        (0, float(part), "") if part and part[0].isdigit() else (1, 0.0, part)
        for part in re.split(r"(\d+(?:\.\d+)?)", text)
        if part
    ]


def make_comparison_sets(
    groups: list[Group], baseline_spec=None, baseline_folder: Path | None = None
) -> list[ComparisonSet]:
    sets: dict[str, ComparisonSet] = {}
    for group in groups:
        common = {k: v for k, v in group.settings.items() if not is_method_key(k)}
        sets.setdefault(key_of(common), ComparisonSet(common, [])).groups.append(group)
    comparisons = list(sets.values())
    title_keys = varying_keys([c.settings for c in comparisons])
    titles = [
        names.set_title(c.settings)
        or describe(c.settings, title_keys, always=("dataset", "model", "schedule"))
        for c in comparisons
    ]
    for title in set(titles):  # sets with the same data and model: add what else differs (schedule, ...)
        same = [i for i, t in enumerate(titles) if t == title]
        if len(same) > 1:
            keys = [
                k
                for k in varying_keys([comparisons[i].settings for i in same])
                if k not in ("dataset", "model")
            ]
            for i in same:
                extra = describe(
                    comparisons[i].settings, keys, always=("schedule",) if "schedule" in keys else ()
                )
                titles[i] = f"{title}, {extra}" if extra else title
    for number, (comparison, title) in enumerate(zip(comparisons, titles), 1):
        comparison.number = number
        if len(title) > MAX_TITLE:
            title = title[: MAX_TITLE - 3].rstrip() + "..."
        # sets that differ only in keys some of them lack (runs with and without .hydra/) get a number
        comparison.title = (
            title if titles.count(title) == 1 and len(title) <= MAX_TITLE else f"{title} (set {number})"
        )
        label_groups(comparison.groups)
        for group in comparison.groups:
            group.set_title = comparison.title
        comparison.groups.sort(
            key=lambda g: (
                g.settings.get("sampler") != "uniform" or names.prunes(g.settings),
                natural_key(g.label),
            )
        )
        choose_baseline(comparison, baseline_spec, baseline_folder)
    for number, group in enumerate((g for c in comparisons for g in c.groups), 1):
        group.number = number
    return comparisons
