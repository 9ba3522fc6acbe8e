"""``report.md``: the numbers of report.json as tables, with the figures inline."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

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


def pm(mean, std, digits: int = 4) -> str:
    return DASH if mean is None or not np.isfinite(mean) else f"{mean:.{digits}f} ± {std:.{digits}f}"


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
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{np.mean(values):.{digits}f} ± {std:.{digits}f}"


# -- sections ----------------------------------------------------------------------------------
def comparison(section: dict) -> str:
    out = [f"## {section['title'] or 'runs'}\n\n"]
    if section.get("baseline_note"):
        out.append(f"{section['baseline_note'].capitalize()}.")
    if "A_b" in section:
        out.append(f" A_b = {section['A_b']:.4f} (maximum mean accuracy of the baseline), first reached at "
                   f"t_b = {section['t_b']} iterations.")
    out.append("\n\n")
    if not section["groups"]:
        out.append("No finished run in this set.\n\n")
        return "".join(out)
    out.append("### Maximum mean test accuracy (Table 1)\n\n")
    rows = [[row["label"] + (" (baseline)" if row["baseline"] else ""), seeds_text(row),
             pm(row["max_mean_acc"], row["std_at_max"]), row["max_mean_step"],
             pm(row["final_acc_mean"], row["final_acc_std"]), ", ".join(num(a) for a in row["best_acc_per_seed"])]
            for row in section["groups"]]
    out.append(table(["group", "seeds", "max mean acc ± std", "at iteration", "final acc", "best acc per seed"],
                     rows))
    for row in section["groups"]:
        if row.get("carried_steps"):
            out.append(f"\n{row['label']}: its seeds were evaluated at different iterations; at "
                       f"{row['carried_steps']} of them a seed's latest earlier accuracy is used.\n")
        if row["dropped_steps"]:
            out.append(f"\n{row['label']}: {row['dropped_steps']} logged iterations lie before some seed's first or "
                       "after some seed's last evaluation and are left out of its statistics.\n")
    for group in section.get("groups_without_finished_runs", []):
        out.append(f"\n{group['label']}: no finished run ({len(group['partial_runs'])} partial or failed).\n")
    out.append("\n" + figure(section["figures"]["accuracy"], "test accuracy vs iterations (Fig. 1)"))
    out.append("Mean over seeds with the 16th-84th percentile band; red dashed: A_b; vertical dashed: the "
               "first iteration a group's mean reaches A_b; dotted: partial runs.\n\n")
    if "A_b" in section:
        out.append(speedup_tables(section))
    if section.get("augmented_vs_other"):
        out.append("### Augmented and other classes (Fig. 4)\n\n")
        rows = [[g["label"], pm(*g["acc"]), pm(*g["acc_augmented"]), pm(*g["acc_other"])]
                for g in section["augmented_vs_other"]]
        out.append(table(["group", "final acc, all", "augmented classes", "other classes"], rows))
        out.append("\n" + figure(section["figures"]["augmented"], "augmented vs other classes (Fig. 4)"))
    if section.get("sensitivity"):
        out.append("### Sensitivity (Fig. 8 for burn_in_epochs, Fig. 10 for gamma)\n\n")
        for item in section["sensitivity"]:
            out.append(f"{item['key']}:\n\n" + figure(item["figure"], f"sensitivity to {item['key']}"))
    out.append("### Costs\n\n")
    rows = [[c["label"], c["runs"], mean_std_text(c["wall_time_s"]), mean_std_text(c["total_steps"], 0),
             mean_std_text(c["scoring_time_s"], 2), mean_std_text(c["extra_iterations"], 0)]
            for c in section["costs"]]
    out.append(table(["group", "runs", "wall time s", "iterations", "scoring time s", "extra iterations"], rows))
    return "".join(out) + "\n"


def speedup_cell(value: dict) -> str:
    return f"{times(value['speedup'])} (t_n {DASH if value['t_n'] is None else value['t_n']})"


def speedup_tables(section: dict) -> str:
    eps_keys = list(section["groups"][0]["speedup"])
    counted = (" (t_n includes the iterations spent before training)"
               if section.get("extra_iterations_counted") else "")
    out = [f"### Speed-up t_b / t_n (Eq. 3, Fig. 2){counted}\n\n"]
    out.append("t_n: first iteration at which a group's mean accuracy reaches A_b - eps, counted only up to "
               f"t_b; {DASH}: not reached by t_b.\n\n")
    rows = [[row["label"]] + [speedup_cell(row["speedup"][e]) for e in eps_keys] for row in section["groups"]]
    out.append(table(["group"] + [f"eps = {e}" for e in eps_keys], rows))
    out.append("\nPer seed (each seed's curve against the baseline's mean A_b and t_b):\n\n")
    rows = []
    for row in section["groups"]:
        for index, seed in enumerate(row["seeds"]):
            speedups = [times(row["speedup"][e]["per_seed"][index]["speedup"]) for e in eps_keys]
            rows.append([row["label"], seed] + speedups)
    out.append(table(["group", "seed"] + [f"eps = {e}" for e in eps_keys], rows))
    out.append("\n" + figure(section["figures"]["speedup"], "speed-up vs tolerance (Fig. 2)"))
    return "".join(out)


def importance(section: dict) -> str:
    out = [f"## Sample importance: {section['title']}\n\n", "### Class importance (Fig. 3, 11, 15)\n\n"]
    out.append("Share of the total weight per class at the switch: mean over seeds [16th, 84th percentile]"
               + ("; (aug): a replicated class" if section["augmented_classes"] else "") + ".\n\n")
    groups = section["groups"]
    augmented = set(section["augmented_classes"])
    rows = []
    for c, name in enumerate(section["class_names"]):
        rows.append([name + (" (aug)" if c in augmented else "")] + [
            f"{g['class_importance_mean'][c]:.4f} [{g['class_importance_p16'][c]:.4f}, "
            f"{g['class_importance_p84'][c]:.4f}]" for g in groups])
    rows.append(["Spearman rho between seeds"] + [num(g["spearman_between_seeds"], 3) for g in groups])
    out.append(table(["class"] + [f"{g['label']} (n={len(g['seeds'])})" for g in groups], rows))
    out.append("\n" + figure(section["figures"]["class_importance"], "class importance (Fig. 3)"))
    if len(groups) > 1:
        out.append("### Spearman rho between groups (each group's mean weight over seeds)\n\n")
        matrix = section["spearman_between_groups"]
        rows = [[g["label"]] + [num(v, 3) for v in matrix[i]] for i, g in enumerate(groups)]
        out.append(table([""] + [str(i + 1) for i in range(len(groups))], [[f"{i + 1}. {r[0]}"] + r[1:]
                                                                            for i, r in enumerate(rows)]))
        out.append(f"\nMean over pairs: {num(section['mean_spearman_between_groups'], 3)}.\n\n")
    out.append("### Sample weights sorted by their mean over seeds (Fig. 13)\n\n")
    out.append(figure(section["figures"]["sorted_weights"], "sorted sample weights (Fig. 13)"))
    out.append("### Easiest and hardest training image per class (Fig. 18-19)\n\n")
    if section.get("images_note"):
        out.append(f"Note: {section['images_note']}.\n\n")
    for item in section["images"]:
        if "easiest" in item:
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
    rows = [[shown_path(r["folder"]), r["status"], DASH if r["seed"] is None else r["seed"], r["group"] or DASH,
             r["note"]] for r in report["unfinished_runs"]]
    missing = [(section["title"], row["label"], row["missing_seeds"]) for section in report["comparisons"]
               for row in section["groups"] if row.get("missing_seeds")]
    if not rows and not missing:
        return out[0] + "None: every run finished and every group has every seed.\n\n"
    if rows:
        out.append(table(["folder", "status", "seed", "group", "note"], rows) + "\n")
    for title, label, seeds in missing:
        out.append(f"- {title}: {label} lacks seed(s) {', '.join(str(s) for s in seeds)} that other groups have.\n")
    return "".join(out) + "\n"


def unreadable(report: dict) -> str:
    rows = [[shown_path(r["folder"]), "; ".join(r["problems"])] for r in report.get("unreadable_runs", [])]
    if not rows:
        return ""
    return ("## Unreadable runs\n\nFiles of these runs could not be read; what they would have given is left out "
            "of the figures and tables above.\n\n" + table(["folder", "problem"], rows) + "\n")


def per_run(report: dict) -> str:
    rows = [[shown_path(r["folder"]), r["group"], r["seed"], num(r["best_test_acc"]), num(r["final_test_acc"]),
             r["total_steps"] if r["total_steps"] is not None else DASH, num(r["wall_time_s"], 1),
             num(r["scoring_time_s"], 2), r["extra_iterations"] if r["extra_iterations"] is not None else DASH]
            for r in report["per_run"]]
    return "## Finished runs\n\n" + table(
        ["folder", "group", "seed", "best acc", "final acc", "iterations", "wall time s", "scoring time s",
         "extra iterations"], rows)


def render(report: dict, output: Path) -> str:
    head = (f"# Report\n\n{report['runs']} runs read from {', '.join(f'`{p}`' for p in report['inputs'])}; "
            f"{report['finished']} finished. Means are over seeds; bands and error bars span the 16th to 84th "
            "percentiles (the paper's Appendix A.2.1); ± is the sample standard deviation over seeds. "
            f"All numbers are also in `report.json`.\n\n")
    parts = [head] + [comparison(s) for s in report["comparisons"]] + [importance(s) for s in report["importance"]]
    parts += [unfinished(report), unreadable(report), per_run(report)]
    return "".join(parts)
