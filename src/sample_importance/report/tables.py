"""The report's tables as CSV (every number at full precision) and LaTeX (booktabs), beside report.md.

A table is a list of columns, each a header and a way to print a value in LaTeX, and rows of
plain values (numbers, text, None). CSV keeps the values as they are in report.json (None is an
empty cell); LaTeX prints them for a paper (``---`` for None).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sample_importance.report.names import latex


def fixed(digits: int) -> Callable:
    return lambda v: f"{v:.{digits}f}"


def text(value) -> str:
    return str(value)


@dataclass
class Column:
    header: str
    show: Callable = text  # value -> LaTeX text (not called for None)


def columns(*specs: str | tuple[str, int]) -> list[Column]:
    """Columns by header; ``(header, digits)`` for numbers that LaTeX prints with that many decimals."""
    return [Column(spec) if isinstance(spec, str) else Column(spec[0], fixed(spec[1])) for spec in specs]


def csv_value(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return ";".join(str(csv_value(v)) for v in value)
    return value


def write(output: Path, name: str, columns: list[Column], rows: list[list], caption: str) -> dict:
    """``name.csv`` and ``name.tex`` in ``output``; returns their file names for report.json."""
    with open(output / f"{name}.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([c.header for c in columns])
        writer.writerows([[csv_value(v) for v in row] for row in rows])
    align = "".join("l" if i == 0 else "r" for i in range(len(columns)))
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex(caption)}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(latex(c.header) for c in columns) + r" \\",
        r"\midrule",
    ]
    for row in rows:
        cells = ["---" if v is None else latex(c.show(v)) for c, v in zip(columns, row)]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    (output / f"{name}.tex").write_text("\n".join(lines) + "\n")
    return {"csv": f"{name}.csv", "tex": f"{name}.tex", "columns": [c.header for c in columns]}
