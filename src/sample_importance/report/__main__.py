"""Command line of the report; see ``python -m sample_importance.report --help``."""

from __future__ import annotations

import argparse
import sys

from sample_importance.errors import UserError

EXAMPLES = """examples:
  python -m sample_importance.report logs/multiruns/2026-11-25/18-00-00-000000
  python -m sample_importance.report 'logs/runs/2026-11-25/*' --out reports/today
  python -m sample_importance.report SWEEP --baseline sampler=importance --baseline sampler.burn_in_epochs=5
  python -m sample_importance.report SWEEP --extra-iterations    # count EL2N's scoring iterations in t_n
"""


def parse_eps(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("tolerances must be >= 0")
    return values


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sample_importance.report",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Tables and figures of the paper (Table 1, Fig. 1-4, 8, 10, 13, 18-19) from training "
        "runs: runs that differ only in seed are grouped; report.md, report.json and PNGs are "
        "written.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="a run folder, a sweep folder, logs/, or a glob")
    p.add_argument(
        "--out", help="output folder (default: PATH/report, or report/ in the runs' common parent)"
    )
    p.add_argument(
        "--baseline",
        action="append",
        metavar="KEY=VALUE|RUN",
        help="the reference group of Eq. (3) (default sampler=uniform); repeat to combine, "
        "e.g. --baseline sampler=importance --baseline sampler.gamma=0.5; or a run folder",
    )
    p.add_argument(
        "--extra-iterations",
        action="store_true",
        help="add the iterations a method spent before training (EL2N's scoring models) to t_n",
    )
    p.add_argument(
        "--eps",
        type=parse_eps,
        default=(0.0, 0.005, 0.01),
        help="tolerances for the speed-up tables (default 0,0.005,0.01; the figure spans 0-0.01)",
    )
    p.add_argument(
        "--data-dir", help="where the datasets are, to draw Fig. 18-19 (default: as the runs had it)"
    )
    p.add_argument("--no-images", action="store_true", help="skip Fig. 18-19 (no dataset is loaded)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from sample_importance.report.build import build_report

    try:
        report = build_report(
            args.paths,
            out=args.out,
            baseline=args.baseline,
            count_extra=args.extra_iterations,
            eps_table=args.eps,
            data_dir=args.data_dir,
            with_images=not args.no_images,
            progress=False if args.no_progress else None,
        )
    except UserError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 2
    import json

    from sample_importance.report.build import NUMBERS_FILE
    from sample_importance.report.markdown import duplicate_notice

    numbers = json.loads((report.parent / NUMBERS_FILE).read_text())
    for entry in numbers.get("duplicate_runs", []):
        print(f"note: {duplicate_notice(entry)}", file=sys.stderr, flush=True)
    unreadable = numbers.get("unreadable_runs", [])
    if unreadable:
        print(
            f"warning: {len(unreadable)} run(s) with unreadable files, left out where needed: "
            f"listed in {report}",
            file=sys.stderr,
            flush=True,
        )
    print(f"report: {report}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
