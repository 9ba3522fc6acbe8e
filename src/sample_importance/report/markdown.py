"""``report.md``: the numbers of report.json as tables, with the figures inline."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sample_importance.report.analysis import HEADLINE_EPS, MIN_SEEDS
from sample_importance.report.names import setting_name

DASH = "—"


def cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def num(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return DASH
    return f"{value:.{digits}f}"


def pm(mean, std, digits: int = 4, seeds: int = 2) -> str:
    """``mean ± std``; with one seed just the value (a standard deviation of one run means nothing)."""
    if mean is None or not np.isfinite(mean):
        return DASH
    if seeds < 2 or std is None:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def times(value) -> str:
    return DASH if value is None else f"{value:.2f}x"


def shown_path(path: str) -> str:
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else path


def seeds_text(row: dict) -> str:
    text = ",".join(str(s) for s in row["seeds"])
    if row.get("missing_seeds"):
        text += f" (missing {','.join(str(s) for s in row['missing_seeds'])})"
    return text


def figure(name: str, caption: str) -> str:
    return f"![{caption}]({name})\n\n"


def mean_std_text(values: list[float], digits: int = 1) -> str:
    if not values:
        return DASH
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {float(np.std(values, ddof=1)):.{digits}f}"


def files(entry: dict | None) -> str:
    """`` (CSV, LaTeX)`` links to a table's files."""
    return f" ([CSV]({entry['csv']}), [LaTeX]({entry['tex']}))" if entry else ""


def headline(section: dict) -> str:
    """One line per comparison set: the best group, its speed-up and whether it beats the seed noise."""
    head = section.get("headline") or {}
    title = section["title"] or "runs"
    if not section["groups"]:
        return f"- **{title}**: no finished run.\n"
    if head.get("best") is None or len(section["groups"]) == 1:
        return f"- **{title}**: one group only ({section['groups'][0]['label']}); nothing to compare.\n"
    text = f"- **{title}**: best {head['best']} (max mean accuracy {head['max_mean_acc']:.4f}"
    if "accuracy_difference" not in head:
        return text + f"); no speed-up or test without a baseline: {section.get('baseline_note', '')}.\n"
    text += f", {head['accuracy_difference']:+.4f} vs {head['baseline']})"
    eps = head["eps"]
    if head["speedup"] is None:
        text += f"; does not reach A_b - {eps} by t_b"
    else:
        text += f"; speed-up at eps {eps}: {head['speedup']:.2f}x in iterations"
        if head.get("speedup_time") is not None:
            text += f", {head['speedup_time']:.2f}x in seconds"
    if head.get("speedup_seed_range"):
        low, high = head["speedup_seed_range"]
        text += f" (per seed {low:.2f}x-{high:.2f}x"
        text += (
            f", {head['seeds_not_reached']} of {head['seeds']} seeds not reached)"
            if head["seeds_not_reached"]
            else ")"
        )
    elif head["speedup"] is not None or head.get("seeds"):
        text += " (no seed reaches it on its own)"
    test = head["test"]
    if test["test"] is None:
        text += (
            f". Accuracy difference vs the seed noise: too few seeds ({test['n']}; a test needs "
            f"{MIN_SEEDS}), not tested."
        )
    else:
        low, high = test["ci95"]
        verdict = "larger than the seed noise" if test["exceeds_seed_noise"] else "within the seed noise"
        text += (
            f". Per-seed best accuracy difference {test['mean_difference']:+.4f}, 95% CI [{low:+.4f}, "
            f"{high:+.4f}], p = {test['p_value']:.3g} ({test['test']}, n = {test['n']}): {verdict}."
        )
    return text + "\n"


# -- sections ----------------------------------------------------------------------------------
def comparison(section: dict) -> str:
    out = [f"## {section['title'] or 'runs'}\n\n"]
    if section.get("baseline_note"):
        note = section["baseline_note"]
        out.append(f"{note[0].upper()}{note[1:]}.")
    if "A_b" in section:
        out.append(
            f" A_b = {section['A_b']:.4f} (maximum mean accuracy of the baseline), first reached at "
            f"t_b = {section['t_b']} iterations"
            + (f" ({section['t_b_seconds']:.1f} s)" if section.get("t_b_seconds") is not None else "")
            + "."
        )
    out.append("\n\n")
    if not section["groups"]:
        out.append("No finished run in this set.\n\n")
        return "".join(out)
    tables = section.get("tables", {})
    out.append(f"### Maximum mean test accuracy (Table 1){files(tables.get('accuracy'))}\n\n")
    rows = [
        [
            row["label"] + (" (reference)" if row["baseline"] else ""),
            seeds_text(row),
            pm(row["max_mean_acc"], row["std_at_max"], seeds=len(row["seeds"])),
            row["max_mean_step"],
            pm(row["final_acc_mean"], row["final_acc_std"], seeds=len(row["seeds"])),
            ", ".join(num(a) for a in row["best_acc_per_seed"]),
        ]
        for row in section["groups"]
    ]
    out.append(
        table(
            ["group", "seeds", "max mean acc ± std", "at iteration", "final acc", "best acc per seed"], rows
        )
    )
    if any(len(row["seeds"]) == 1 for row in section["groups"]):
        out.append("\nGroups of one seed show their value without ± (no spread to estimate).\n")
    for row in section["groups"]:
        if row.get("carried_steps"):
            out.append(
                f"\n{row['label']}: its seeds were evaluated at different iterations; at "
                f"{row['carried_steps']} of them a seed's latest earlier accuracy is used.\n"
            )
        if row["dropped_steps"]:
            out.append(
                f"\n{row['label']}: {row['dropped_steps']} logged iterations lie before some seed's first or "
                "after some seed's last evaluation and are left out of its statistics.\n"
            )
    for group in section.get("groups_without_finished_runs", []):
        out.append(f"\n{group['label']}: no finished run ({len(group['partial_runs'])} partial or failed).\n")
    few = sorted({len(r["seeds"]) for r in section["groups"] if len(r["seeds"]) < MIN_SEEDS})
    out.append("\n" + figure(section["figures"]["accuracy"], "test accuracy vs iterations (Fig. 1)"))
    out.append(
        "Mean over seeds (n per group in the legend) with the 16th-84th percentile band"
        + (
            " (one seed: no band)"
            if few == [1]
            else f" (groups of {' or '.join(str(n) for n in few)} seeds: a band under {MIN_SEEDS} seeds "
            "only spans those runs, not a spread to rely on)"
            if few
            else ""
        )
        + "; black: the baseline (the reference); red dashed: A_b; vertical dashed: the first iteration a "
        "group's mean reaches A_b; triangles on top: the switch to weighted drawing (E); grey dotted: "
        "learning-rate decays (the schedule's milestones); dotted curves: partial runs.\n\n"
    )
    if "A_b" in section and any(not row["baseline"] for row in section["groups"]):
        out.append(speedup_tables(section))
        out.append(time_table(section))
    if section.get("augmented_vs_other"):
        out.append("### Augmented and other classes (Fig. 4)\n\n")
        rows = [
            [g["label"], pm(*g["acc"]), pm(*g["acc_augmented"]), pm(*g["acc_other"])]
            for g in section["augmented_vs_other"]
        ]
        out.append(table(["group", "final acc, all", "augmented classes", "other classes"], rows))
        out.append("\n" + figure(section["figures"]["augmented"], "augmented vs other classes (Fig. 4)"))
    if section.get("sensitivity"):
        out.append("### Sensitivity (Fig. 8 for E = burn_in_epochs, Fig. 10 for gamma)\n\n")
        for item in section["sensitivity"]:
            out.append(sensitivity(item, section))
    out.append(f"### Costs{files(tables.get('costs'))}\n\n")
    rows = [
        [
            c["label"],
            c["runs"],
            mean_std_text(c["wall_time_s"]),
            mean_std_text(c["total_steps"], 0),
            mean_std_text(c["scoring_time_s"], 2),
            mean_std_text(c["extra_iterations"], 0),
        ]
        for c in section["costs"]
    ]
    out.append(
        table(["group", "runs", "wall time s", "iterations", "scoring time s", "extra iterations"], rows)
    )
    return "".join(out) + "\n"


def sensitivity(item: dict, section: dict) -> str:
    short = setting_name(item["key"])
    out = [f"#### {short} (`{item['key']}`){files(item.get('table'))}\n\n"]
    header = ["fixed", short, "seeds", "max mean acc [16%, 84%]"]
    with_speedup = "A_b" in section
    if with_speedup:
        header += [
            f"speed-up at eps {item['summary'][0]['eps'] if item['summary'] else ''}: mean curve "
            "[16%, 84% of the seeds that reach it]"
        ]
    rows = []
    for panel in item["summary"]:
        for p in panel["points"]:
            row = [
                panel["fixed"] or DASH,
                p["value"],
                p["seeds"],
                f"{p['max_mean_acc']:.4f} [{p['acc_p16']:.4f}, {p['acc_p84']:.4f}]",
            ]
            if with_speedup:
                text = "mean not reached" if p.get("speedup") is None else times(p["speedup"])
                if p.get("speedup_p16") is not None:
                    text += f" [{p['speedup_p16']:.2f}, {p['speedup_p84']:.2f}]"
                if p.get("seeds_not_reached"):
                    text += f"; {p['seeds_not_reached']} of {p['seeds']} seeds do not reach it"
                row.append(text)
            rows.append(row)
        for skipped in panel["skipped"]:
            out.append(f"{skipped} is not a number: left out of the summary.\n\n")
    if rows:
        out.append(table(header, rows) + "\n")
    if item.get("summary_figure"):
        out.append(figure(item["summary_figure"], f"sensitivity summary for {short}"))
    out.append(figure(item["figure"], f"curves for each {short}"))
    return "".join(out)


def time_table(section: dict) -> str:
    """Iterations, samples seen and seconds to reach A_b - eps, per group."""
    eps_keys = section["eps_table"]
    out = ["### Time to accuracy: iterations, samples seen, seconds\n\n"]
    out.append(
        "To reach A_b - eps: iterations (t_n), samples seen (t_n x the batch size, plus any extra iterations "
        "counted), and seconds since the run started fitting (mean over seeds at the evaluation of t_n, read "
        "from the TensorBoard events' wall times: training, evaluations and the scoring pass, without the "
        "set-up before fitting; a resumed run also counts its pause). Speed-up in time: the reference's "
        "seconds to t_b over the group's. The reference reaches A_b at "
        f"t_b = {section['t_b']}"
        + (f", {section['t_b_samples']} samples" if section.get("t_b_samples") else "")
        + (f", {section['t_b_seconds']:.1f} s" if section.get("t_b_seconds") is not None else "")
        + ". "
        "Seconds on a shared or busy machine, and the first job of a sweep process (one-time warm-up), "
        "are slower than the iterations say: compare them only between runs made alike.\n\n"
    )
    rows = []
    for row in section["groups"]:
        if row["baseline"]:
            continue
        for e in eps_keys:
            at = row["speedup"][e]
            rows.append(
                [
                    row["label"],
                    e,
                    "not reached" if at["t_n"] is None else at["t_n"],
                    DASH if at["samples"] is None else at["samples"],
                    num(at["seconds"], 1),
                    times(at["speedup"]),
                    times(at["speedup_time"]),
                ]
            )
    out.append(
        table(
            ["group", "eps", "iterations", "samples", "seconds", "speed-up (iterations)", "speed-up (time)"],
            rows,
        )
    )
    machines = section.get("machines") or []
    if machines:
        out.append("\nTimes measured on: " + "; ".join(f"`{m}`" for m in machines) + ".")
        if len(machines) > 1:
            out.append(
                " The runs come from different machines or versions: their seconds are not comparable."
            )
        out.append("\n\n")
    return "".join(out)


def speedup_cell(value: dict) -> str:
    if value["t_n"] is None:
        return "not reached"
    return f"{times(value['speedup'])} (t_n {value['t_n']})"


def speedup_tables(section: dict) -> str:
    eps_keys = section["eps_table"]
    counted = (
        " (t_n includes the iterations spent before training)"
        if section.get("extra_iterations_counted")
        else ""
    )
    speedup_files = files(section.get("tables", {}).get("speedup"))
    out = [f"### Speed-up t_b / t_n (Eq. 3, Fig. 2){counted}{speedup_files}\n\n"]
    out.append(
        f"t_n: first iteration at which a group's mean accuracy reaches A_b - eps, counted only up to t_b; "
        f"not reached: A_b - eps is not reached by t_b. The reference ({section['baseline']}) defines A_b "
        f"and t_b = {section['t_b']} and is not a competitor here.\n\n"
    )
    rows = [
        [row["label"]] + [speedup_cell(row["speedup"][e]) for e in eps_keys]
        for row in section["groups"]
        if not row["baseline"]
    ]
    out.append(table(["group"] + [f"eps = {e}" for e in eps_keys], rows))
    out.append("\nPer seed (each seed's curve against the baseline's mean A_b and t_b):\n\n")
    rows = []
    for row in section["groups"]:
        if row["baseline"]:
            continue
        for index, seed in enumerate(row["seeds"]):
            speedups = [reached(row["speedup"][e]["per_seed"][index]["speedup"]) for e in eps_keys]
            rows.append([row["label"], seed] + speedups)
    out.append(table(["group", "seed"] + [f"eps = {e}" for e in eps_keys], rows))
    out.append("\n" + figure(section["figures"]["speedup"], "speed-up vs tolerance (Fig. 2)"))
    out.append("Every group is drawn; x at the bottom: A_b - eps not reached by t_b; the reference at 1.\n\n")
    return "".join(out)


def reached(value) -> str:
    return "not reached" if value is None else times(value)


def importance(section: dict) -> str:
    class_files = files(section.get("tables", {}).get("class_importance"))
    out = [
        f"## Sample importance: {section['title']}\n\n",
        f"### Class importance (Fig. 3, 11, 15){class_files}\n\n",
    ]
    out.append(
        "Share of the total weight per class at the switch: mean over seeds [16th, 84th percentile]"
        + ("; (aug): a replicated class" if section["augmented_classes"] else "")
        + ".\n\n"
    )
    groups = section["groups"]
    augmented = set(section["augmented_classes"])
    rows = []
    for c, name in enumerate(section["class_names"]):
        rows.append(
            [name + (" (aug)" if c in augmented else "")]
            + [
                f"{g['class_importance_mean'][c]:.4f} [{g['class_importance_p16'][c]:.4f}, "
                f"{g['class_importance_p84'][c]:.4f}]"
                for g in groups
            ]
        )
    rows.append(["Spearman rho between seeds"] + [num(g["spearman_between_seeds"], 3) for g in groups])
    out.append(table(["class"] + [f"{g['label']} (n={len(g['seeds'])})" for g in groups], rows))
    out.append("\n" + figure(section["figures"]["class_importance"], "class importance (Fig. 3)"))
    out.append(
        "Bars: mean share over seeds, error bars the 16th-84th percentiles; dotted line: the share "
        "every class would have with equal weights, 1/C.\n\n"
    )
    if len(groups) > 1:
        out.append("### Spearman rho between groups (each group's mean weight over seeds)\n\n")
        matrix = section["spearman_between_groups"]
        rows = [[g["label"]] + [num(v, 3) for v in matrix[i]] for i, g in enumerate(groups)]
        out.append(
            table(
                [""] + [str(i + 1) for i in range(len(groups))],
                [[f"{i + 1}. {r[0]}"] + r[1:] for i, r in enumerate(rows)],
            )
        )
        out.append(f"\nMean over pairs: {num(section['mean_spearman_between_groups'], 3)}.\n\n")
    out.append("### Sample weights sorted by their mean over seeds (Fig. 13)\n\n")
    out.append(figure(section["figures"]["sorted_weights"], "sorted sample weights (Fig. 13)"))
    out.append("### Easiest and hardest training image per class (Fig. 18-19)\n\n")
    if section.get("images_note"):
        out.append(f"Note: {section['images_note']}.\n\n")
    for item in section["images"]:
        if len(item.get("groups", [])) > 1:
            out.append(
                f"{', '.join(item['groups'])}: the same ranking of the samples on every seed (their weights "
                "are monotone in each other), hence the same images: drawn once.\n\n"
            )
        if "note" in item:
            out.append(f"{', '.join(item['groups'])}: {item['note']}.\n\n")
        elif "easiest" in item:
            out.append(figure(item["easiest"], f"{item['label']}: easiest (Fig. 18)"))
            out.append(figure(item["hardest"], f"{item['label']}: hardest (Fig. 19)"))
        else:
            out.append(figure(item["logged"], f"{item['label']}: easiest (top) and hardest (bottom), logged"))
    if not section["images"]:
        out.append("No images available for this figure.\n\n")
    for group in groups:
        for note in group["notes"]:
            out.append(f"Note: {note}.\n\n")
    return "".join(out)


def unfinished(report: dict) -> str:
    out = ["## Missing and partial runs\n\n"]
    rows = [
        [
            shown_path(r["folder"]),
            r["status"],
            DASH if r["seed"] is None else r["seed"],
            r["group"] or DASH,
            r["note"],
        ]
        for r in report["unfinished_runs"]
    ]
    missing = [
        (section["title"], row["label"], row["missing_seeds"])
        for section in report["comparisons"]
        for row in section["groups"]
        if row.get("missing_seeds")
    ]
    if not rows and not missing:
        return out[0] + "None: every run finished and every group has every seed.\n\n"
    if rows:
        out.append(table(["folder", "status", "seed", "group", "note"], rows) + "\n")
    for title, label, seeds in missing:
        out.append(
            f"- {title}: {label} lacks seed(s) {', '.join(str(s) for s in seeds)} that other groups have.\n"
        )
    return "".join(out) + "\n"


def left_out_text(run: dict) -> str:
    status = "" if run["status"] == "finished" else f" ({run['status']})"
    return shown_path(run["folder"]) + status


def duplicate_notice(entry: dict) -> str:
    """One line for a group that read a seed from several folders: the run counted, those left out."""
    seeds = "; ".join(
        f"seed {s['seed']} from {shown_path(s['counted'])}, left out "
        + ", ".join(left_out_text(r) for r in s["left_out"])
        for s in entry["seeds"]
    )
    return f"{entry['group']}: each seed counted once ({seeds})"


def duplicates(report: dict) -> str:
    rows = [
        [
            entry["group"],
            s["seed"],
            shown_path(s["counted"]),
            ", ".join(left_out_text(r) for r in s["left_out"]),
        ]
        for entry in report.get("duplicate_runs", [])
        for s in entry["seeds"]
    ]
    if not rows:
        return ""
    return (
        "## Duplicate runs\n\nThese seeds of a group were found in more than one folder (sweeps read "
        "together that both hold the run). Each counts once, from one run: a finished run before an "
        "unfinished one, then the one that wrote last; the others are left out of every figure and "
        "table.\n\n" + table(["group", "seed", "counted", "left out"], rows) + "\n"
    )


def unreadable(report: dict) -> str:
    rows = [[shown_path(r["folder"]), "; ".join(r["problems"])] for r in report.get("unreadable_runs", [])]
    if not rows:
        return ""
    return (
        "## Unreadable runs\n\nFiles of these runs could not be read; what they would have given is left out "
        "of the figures and tables above.\n\n" + table(["folder", "problem"], rows) + "\n"
    )


def per_run(report: dict) -> str:
    rows = [
        [
            shown_path(r["folder"]),
            r["group"],
            r["seed"],
            num(r["best_test_acc"]),
            num(r["final_test_acc"]),
            r["total_steps"] if r["total_steps"] is not None else DASH,
            num(r["wall_time_s"], 1),
            num(r["scoring_time_s"], 2),
            r["extra_iterations"] if r["extra_iterations"] is not None else DASH,
        ]
        for r in report["per_run"]
    ]
    return "## Finished runs\n\n" + table(
        [
            "folder",
            "group",
            "seed",
            "best acc",
            "final acc",
            "iterations",
            "wall time s",
            "scoring time s",
            "extra iterations",
        ],
        rows,
    )


def left_out_sentence(report: dict) -> str:
    count = sum(len(s["left_out"]) for e in report.get("duplicate_runs", []) for s in e["seeds"])
    return (
        f"; {plural(count, 'run')} left out as a second run of a seed (see Duplicate runs)" if count else ""
    )


def render(report: dict, output: Path) -> str:
    inputs = ", ".join(f"`{p}`" for p in report["inputs"])
    head = (
        f"# Report\n\n{plural(report['runs'], 'run')} read from {inputs}; "
        f"{report['finished']} finished{left_out_sentence(report)}. Means are over seeds; bands and error "
        "bars span the 16th to 84th percentiles (the paper's Appendix A.2.1); ± is the sample standard "
        "deviation over seeds. "
        "Tables are also written as CSV and LaTeX (booktabs) beside this file; "
        f"all numbers are also in `report.json`.\n\n"
    )
    lines = [headline(s) for s in report["comparisons"]]
    summary = (
        "## Headlines\n\nPer comparison set: the non-baseline group with the highest maximum mean accuracy, "
        f"its speed-up at eps = {HEADLINE_EPS:g} over the baseline, and whether its accuracy difference to "
        "the baseline exceeds the seed noise: each seed's best test accuracy, compared by a paired t-test "
        f"over the seeds both groups ran (Welch's t-test when fewer than {MIN_SEEDS} are shared), with the "
        f"95% confidence interval of the mean difference; under {MIN_SEEDS} seeds no test is made.\n\n"
        + "".join(lines)
        + "\n"
    )
    parts = [head, summary] + [comparison(s) for s in report["comparisons"]]
    parts += [importance(s) for s in report["importance"]]
    parts += [duplicates(report), unfinished(report), unreadable(report), per_run(report)]
    return "".join(parts)
