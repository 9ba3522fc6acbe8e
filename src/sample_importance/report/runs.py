"""Finding run folders and reading what a run left: ``.hydra/``, ``summary.json``, events, weights.

A folder is a training run when it has ``summary.json``, or ``.hydra/config.yaml`` written by the
``train`` app, or TensorBoard events. A run without ``summary.json`` is still going or crashed:
it is kept as *partial*, with its curve read from the events when there are any.
"""

from __future__ import annotations

import glob
import json
import os
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


KEEP_LITERAL = ("${seed}", "paths.", "hydra:", "${now:")


def resolve_interpolations(config: dict) -> dict:
    """Resolve ``${...}`` values that can be resolved offline (``${oc.select:paper.x,5}``,
    ``${schedule.batch_size}``).

    ``${seed}`` and references to ``paths`` (a run's own folders) stay literal, so runs that differ
    only in them still group; values that need Hydra's runtime (``${hydra:...}``) keep their text.
    """
    from omegaconf import OmegaConf

    tree = OmegaConf.create(config)

    def walk(node, prefix):
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(value, f"{name}.")
            elif isinstance(value, str) and "${" in value and not any(t in value for t in KEEP_LITERAL):
                try:
                    node[key] = OmegaConf.to_container(
                        OmegaConf.create({"v": OmegaConf.select(tree, name)}), resolve=True
                    )["v"]
                except Exception:  # needs Hydra's runtime or a missing key: keep the text
                    pass

    walk(config, "")
    return config


def hydra_choices(folder: Path) -> dict[str, str]:
    hydra = (read_yaml(folder / ".hydra" / "hydra.yaml") or {}).get("hydra", {})
    choices = (hydra.get("runtime") or {}).get("choices") or {}
    return {k: str(v) for k, v in choices.items() if k in LABEL_GROUPS and v is not None}


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
    run.config = resolve_interpolations(config) if isinstance(config, dict) else None
    run.overrides = [str(o) for o in (read_yaml(folder / ".hydra" / "overrides.yaml") or [])]
    run.choices = hydra_choices(folder)
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
