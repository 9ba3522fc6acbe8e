"""Finding run folders and reading what a run left: ``.hydra/``, ``summary.json``, events, weights.

A folder is a training run when it has ``summary.json``, or ``.hydra/config.yaml`` written by the
``train`` app, or TensorBoard events. A run without ``summary.json`` is still going or crashed:
it is kept as *partial*, with its curve read from the events when there are any.
"""

from __future__ import annotations

import glob
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from sample_importance.errors import UserError

SUMMARY_FILE = "summary.json"
WEIGHTS_FILE = "sample_weights.pt"
EVENTS_DIR = "tensorboard"
# Folders inside a run that never hold another run.
NOT_RUNS = {EVENTS_DIR, "checkpoints", ".hydra", "report", "__pycache__"}
# The config groups a run's label is made of (Hydra's choices, or summary.json's fields).
LABEL_GROUPS = ("dataset", "model", "sampler", "loss", "schedule", "experiment")


@dataclass
class Run:
    folder: Path
    summary: dict | None = None
    config: dict | None = None  # .hydra/config.yaml, interpolations kept (``${seed}`` stays literal)
    overrides: list[str] = field(default_factory=list)
    choices: dict[str, str] = field(default_factory=dict)  # Hydra's group choices (dataset: digits, ...)
    seed: int | None = None
    curve: tuple[np.ndarray, np.ndarray] | None = None  # (iterations, test accuracy)
    curve_source: str = ""  # "summary" or "events"
    note: str = ""  # why a run is partial or failed
    unreadable: list[str] = field(default_factory=list)  # files of the run that could not be read, and why

    @property
    def finished(self) -> bool:
        return self.summary is not None and self.curve is not None and len(self.curve[0]) > 0

    @property
    def status(self) -> str:
        if self.finished:
            return "finished"
        return "partial" if self.curve is not None else "failed"

    @property
    def written_at(self) -> float:
        """When the run last wrote its record: ``summary.json``'s time once finished, else its newest file."""
        summary_file = self.folder / SUMMARY_FILE
        return summary_file.stat().st_mtime if summary_file.is_file() else last_written(self.folder)

    @property
    def events_dir(self) -> Path:
        return self.folder / EVENTS_DIR

    @property
    def weights_file(self) -> Path | None:
        path = self.folder / WEIGHTS_FILE
        return path if path.is_file() else None

    def setting(self, key: str, default=None):
        """A number the run recorded about its method: sampler_settings first, then the summary."""
        summary = self.summary or {}
        settings = summary.get("sampler_settings") or {}
        return settings.get(key, summary.get(key, default))


# -- discovery ------------------------------------------------------------------------------
def has_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def expand(paths: list[str]) -> list[Path]:
    """Command-line paths and globs -> existing folders; a path that matches nothing is an error."""
    found = []
    for text in paths:
        matches = sorted(glob.glob(os.path.expanduser(text), recursive=True)) if has_glob(text) else [text]
        matches = [Path(m) for m in matches if Path(m).exists()]
        if not matches:
            raise UserError(f"{text}: no such run folder")
        found.extend(m for m in matches if m.is_dir())
    return found


def job_name(folder: Path) -> str | None:
    hydra_file = folder / ".hydra" / "hydra.yaml"
    if not hydra_file.is_file():
        return None
    try:
        return (yaml.safe_load(hydra_file.read_text()) or {}).get("hydra", {}).get("job", {}).get("name")
    except yaml.YAMLError:
        return None


def is_run_folder(folder: Path) -> bool:
    if (folder / SUMMARY_FILE).is_file():
        return True
    if (folder / ".hydra" / "config.yaml").is_file():
        return job_name(folder) in (None, "train")  # not the score app's folders
    return (folder / EVENTS_DIR).is_dir()


def find_run_folders(paths: list[str]) -> list[Path]:
    """Every run folder under the given paths (a run folder, a sweep folder, ``logs/``, globs)."""
    runs: dict[Path, None] = {}
    for root in expand(paths):
        if is_run_folder(root):
            runs[root.resolve()] = None
            continue
        for current, dirs, _ in os.walk(root):
            here = Path(current)
            if here != root and is_run_folder(here):
                runs[here.resolve()] = None
                dirs[:] = []
                continue
            if job_name(here) not in (None, "train"):  # the score and el2n apps' folders
                dirs[:] = []
                continue
            dirs[:] = sorted(d for d in dirs if d not in NOT_RUNS)
    return sorted(runs)


# -- reading one run ------------------------------------------------------------------------
def read_yaml(path: Path):
    try:
        return yaml.safe_load(path.read_text()) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        return None


# ``${hydra:runtime.choices.model}``: Hydra's runtime is not there when a report reads a run; the
# run's own choices (its .hydra/hydra.yaml) stand in for it. Only plain names are put in.
CHOICE_INTERPOLATION = re.compile(r"\$\{hydra:runtime\.choices\.([^${}]+)\}")
PLAIN_CHOICE = re.compile(r"[\w./+-]+")
# What stays as its interpolation text: the seed and a run's own folders (runs that differ only in
# them group), and what only Hydra's runtime or the clock knows (no value to put in offline).
LITERAL_KEYS = ("seed", "paths")
RUNTIME_ONLY = ("${hydra:", "${now:")
# Put in place of a value only Hydra's runtime knows: an interpolation no resolver answers, so every
# key that uses it fails to resolve and keeps its text (oc.select would take a missing value's default).
UNRESOLVABLE = "${needs_hydra_runtime:}"


def substitute_choices(value, choices: dict):
    """Every ``${hydra:runtime.choices.X}`` in a config (strings inside dicts and lists) -> the choice."""
    if isinstance(value, dict):
        return {key: substitute_choices(item, choices) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute_choices(item, choices) for item in value]
    if not isinstance(value, str):
        return value

    def choice(match: re.Match) -> str:
        chosen = choices.get(match.group(1))
        return chosen if isinstance(chosen, str) and PLAIN_CHOICE.fullmatch(chosen) else match.group(0)

    return CHOICE_INTERPOLATION.sub(choice, value)


def has_interpolation(value) -> bool:
    if isinstance(value, list):
        return any(has_interpolation(item) for item in value)
    return isinstance(value, str) and "${" in value


def literal_tree(tree: dict, prefix: str) -> dict:
    """``paths`` with each value replaced by its own interpolation text, escaped: it resolves to that text."""
    return {
        key: literal_tree(value, f"{prefix}.{key}") if isinstance(value, dict) else f"\\${{{prefix}.{key}}}"
        for key, value in tree.items()
    }


def without_runtime_values(value):
    if isinstance(value, dict):
        return {key: without_runtime_values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_runtime_values(item) for item in value]
    return UNRESOLVABLE if isinstance(value, str) and any(t in value for t in RUNTIME_ONLY) else value


def resolve_interpolations(config: dict, choices: dict | None = None) -> dict:
    """Resolve the ``${...}`` values of a run's config that can be resolved offline, so that runs
    which ran the same thing read the same however their experiment files spelled it
    (``${oc.select:paper.burn_in_epochs,5}``, ``${paper.burn_in_by_model.${hydra:runtime.choices.model}}``
    with the run's ``choices``, ``${schedule.batch_size}``).

    ``${seed}`` and references to ``paths`` (a run's own folders) stay as their text, inside longer
    values too (``${paths.log_dir}/cpu/el2n/digits/el2n_scores.pt``), so runs that differ only in them
    still group. A value that cannot be resolved (it needs Hydra's runtime, a key is missing) keeps
    its text; ``seed`` and ``paths`` keep theirs.
    """
    from omegaconf import Container, OmegaConf

    prepared = without_runtime_values(substitute_choices(config, choices or {}))
    if "seed" in config:
        prepared["seed"] = "\\${seed}"
    if isinstance(config.get("paths"), dict):
        prepared["paths"] = literal_tree(config["paths"], "paths")
    try:
        tree = OmegaConf.create(prepared)
    except Exception:  # not a config OmegaConf reads (keys it refuses): keep the text
        return config

    def resolve(name: str, value):
        try:
            node = OmegaConf.select(tree, name, throw_on_missing=True)
            return OmegaConf.to_container(node, resolve=True) if isinstance(node, Container) else node
        except Exception:  # needs Hydra's runtime or a missing key: keep the text
            return value

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if name in LITERAL_KEYS:
                continue
            if isinstance(value, dict):
                walk(value, f"{name}.")
            elif has_interpolation(value):
                node[key] = resolve(name, value)

    walk(config, "")
    return config


def hydra_choices(folder: Path) -> dict[str, str]:
    """Hydra's group choices of a run (``model: lenet``, ``method: ours``), from .hydra/hydra.yaml."""
    hydra = (read_yaml(folder / ".hydra" / "hydra.yaml") or {}).get("hydra", {})
    choices = (hydra.get("runtime") or {}).get("choices") or {}
    return {str(k): str(v) for k, v in choices.items() if v is not None}


def last_log_line(folder: Path) -> str:
    for log_file in sorted(folder.glob("*.log")):
        lines = [line.strip() for line in log_file.read_text(errors="replace").splitlines() if line.strip()]
        if lines:
            return lines[-1][-200:]
    return ""


def last_written(folder: Path) -> float:
    """When the run last wrote a file (seconds since the epoch): its newest file, else the folder."""
    return max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=folder.stat().st_mtime)


def age_minutes(folder: Path) -> float:
    return (time.time() - last_written(folder)) / 60


def load_run(folder: Path) -> Run:
    from sample_importance.report import events

    run = Run(folder)
    config = read_yaml(folder / ".hydra" / "config.yaml")
    choices = hydra_choices(folder)
    run.config = resolve_interpolations(config, choices) if isinstance(config, dict) else None
    run.overrides = [str(o) for o in (read_yaml(folder / ".hydra" / "overrides.yaml") or [])]
    run.choices = {k: v for k, v in choices.items() if k in LABEL_GROUPS}
    try:
        run.summary = (
            json.loads((folder / SUMMARY_FILE).read_text()) if (folder / SUMMARY_FILE).is_file() else None
        )
    except (OSError, json.JSONDecodeError) as error:
        run.note = f"summary.json unreadable ({error})"
    summary = run.summary or {}
    seed = summary.get("seed", (run.config or {}).get("seed"))
    run.seed = int(seed) if isinstance(seed, (int, float)) else None
    for group in LABEL_GROUPS:
        if group not in run.choices and summary.get(group) is not None:
            run.choices[group] = str(summary[group])
    history = summary.get("test_acc_history") or []
    if history:
        steps, acc = zip(*history)
        run.curve, run.curve_source = (
            (np.asarray(steps, dtype=np.int64), np.asarray(acc, dtype=float)),
            "summary",
        )
    elif run.events_dir.is_dir():
        scalars = events.read_run_scalars(run, ["test/acc"])
        if "test/acc" in scalars:
            run.curve, run.curve_source = scalars["test/acc"], "events"
    if run.summary is None and not run.note:
        if run.curve is not None:
            epochs = (run.config or {}).get("schedule", {}).get("max_epochs", "?")
            run.note = (
                f"no summary.json: {len(run.curve[0])} of {epochs} epochs logged, last write "
                f"{age_minutes(folder):.0f} min ago (still going, or crashed)"
            )
        else:
            line = last_log_line(folder)
            run.note = "no summary.json and no test accuracy logged (failed before the first epoch)" + (
                f"; log ends: {line}" if line else ""
            )
    return run


def load_runs(folders: list[Path], progress: bool | None = None) -> list[Run]:
    """Read every run, with a progress bar on a terminal (``progress=None``) when there are many."""
    from tqdm import tqdm

    disable = (not progress) if progress is not None else None
    return [load_run(folder) for folder in tqdm(folders, desc="reading runs", unit="run", disable=disable)]
