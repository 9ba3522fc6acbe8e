"""Item 2's accuracy side: final test accuracy with sampler.score_source=eval_pass against
train_forward, same seeds (framework runs on the digits, E=2, gamma 0.5).

One Hydra multirun (``python -m sample_importance.train -m ...``) runs all the jobs in one
process, the two sources alternating per seed: the start-up (imports, data) is paid once."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from benchmarks.common import REPO, median
from benchmarks.framework import child_env

BASE = [
    "dataset=digits",
    "model=lenet",
    "sampler=importance",
    "sampler.burn_in_epochs=2",
    "sampler.gamma=0.5",
    "schedule.batch_size=32",
    "schedule.lr=0.1",
    "trainer.enable_progress_bar=false",
]
SOURCES = ("eval_pass", "train_forward")


def run(quick: bool = False) -> dict:
    seeds = [0] if quick else [0, 1, 2]
    epochs = 3 if quick else 6
    accuracy: dict[str, list[float]] = {source: [float("nan")] * len(seeds) for source in SOURCES}
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        command = [
            sys.executable,
            "-m",
            "sample_importance.train",
            "-m",
            *BASE,
            f"schedule.max_epochs={epochs}",
            "seed=" + ",".join(map(str, seeds)),
            "sampler.score_source=" + ",".join(SOURCES),
            f"hydra.sweep.dir={tmp}",
            "auto_resume=false",
        ]
        done = subprocess.run(
            command, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=1800
        )
        for summary in Path(tmp).glob("*/summary.json"):
            overrides = dict(
                item.split("=", 1)
                for item in yaml.safe_load((summary.parent / ".hydra" / "overrides.yaml").read_text())
            )
            seed, source = int(overrides["seed"]), overrides["sampler.score_source"]
            accuracy[source][seeds.index(seed)] = json.loads(summary.read_text())["final_test_acc"]
    error = None if done.returncode == 0 else (done.stderr or done.stdout)[-600:]
    return {
        "overrides": BASE,
        "epochs": epochs,
        "seeds": seeds,
        "final_test_acc": accuracy,
        "median_final_test_acc": {k: median(v) for k, v in accuracy.items()},
        "error": error,
    }
