"""From run folders to ``report.md``, ``report.json`` and the PNG figures."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from sample_importance.atomic import write_text
from sample_importance.errors import UserError
from sample_importance.report import analysis, figures, images, markdown
from sample_importance.report.events import read_last_image
from sample_importance.report.groups import make_comparison_sets, make_groups, slugify
from sample_importance.report.runs import find_run_folders, load_runs

REPORT_FILE = "report.md"
NUMBERS_FILE = "report.json"


def default_output(paths: list[str], folders: list[Path]) -> Path:
    """``report/`` inside the one folder given, else inside the runs' common parent."""
    given = [Path(p) for p in paths if Path(p).is_dir()]
    if len(paths) == 1 and len(given) == 1:
        return given[0] / "report"
    return Path(os.path.commonpath([str(f.parent) for f in folders])) / "report"


def parse_baseline(values: list[str] | None) -> tuple[tuple | None, Path | None]:
    """``--baseline KEY=VALUE`` (repeatable) or ``--baseline RUN_FOLDER``."""
    if not values:
        return None, None
    pairs, folder = [], None
    for value in values:
        if "=" in value and not Path(value).exists():
            key, _, text = value.partition("=")
            pairs.append((key.strip(), text.strip()))
        elif Path(value).is_dir():
            folder = Path(value).resolve()
        else:
            raise UserError(f"--baseline {value}: expected KEY=VALUE (e.g. sampler=uniform) or a run folder")
    if pairs and folder is not None:
        raise UserError("--baseline takes KEY=VALUE pairs or one run folder, not both")
    return (tuple(pairs) or None), folder


def build_report(paths: list[str], out: str | Path | None = None, baseline: list[str] | None = None,
                 count_extra: bool = False, eps_table=analysis.DEFAULT_EPS_TABLE, data_dir: str | None = None,
                 with_images: bool = True, progress: bool | None = None) -> Path:
    folders = find_run_folders(paths)
    if not folders:
        raise UserError(f"no training runs under {' '.join(paths)} (a run folder has summary.json or .hydra/)")
    spec, baseline_folder = parse_baseline(baseline)
    runs = load_runs(folders, progress)
    groupable = [r for r in runs if r.config is not None or r.summary is not None]
    comparisons = make_comparison_sets(make_groups(groupable), spec, baseline_folder)
    output = Path(out) if out is not None else default_output(paths, folders)
    output.mkdir(parents=True, exist_ok=True)

    sections = [comparison_section(c, output, eps_table, count_extra) for c in comparisons]
    importance = importance_sections([g for c in comparisons for g in c.groups if g.runs], output, data_dir,
                                     with_images)
    report = {
        "inputs": [str(p) for p in paths], "runs": len(runs),
        "finished": sum(r.finished for r in runs), "comparisons": sections, "importance": importance,
        "unfinished_runs": [{"folder": str(r.folder), "status": r.status, "seed": r.seed, "note": r.note,
                             "group": group_label_of(r, comparisons)} for r in runs if not r.finished],
        "per_run": [run_row(r, comparisons) for r in runs if r.finished],
    }
    report = finite(report)
    write_text(output / NUMBERS_FILE, json.dumps(report, indent=1, default=str) + "\n")
    report_file = output / REPORT_FILE
    write_text(report_file, markdown.render(report, output))
    return report_file


def finite(value):
    """NaN and infinity become None: report.json stays standard JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def group_label_of(run, comparisons) -> str:
    for comparison in comparisons:
        for group in comparison.groups:
            if run in group.runs or run in group.partial:
                return group.full_label
    return ""


def run_row(run, comparisons) -> dict:
    summary = run.summary or {}
    return {"folder": str(run.folder), "group": group_label_of(run, comparisons), "seed": run.seed,
            "best_test_acc": summary.get("best_test_acc"), "final_test_acc": summary.get("final_test_acc"),
            "total_steps": summary.get("total_steps"), "wall_time_s": summary.get("wall_time_s"),
            "scoring_time_s": run.setting("scoring_time_s"), "extra_iterations": run.setting("extra_iterations")}


def comparison_section(comparison, output: Path, eps_table, count_extra: bool) -> dict:
    finished = [g for g in comparison.groups if g.runs]
    if not finished:
        return {"title": comparison.title, "baseline_note": comparison.baseline_note, "groups": [],
                "groups_without_finished_runs": analysis.unfinished_groups(comparison), "figures": {}}
    numbers = analysis.comparison_numbers(comparison, eps_table, count_extra)
    slug = comparison.slug()
    accuracy = figures.accuracy_curves(comparison, numbers, output / f"fig1_accuracy_{slug}.png")
    numbers["figures"] = {"accuracy": accuracy.name}
    if comparison.baseline is not None:
        speedup = figures.speedups(comparison, numbers, output / f"fig2_speedup_{slug}.png")
        numbers["figures"]["speedup"] = speedup.name
    splits = [(g, s) for g in finished if (s := analysis.split_curves(g)) is not None]
    if splits:
        numbers["figures"]["augmented"] = figures.augmented_vs_other(
            splits, comparison.title, output / f"fig4_augmented_vs_other_{slug}.png").name
        numbers["augmented_vs_other"] = [{"label": g.label, **analysis.split_final(g)} for g, _ in splits]
    numbers["sensitivity"] = []
    for key, panels in analysis.sensitivity_panels(comparison):
        path = output / f"fig8_10_sensitivity_{slugify(key)}_{slug}.png"
        figures.sensitivity(key, panels, comparison.baseline, comparison.title, path)
        numbers["sensitivity"].append({
            "key": key, "figure": path.name,
            "panels": [{"fixed": fixed, "values": [{"value": g.settings[key], "label": g.label} for g in groups]}
                       for fixed, groups in panels]})
    return numbers


def importance_sections(groups, output: Path, data_dir: str | None, with_images: bool) -> list[dict]:
    buckets: dict[str, list] = {}
    for group in groups:
        weights = analysis.load_weights(group)
        if weights is not None:
            buckets.setdefault(analysis.dataset_key(group), []).append(weights)
    sections = []
    for bucket in buckets.values():
        numbers = analysis.importance_numbers(bucket)
        dataset = str(bucket[0].group.settings.get("dataset", "dataset"))
        slug = f"{slugify(dataset)}_{len(sections) + 1}"
        same_name = sum(str(b[0].group.settings.get("dataset", "dataset")) == dataset for b in buckets.values())
        numbers["title"] = dataset if same_name == 1 else f"{dataset} ({', '.join(g.group.set_title for g in bucket)})"
        numbers["group_labels"] = [item.group.full_label for item in bucket]
        for entry, item in zip(numbers["groups"], bucket):
            entry["label"] = item.group.full_label
        numbers["figures"] = {
            "class_importance": figures.class_importance(numbers, output / f"fig3_class_importance_{slug}.png").name,
            "sorted_weights": figures.sorted_weights(bucket, output / f"fig13_sorted_weights_{slug}.png").name,
        }
        numbers["images"], numbers["images_note"] = extreme_images(bucket, output, data_dir) if with_images else (
            [], "skipped (--no-images)")
        sections.append(numbers)
    return sections


def extreme_images(bucket, output: Path, data_dir: str | None) -> tuple[list[dict], str]:
    """Fig. 18-19 for every group of a dataset, from rebuilt data or else from the logged grids."""
    first_run = bucket[0].group.runs[0]
    try:
        pixels, labels = images.training_images(first_run, data_dir)
        note = ""
    except images.ImagesUnavailable as error:
        pixels, labels, note = None, None, f"training images not rebuilt ({error})"
    result = []
    for item in bucket:
        rows = [f"seed {s}" for s in item.seeds]
        names = item.class_names or [str(c) for c in range(item.num_classes)]
        slug = item.group.slug()
        if pixels is not None and len(labels) == len(item.labels) and (labels == item.labels).all():
            easiest, hardest = images.extremes(item.weights, item.labels, pixels, item.num_classes)
            easy = figures.image_table(easiest, rows, names, f"{item.group.full_label}: easiest training image "
                                       "per class (lowest weight)", output / f"fig18_easiest_{slug}.png")
            hard = figures.image_table(hardest, rows, names, f"{item.group.full_label}: hardest training image "
                                       "per class (highest weight)", output / f"fig19_hardest_{slug}.png")
            result.append({"label": item.group.full_label, "easiest": easy.name, "hardest": hard.name})
            continue
        if pixels is not None:
            note = "the rebuilt training set differs from the runs' samples; logged grids used instead"
        grids = [(f"seed {run.seed}", image) for run in item.group.runs if run.weights_file is not None
                 and run.events_dir.is_dir() and (image := read_last_image(run.events_dir)) is not None]
        if grids:
            path = figures.logged_grids(grids, f"{item.group.full_label}: top row easiest, bottom row hardest "
                                        "per class (logged at the switch)", output / f"fig18_19_logged_{slug}.png")
            result.append({"label": item.group.full_label, "logged": path.name})
    return result, note
