"""``python -m benchmarks.run [--quick] [--only NAME ...]``: run the benchmarks, write
benchmarks/results/<name>.json, print the table. ``--quick``: tiny sizes (the smoke test)."""

from __future__ import annotations

import argparse
import math
import sys
import time

from benchmarks import common, data_path, framework, free_scoring_accuracy, sampler_draws, scoring_cost

BENCHMARKS = {
    "sampler_draws": sampler_draws.run,
    "scoring_cost": scoring_cost.run,
    "data_path": data_path.run,
    "framework_overhead": framework.run_overhead,
    "speed_knobs": framework.run_knobs,
    "free_scoring_accuracy": free_scoring_accuracy.run,
}


def fmt(value, digits: int = 3) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}g}"
    return str(value)


def table_rows(name: str, result: dict) -> list[tuple[str, str, str]]:
    """(what, value, target) lines of the printed table."""
    if name == "scoring_cost":
        rows = []
        for row in result["rows"]:
            m = row["model"]
            rows += [
                (
                    f"1 scoring pass / epoch ({m}, N={row['train_samples']})",
                    fmt(row["scoring_fraction_of_epoch"]),
                    "<= 0.35",
                ),
                (
                    f"1 the same, model.score_channels_last=false ({m})",
                    fmt(row["scoring_fraction_of_epoch_score_channels_last_false"]),
                    "",
                ),
                (
                    f"2 train_forward recording / epoch ({m})",
                    fmt(row["train_forward_fraction_of_epoch"]),
                    "<= 0.02",
                ),
                (
                    f"3 importance / uniform steps/s ({m})",
                    fmt(row["importance_vs_uniform_throughput"]),
                    ">= 0.98",
                ),
            ]
        return rows
    if name == "free_scoring_accuracy":
        acc = result["median_final_test_acc"]
        return [
            (
                f"2 final test acc eval_pass / train_forward (digits, {result['epochs']} epochs, median)",
                f"{fmt(acc['eval_pass'])} / {fmt(acc['train_forward'])}",
                "",
            )
        ]
    if name == "framework_overhead":
        rows = [
            (
                "4 framework / plain PyTorch steps/s (same process, alternating steps)",
                fmt(result["framework_vs_plain"]),
                ">= 0.90",
            )
        ]
        for name, variant in result["variants"].items():
            if name != "configured":
                rows.append((f"4 the same, {name}", fmt(variant["framework_vs_plain"]), ""))
        return rows
    if name == "sampler_draws":
        rows = []
        for row in result["rows"]:
            speed = (
                fmt(row["index_sampler_vs_multinomial_speed"]) + "x multinomial"
                if "multinomial_s" in row
                else "multinomial impossible"
            )
            rows.append(
                (
                    f"5 sampler draws N={row['n']:.0e}",
                    f"{row['index_sampler_draws_per_s']:.3g}/s ({speed})",
                    "",
                )
            )
        return rows
    if name == "data_path":
        gpu = (
            fmt(result["on_device_vs_cpu_loader"])
            if "on_device_vs_cpu_loader" in result
            else "unmeasured (no GPU)"
        )
        return [
            ("6 loader / training images/s", fmt(result["loader_vs_training"]), ""),
            ("6 in-memory batched / loader images/s (CPU)", fmt(result["in_memory_batched_vs_loader"]), ""),
            ("6 on_device loader / CPU loader images/s, on the GPU", gpu, ">= 5"),
        ]
    if name.startswith("speed_knobs"):
        return [
            (f"7 {knob} / baseline steps/s", fmt(ratio), "")
            for knob, ratio in result["vs_baseline"].items()
            if knob != "baseline"
        ]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the code runs")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run these benchmarks only")
    parser.add_argument(
        "--knobs",
        nargs="+",
        choices=sorted(framework.KNOBS),
        help="speed_knobs: measure these against the baseline only (written as speed_knobs_<names>)",
    )
    args = parser.parse_args(argv)
    lines = []
    for name in args.only or BENCHMARKS:
        start = time.time()
        if name == "speed_knobs" and args.knobs:
            result = framework.run_knobs(quick=args.quick, names=args.knobs)
            name = "speed_knobs_" + "_".join(args.knobs).replace("=", "")
        else:
            result = BENCHMARKS[name](quick=args.quick)
        result["seconds"] = round(time.time() - start, 1)
        if not args.quick:
            path = common.write_result(name, result)
            print(f"{name}: {result['seconds']} s -> {path.relative_to(common.REPO)}", flush=True)
        else:
            print(f"{name}: {result['seconds']} s (quick, not written)", flush=True)
        lines += table_rows(name, result)
    width = max(len(what) for what, _, _ in lines) if lines else 10
    print(f"\n{'benchmark':<{width}}  {'value':<34}  target")
    for what, value, target in lines:
        print(f"{what:<{width}}  {value:<34}  {target}")
    print(f"machine: {common.machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
