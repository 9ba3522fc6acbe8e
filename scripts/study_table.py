"""Condense a study report's report.json into the BENCHMARKS.md table: per group the maximum mean
and final accuracy, and the speed-up t_b / t_n at eps 0, 0.005, 0.01 (mean curve, then per seed).

    python scripts/study_table.py logs/study/<time>/report/report.json
"""

from __future__ import annotations

import json
import sys


def times(value) -> str:
    return "—" if value is None else f"{value:.2f}x"


def pm(mean: float, std: float | None, group: dict) -> str:
    """``mean ± std``; one seed has no spread, so just the value."""
    return f"{mean:.4f}" if std is None or len(group.get("seeds", [0, 1])) < 2 else f"{mean:.4f} ± {std:.4f}"


def label(text: str) -> str:
    # Reports before the paper's notation labelled groups by config keys; today's labels pass unchanged.
    # The defaults a group label shows only because another group of the study varies them:
    text = text.replace(" loss=cross_entropy", "").replace(" score_source=eval_pass", "")
    text = text.replace("uniform loss=focal", "focal loss")
    return (
        text.replace("uniform", "SGD-Scan")
        .replace("importance burn_in_epochs=", "method E=")
        .replace(" gamma=", ", gamma ")
    )


def table(report: dict) -> str:
    lines = []
    for comparison in report["comparisons"]:
        lines += [
            f"{comparison['title']}: A_b = {comparison['A_b']:.4f}, t_b = {comparison['t_b']}",
            "",
            "| group | max mean acc ± std (iteration) | final acc ± std "
            "| eps = 0: mean (per seed) | eps = 0.005 | eps = 0.01 |",
            "|---|---|---|---|---|---|",
        ]
        for group in comparison["groups"]:
            cells = []
            for eps in ("0", "0.005", "0.01"):
                speedup = group["speedup"][eps]
                per_seed = ", ".join(times(s["speedup"]) for s in speedup["per_seed"])
                cells.append(
                    "reference" if group.get("baseline") else f"**{times(speedup['speedup'])}** ({per_seed})"
                )
            peak = pm(group["max_mean_acc"], group["std_at_max"], group)
            final = pm(group["final_acc_mean"], group["final_acc_std"], group)
            lines.append(
                f"| {label(group['label'])} | {peak} ({group['max_mean_step']}) | {final} | "
                + " | ".join(cells)
                + " |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        print(table(json.load(f)))
