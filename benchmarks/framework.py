"""Items 4 and 7: steady-state steps/s of ``python -m sample_importance.train`` (batch-end times of
epochs after the first, from benchmarks/step_timer.py) against a plain PyTorch loop on the same
model, data, loss, optimizer and batch size; and the speed knobs, each a framework run.

Both arms run in fresh processes (``python -m benchmarks.framework plain OVERRIDES...`` is the
plain loop), alternating, and every steady epoch of every repeat counts: an epoch of LeNet lasts
about a second, so single epochs are at the mercy of whatever else the machine does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import REPO, build_plain, median
from benchmarks.step_timer import epoch_rates, steady_steps_per_s

SETUP = ["dataset=fashion_mnist_imbalanced", "model=lenet", "sampler=uniform"]
BASE = [*SETUP, "schedule.max_epochs=6"]  # 5 steady epochs a run
KNOBS_BASE = [*SETUP, "schedule.max_epochs=4"]  # 3 steady epochs a run
QUICK = ["dataset=digits", "model=lenet", "sampler=uniform", "schedule.max_epochs=2", "schedule.batch_size=32"]
KNOBS = {
    "baseline": [],
    "bf16-mixed": ["+trainer.precision=bf16-mixed"],
    "channels_last": ["+model.channels_last=true"],
    "compile": ["+model.compile=true"],
    "num_workers=2": ["dataset.num_workers=2"],
    # the default redraws the progress bar every 10 steps (configs/callbacks/default.yaml)
    "progress_bar_every_step": ["callbacks.progress_bar.refresh_rate=1"],
}


def child_env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def timed_run(command: list[str], timer: Path) -> dict:
    """Run ``command`` in a fresh process that writes its batch-end times to ``timer``; its steps/s."""
    done = subprocess.run(command, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=900)
    if done.returncode != 0 or not timer.is_file():
        return {"error": (done.stderr or done.stdout)[-600:]}
    times = json.loads(timer.read_text())
    return {"steps_per_s": steady_steps_per_s(times), "epoch_steps_per_s": epoch_rates(times)}


def framework_run(overrides: list[str], workdir: Path) -> dict:
    timer = workdir / f"times_{time.monotonic_ns()}.json"
    return timed_run([sys.executable, "-m", "sample_importance.train", *overrides,
                      "+callbacks.step_timer._target_=benchmarks.step_timer.StepTimer",
                      f"+callbacks.step_timer.path={timer}", f"hydra.run.dir={workdir / timer.stem}",
                      "auto_resume=false"], timer)


def plain_run(overrides: list[str], workdir: Path) -> dict:
    timer = workdir / f"plain_{time.monotonic_ns()}.json"
    return timed_run([sys.executable, "-m", "benchmarks.framework", "plain", str(timer), *overrides], timer)


def plain_loop(overrides: list[str]) -> dict[str, list[float]]:
    """The plain PyTorch loop: the framework's data, network, loss and SGD; batch-end times per epoch."""
    datamodule, module, optimizer, cfg = build_plain(overrides)
    times: dict[str, list[float]] = {}
    for epoch in range(int(cfg.schedule.max_epochs)):
        stamps = times.setdefault(str(epoch), [])
        module.train()
        datamodule.train_sampler().set_epoch(epoch)
        for images, targets, _ in datamodule.train_dataloader():
            loss = module.loss(module(images), targets).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            stamps.append(time.perf_counter())
    return times


def run_overhead(quick: bool = False) -> dict:
    base = QUICK if quick else BASE
    repeats = 1 if quick else 4
    arms = {"framework": framework_run, "plain": plain_run}
    rates = {name: [] for name in arms}  # each run's median steps/s
    epochs = {name: [] for name in arms}  # every steady epoch's steps/s
    errors = []
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        for _ in range(repeats):  # interleaved
            for name, run in arms.items():
                result = run(base, Path(tmp))
                if "error" in result:
                    errors.append(result["error"])
                rates[name].append(result.get("steps_per_s", float("nan")))
                epochs[name] += result.get("epoch_steps_per_s", [])
    return {"overrides": base, "repeats": repeats, "framework_steps_per_s": rates["framework"],
            "plain_steps_per_s": rates["plain"], "framework_epoch_steps_per_s": epochs["framework"],
            "plain_epoch_steps_per_s": epochs["plain"],
            # the median over every steady epoch of every repeat, each arm
            "framework_vs_plain": median(epochs["framework"]) / median(epochs["plain"])
            if epochs["framework"] and epochs["plain"] else float("nan"),
            "framework_vs_plain_median_of_runs": median(rates["framework"]) / median(rates["plain"]),
            "errors": errors, "target": ">= 0.90 on CPU"}


def run_knobs(quick: bool = False, names: list[str] | None = None) -> dict:
    base = QUICK if quick else KNOBS_BASE
    repeats = 1 if quick else 2
    knobs = {"baseline": [], "channels_last": ["+model.channels_last=true"]} if quick else KNOBS
    if names:
        knobs = {name: knobs[name] for name in ["baseline", *names] if name in knobs}
    rates: dict[str, list[float]] = {name: [] for name in knobs}
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        for _ in range(repeats):  # interleaved
            for name, extra in knobs.items():
                result = framework_run(base + extra, Path(tmp))
                if "error" in result:
                    errors[name] = result["error"]
                rates[name].append(result.get("steps_per_s", float("nan")))
    baseline = median(rates["baseline"])
    return {"overrides": base, "repeats": repeats, "steps_per_s": rates,
            "vs_baseline": {name: median(values) / baseline for name, values in rates.items()}, "errors": errors}


if __name__ == "__main__":  # python -m benchmarks.framework plain TIMES.json OVERRIDES...
    if len(sys.argv) < 3 or sys.argv[1] != "plain":
        sys.exit("usage: python -m benchmarks.framework plain TIMES.json [OVERRIDES...]")
    Path(sys.argv[2]).write_text(json.dumps(plain_loop(sys.argv[3:])))
