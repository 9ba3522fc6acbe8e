"""Item 2's accuracy side: final test accuracy with sampler.score_source=eval_pass against
train_forward, same seeds (framework runs on the digits, E=2, gamma 0.5)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from benchmarks.common import median
from benchmarks.framework import framework_run

BASE = ["dataset=digits", "model=lenet", "sampler=importance", "sampler.burn_in_epochs=2", "sampler.gamma=0.5",
        "schedule.batch_size=32", "schedule.lr=0.1"]


def run(quick: bool = False) -> dict:
    seeds = [0] if quick else [0, 1, 2]
    epochs = 3 if quick else 10
    accuracy: dict[str, list[float]] = {"eval_pass": [], "train_forward": []}
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        for seed in seeds:  # interleaved
            for source in accuracy:
                overrides = BASE + [f"seed={seed}", f"schedule.max_epochs={epochs}", f"sampler.score_source={source}"]
                before = set(Path(tmp).iterdir())
                framework_run(overrides, Path(tmp))
                runs = [p for p in set(Path(tmp).iterdir()) - before if p.is_dir()]
                summary = runs[0] / "summary.json" if runs else None
                value = json.loads(summary.read_text())["final_test_acc"] if summary and summary.is_file() else float("nan")
                accuracy[source].append(value)
    return {"overrides": BASE, "epochs": epochs, "seeds": seeds, "final_test_acc": accuracy,
            "median_final_test_acc": {k: median(v) for k, v in accuracy.items()}}
