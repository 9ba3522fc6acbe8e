"""Condense a study report's report.json into the BENCHMARKS.md table: per group the maximum mean
and final accuracy, and the speed-up t_b / t_n at eps 0, 0.005, 0.01 (mean curve, then per seed).

    python scripts/study_table.py logs/study/<time>/report/report.json
"""

from __future__ import annotations

import json
import sys


def times(value) -> str:
    return "—" if value is None else f"{value:.2f}x"


def label(text: str) -> str:
    # the defaults a group label shows only because another group of the study varies them
    text = text.replace(" loss=cross_entropy", "").replace(" score_source=eval_pass", "")
    text = text.replace("uniform loss=focal", "focal loss")
    return text.replace("uniform", "SGD-Scan").replace("importance burn_in_epochs=", "method E=").replace(" gamma=", ", gamma ")


def table(report: dict) -> str:
    lines = []
    for comparison in report["comparisons"]:
        lines += [f"{comparison['title']}: A_b = {comparison['A_b']:.4f}, t_b = {comparison['t_b']}", "",
                  "| group | max mean acc ± std (iteration) | final acc ± std | eps = 0: mean (per seed) | eps = 0.005 | eps = 0.01 |",
                  "|---|---|---|---|---|---|"]
        for group in comparison["groups"]:
            cells = []
            for eps in ("0", "0.005", "0.01"):
                speedup = group["speedup"][eps]
                cells.append(f"**{times(speedup['speedup'])}** ({', '.join(times(s['speedup']) for s in speedup['per_seed'])})")
            lines.append(f"| {label(group['label'])} | {group['max_mean_acc']:.4f} ± {group['std_at_max']:.4f} "
                         f"({group['max_mean_step']}) | {group['final_acc_mean']:.4f} ± {group['final_acc_std']:.4f} | "
                         + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        print(table(json.load(f)))
