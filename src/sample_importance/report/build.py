"""From run folders to ``report.md``, ``report.json`` and the PNG figures."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from sample_importance.atomic import write_text
from sample_importance.errors import UserError
from sample_importance.report import analysis, figures, images, markdown, names, tables
from sample_importance.report.events import read_run_image
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


def build_report(
    paths: list[str],
    out: str | Path | None = None,
    baseline: list[str] | None = None,
    count_extra: bool = False,
    eps_table=analysis.DEFAULT_EPS_TABLE,
    data_dir: str | None = None,
    with_images: bool = True,
    progress: bool | None = None,
) -> Path:
    folders = find_run_folders(paths)
    if not folders:
        raise UserError(
            f"no training runs under {' '.join(paths)} (a run folder has summary.json or .hydra/)"
        )
    spec, baseline_folder = parse_baseline(baseline)
    runs = load_runs(folders, progress)
    groupable = [r for r in runs if r.config is not None or r.summary is not None]
    comparisons = make_comparison_sets(make_groups(groupable), spec, baseline_folder)
    duplicates = duplicate_runs(comparisons)
    left_out = {run["folder"] for entry in duplicates for seed in entry["seeds"] for run in seed["left_out"]}
    counted = [r for r in runs if str(r.folder) not in left_out]
    output = Path(out) if out is not None else default_output(paths, folders)
    output.mkdir(parents=True, exist_ok=True)

    sections = [comparison_section(c, output, eps_table, count_extra) for c in comparisons]
    importance = importance_sections(
        [g for c in comparisons for g in c.groups if g.runs], output, data_dir, with_images
    )
    report = {
        "inputs": [str(p) for p in paths],
        "runs": len(runs),
        "finished": sum(r.finished for r in runs),
        "comparisons": sections,
        "importance": importance,
        "unfinished_runs": [
            {
                "folder": str(r.folder),
                "status": r.status,
                "seed": r.seed,
                "note": r.note,
                "group": group_label_of(r, comparisons),
            }
            for r in counted
            if not r.finished
        ],
        "duplicate_runs": duplicates,
        "per_run": [run_row(r, comparisons) for r in counted if r.finished],
        "unreadable_runs": [
            {"folder": str(r.folder), "problems": list(r.unreadable)} for r in runs if r.unreadable
        ],
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


def duplicate_runs(comparisons) -> list[dict]:
    """Per group whose seeds more than one folder held: which run each such seed counts, which it left out."""
    return [
        {
            "group": group.full_label,
            "seeds": [
                {
                    "seed": seed,
                    "counted": str(kept.folder),
                    "left_out": [{"folder": str(r.folder), "status": r.status} for r in dropped],
                }
                for seed, (kept, dropped) in group.duplicates.items()
            ],
        }
        for comparison in comparisons
        for group in comparison.groups
        if group.duplicates
    ]


def group_label_of(run, comparisons) -> str:
    for comparison in comparisons:
        for group in comparison.groups:
            if run in group.runs or run in group.partial:
                return group.full_label
    return ""


def run_row(run, comparisons) -> dict:
    summary = run.summary or {}
    return {
        "folder": str(run.folder),
        "group": group_label_of(run, comparisons),
        "seed": run.seed,
        "best_test_acc": summary.get("best_test_acc"),
        "final_test_acc": summary.get("final_test_acc"),
        "total_steps": summary.get("total_steps"),
        "wall_time_s": summary.get("wall_time_s"),
        "scoring_time_s": run.setting("scoring_time_s"),
        "extra_iterations": run.setting("extra_iterations"),
    }


def comparison_section(comparison, output: Path, eps_table, count_extra: bool) -> dict:
    finished = [g for g in comparison.groups if g.runs]
    if not finished:
        return {
            "title": comparison.title,
            "baseline_note": comparison.baseline_note,
            "groups": [],
            "groups_without_finished_runs": analysis.unfinished_groups(comparison),
            "figures": {},
            "tables": {},
        }
    numbers = analysis.comparison_numbers(comparison, eps_table, count_extra)
    slug = comparison.slug()
    accuracy = figures.accuracy_curves(comparison, numbers, output / f"fig1_accuracy_{slug}.png")
    numbers["figures"] = {"accuracy": accuracy.name}
    if comparison.baseline is not None and len(finished) > 1:  # something to compare with the baseline
        speedup = figures.speedups(comparison, numbers, output / f"fig2_speedup_{slug}.png")
        numbers["figures"]["speedup"] = speedup.name
    splits = [(g, s) for g in finished if (s := analysis.split_curves(g)) is not None]
    if splits:
        numbers["figures"]["augmented"] = figures.augmented_vs_other(
            splits, comparison, output / f"fig4_augmented_vs_other_{slug}.png"
        ).name
        numbers["augmented_vs_other"] = [{"label": g.label, **analysis.split_final(g)} for g, _ in splits]
    numbers["sensitivity"] = []
    rows = {row["label"]: row for row in numbers["groups"]}
    for key, panels in analysis.sensitivity_panels(comparison):
        path = output / f"fig8_10_sensitivity_{slugify(key)}_{slug}.png"
        figures.sensitivity(key, panels, comparison, numbers, path)
        summary = analysis.sensitivity_summary(key, panels, rows)
        item = {
            "key": key,
            "figure": path.name,
            "summary": summary,
            "panels": [
                {"fixed": fixed, "values": [{"value": g.settings[key], "label": g.label} for g in groups]}
                for fixed, groups in panels
            ],
        }
        if any(len(panel["points"]) > 1 for panel in summary):
            summary_path = output / f"fig8_10_summary_{slugify(key)}_{slug}.png"
            item["summary_figure"] = figures.sensitivity_summary(
                key, summary, comparison, numbers, summary_path
            ).name
        numbers["sensitivity"].append(item)
    numbers["tables"] = comparison_tables(numbers, output, slug)
    return numbers


def comparison_tables(numbers: dict, output: Path, slug: str) -> dict:
    """Table 1, the speed-ups (iterations, samples, seconds), the costs and the sensitivity summaries."""
    title = numbers["title"]
    result = {}
    rows = [
        [
            r["label"],
            len(r["seeds"]),
            r["max_mean_acc"],
            r["std_at_max"] if len(r["seeds"]) > 1 else None,
            r["max_mean_step"],
            r["final_acc_mean"],
            r["final_acc_std"] if len(r["seeds"]) > 1 else None,
        ]
        for r in numbers["groups"]
    ]
    result["accuracy"] = tables.write(
        output,
        f"table1_accuracy_{slug}",
        tables.columns(
            "group",
            "seeds",
            ("max mean acc", 4),
            ("std", 4),
            "at iteration",
            ("final acc", 4),
            ("final std", 4),
        ),
        rows,
        f"{title}: maximum mean test accuracy over seeds (std over seeds at that iteration) "
        "and final accuracy",
    )
    if "A_b" in numbers and len(numbers["groups"]) > 1:
        rows = []
        for eps in numbers["eps_table"]:
            for r in numbers["groups"]:
                if r["baseline"]:
                    rows.append(
                        [
                            r["label"],
                            "reference",
                            eps,
                            numbers["t_b"],
                            None,
                            None,
                            None,
                            None,
                            numbers["t_b_samples"],
                            numbers["t_b_seconds"],
                            None,
                        ]
                    )
                    continue
                at = r["speedup"][eps]
                reached = [s["speedup"] for s in at["per_seed"] if s["speedup"] is not None]
                rows.append(
                    [
                        r["label"],
                        "method",
                        eps,
                        at["t_n"],
                        at["speedup"],
                        min(reached) if reached else None,
                        max(reached) if reached else None,
                        len(at["per_seed"]) - len(reached),
                        at["samples"],
                        at["seconds"],
                        at["speedup_time"],
                    ]
                )
        result["speedup"] = tables.write(
            output,
            f"speedup_{slug}",
            tables.columns(
                "group",
                "role",
                "eps",
                "iterations",
                ("speed-up", 2),
                ("seed min", 2),
                ("seed max", 2),
                "seeds not reached",
                "samples",
                ("seconds", 1),
                ("speed-up in time", 2),
            ),
            rows,
            f"{title}: iterations, samples and seconds to reach A_b - eps = {numbers['A_b']:.4f} - eps "
            f"(the reference reaches A_b at t_b = {numbers['t_b']}); speed-up t_b / t_n (Eq. 3); "
            "—: A_b - eps not reached by t_b (or, for the reference, not applicable)",
        )
    rows = [
        [
            c["label"],
            c["runs"],
            mean_or_none(c["wall_time_s"]),
            mean_or_none(c["total_steps"]),
            mean_or_none(c["scoring_time_s"]),
            mean_or_none(c["extra_iterations"]),
        ]
        for c in numbers["costs"]
    ]
    result["costs"] = tables.write(
        output,
        f"costs_{slug}",
        tables.columns(
            "group",
            "runs",
            ("wall time s", 1),
            ("iterations", 0),
            ("scoring time s", 2),
            ("extra iterations", 0),
        ),
        rows,
        f"{title}: mean cost per run",
    )
    for item in numbers["sensitivity"]:
        rows = [
            [
                panel["fixed"],
                p["value"],
                p["label"],
                p["seeds"],
                p["max_mean_acc"],
                p["acc_p16"],
                p["acc_p84"],
                p.get("speedup"),
                p.get("speedup_p16"),
                p.get("speedup_p84"),
                p.get("seeds_not_reached"),
            ]
            for panel in item["summary"]
            for p in panel["points"]
        ]
        short = names.setting_name(item["key"])
        item["table"] = tables.write(
            output,
            f"sensitivity_{slugify(item['key'])}_{slug}",
            tables.columns(
                "fixed",
                short,
                "group",
                "seeds",
                ("max mean acc", 4),
                ("acc p16", 4),
                ("acc p84", 4),
                ("speed-up", 2),
                ("speed-up p16", 2),
                ("speed-up p84", 2),
                "seeds not reached",
            ),
            rows,
            f"{title}: sensitivity to {short}; maximum mean accuracy and speed-up at eps = "
            f"{analysis.eps_key(analysis.HEADLINE_EPS)} with 16-84% bands over seeds",
        )
    return result


def mean_or_none(values: list) -> float | None:
    return float(sum(values) / len(values)) if values else None


def importance_sections(groups, output: Path, data_dir: str | None, with_images: bool) -> list[dict]:
    buckets: dict[str, list] = {}
    for group in groups:
        weights = analysis.load_weights(group)
        if weights is not None:
            buckets.setdefault(analysis.dataset_key(group), []).append(weights)
    sections = []
    for bucket in buckets.values():
        numbers = analysis.importance_numbers(bucket)
        choice = str(bucket[0].group.settings.get("dataset", "dataset"))
        dataset = names.dataset_name(bucket[0].group.settings) or choice
        slug = f"{slugify(choice)}_{len(sections) + 1}"
        same_name = sum(
            str(b[0].group.settings.get("dataset", "dataset")) == choice for b in buckets.values()
        )
        numbers["title"] = (
            dataset if same_name == 1 else f"{dataset} ({', '.join(g.group.set_title for g in bucket)})"
        )
        numbers["group_labels"] = [item.group.full_label for item in bucket]
        for entry, item in zip(numbers["groups"], bucket):
            entry["label"] = item.group.full_label
        numbers["figures"] = {
            "class_importance": figures.class_importance(
                numbers, output / f"fig3_class_importance_{slug}.png"
            ).name,
            "sorted_weights": figures.sorted_weights(
                bucket, output / f"fig13_sorted_weights_{slug}.png"
            ).name,
        }
        rows = [
            [
                g["label"],
                name,
                g["class_importance_mean"][c],
                g["class_importance_p16"][c],
                g["class_importance_p84"][c],
            ]
            for g in numbers["groups"]
            for c, name in enumerate(numbers["class_names"])
        ]
        numbers["tables"] = {
            "class_importance": tables.write(
                output,
                f"class_importance_{slug}",
                tables.columns("group", "class", ("share", 4), ("p16", 4), ("p84", 4)),
                rows,
                f"{numbers['title']}: each class's share of the sample weights at the switch, "
                "mean over seeds with 16th and 84th percentiles",
            )
        }
        numbers["images"], numbers["images_note"] = (
            extreme_images(bucket, output, data_dir) if with_images else ([], "skipped (--no-images)")
        )
        sections.append(numbers)
    return sections


def same_ranking(a, b) -> bool:
    """Two groups' weights order every seed's samples the same way (e.g. gamma variants of one E and seed)."""
    from sample_importance.report.metrics import average_ranks

    return (
        a.seeds == b.seeds
        and a.weights.shape == b.weights.shape
        and all(np.array_equal(average_ranks(x), average_ranks(y)) for x, y in zip(a.weights, b.weights))
    )


def ranking_classes(bucket) -> list[list]:
    """The bucket's groups, those with the same ranking together (in order of first appearance)."""
    classes: list[list] = []
    for item in bucket:
        for members in classes:
            if same_ranking(members[0], item):
                members.append(item)
                break
        else:
            classes.append([item])
    return classes


def constant_within_classes(item) -> bool:
    return all(
        np.ptp(seed_weights[item.labels == c]) == 0
        for seed_weights in item.weights
        for c in np.unique(item.labels)
    )


def extreme_images(bucket, output: Path, data_dir: str | None) -> tuple[list[dict], str]:
    """Fig. 18-19 once per ranking (groups whose weights order the samples alike share a figure),
    from the rebuilt data or else from the logged grids."""
    first_run = bucket[0].group.runs[0]
    try:
        pixels, labels = images.training_images(first_run, data_dir)
        note = ""
    except images.ImagesUnavailable as error:
        pixels, labels, note = None, None, f"training images not rebuilt ({error})"
    result = []
    for members in ranking_classes(bucket):
        item = members[0]
        shared = [m.group.label for m in members]
        title = " = ".join(shared) if len(shared) > 1 else item.group.label
        rows = [f"seed {s}" for s in item.seeds]
        names = item.class_names or [str(c) for c in range(item.num_classes)]
        slug = item.group.slug()
        entry = {"label": item.group.full_label, "groups": shared}
        if constant_within_classes(item):  # SGD-SCI draws by class: no sample is easier than another
            result.append(
                {**entry, "note": "weights are equal within each class: no easiest or hardest sample"}
            )
            continue
        if pixels is not None and len(labels) == len(item.labels) and (labels == item.labels).all():
            easiest, hardest = images.extremes(item.weights, item.labels, pixels, item.num_classes)
            easy = figures.image_table(
                easiest,
                rows,
                names,
                f"{title}: easiest training image per class (lowest weight)",
                output / f"fig18_easiest_{slug}.png",
            )
            hard = figures.image_table(
                hardest,
                rows,
                names,
                f"{title}: hardest training image per class (highest weight)",
                output / f"fig19_hardest_{slug}.png",
            )
            result.append({**entry, "easiest": easy.name, "hardest": hard.name})
            continue
        if pixels is not None:
            note = "the rebuilt training set differs from the runs' samples; logged grids used instead"
        grids = [
            (f"seed {run.seed}", image)
            for run in item.group.runs
            if run.weights_file is not None
            and run.events_dir.is_dir()
            and (image := read_run_image(run)) is not None
        ]
        if grids:
            path = figures.logged_grids(
                grids,
                f"{title}: top row easiest, bottom row hardest per class (logged at the switch)",
                output / f"fig18_19_logged_{slug}.png",
            )
            result.append({**entry, "logged": path.name})
    return result, note
