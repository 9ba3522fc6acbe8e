"""Items 4 and 7: steady-state steps/s of ``python -m sample_importance.train`` against a plain
PyTorch loop on the same model, data, loss, optimizer and batch size; and the speed knobs.

Item 4 runs the plain loop inside the framework's own process, one plain step after every
framework step (benchmarks/step_timer.py, ``PlainStepsBetween``): on this machine, whose speed
wanders by up to a third over tens of seconds, arms run one after the other in separate processes
gave ratios from 0.78 to 0.99 for the same code, and arms alternating by epoch 0.75 to 0.97 from
one epoch to the next. The figure is total plain time / total framework time over the steps of
every epoch after the first (each epoch's own ratio is kept too). It runs as configured, with
Lightning's loop alone (no progress bar, logger or callbacks other than the sampler: what is left
there is Lightning's own per-step work), and with batches of 512 (the same per-step cost on four
times the work).

The speed knobs are process-wide (precision, compile, workers), so each is a framework run of its
own; the same plain steps run between its steps, and a knob's figure is its run's framework /
plain ratio over the baseline run's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import REPO

SETUP = ["dataset=fashion_mnist_imbalanced", "model=lenet", "sampler=uniform"]
OVERHEAD_EPOCHS = (
    4  # 3 steady epochs (LeNet: 70 steps, about 1.5 s, an epoch, and as long again for the plain steps)
)
OVERHEAD_VARIANTS = {
    "configured": [],
    "Lightning's loop alone": [
        "trainer.enable_progress_bar=false",
        "~logger",
        "~callbacks.model_checkpoint",
        "~callbacks.lr_monitor",
        "~callbacks.sampling_diagnostics",
        "~callbacks.preemption_checkpoint",
    ],
    # four times the work a step, the same fixed cost: where that cost stops mattering
    "schedule.batch_size=512": ["schedule.batch_size=512"],
}
KNOBS_BASE = [*SETUP, "schedule.max_epochs=2"]  # 1 steady epoch (70 steps and 70 plain ones between) a run
QUICK = [
    "dataset=digits",
    "model=lenet",
    "sampler=uniform",
    "schedule.max_epochs=2",
    "schedule.batch_size=32",
]
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
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }


def interleaved_run(
    overrides: list[str], workdir: Path, timer_args: tuple[str, ...] = (), timeout: float = 900
) -> dict:
    """``python -m sample_importance.train OVERRIDES`` in a fresh process with a plain step after
    each of its steps (``PlainStepsBetween``, with ``timer_args``: ``precision=...``): both arms'
    steps/s and their ratio."""
    record_path = workdir / f"steps_{time.monotonic_ns()}.json"
    command = [
        sys.executable,
        "-m",
        "sample_importance.train",
        *overrides,
        "+callbacks.step_timer._target_=benchmarks.step_timer.PlainStepsBetween",
        "+callbacks.step_timer._recursive_=false",
        "+callbacks.step_timer.dataset=${dataset}",
        "+callbacks.step_timer.model=${model}",
        f"+callbacks.step_timer.path={record_path}",
        *(f"+callbacks.step_timer.{arg}" for arg in timer_args),
        f"hydra.run.dir={workdir / record_path.stem}",
        "auto_resume=false",
    ]
    done = subprocess.run(command, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or not record_path.is_file():
        return {"error": (done.stderr or done.stdout)[-600:]}
    record = json.loads(record_path.read_text())
    framework_s, plain_s = record["framework_step_s"], record["plain_step_s"]
    steady = sorted((e for e in framework_s if int(e) > 0), key=int)
    if not steady:
        return {"error": "no steady epoch was timed (schedule.max_epochs must be 2 or more)"}
    framework_total = sum(sum(framework_s[e]) for e in steady)
    plain_total = sum(
        sum(plain_s[e][1:]) for e in steady
    )  # the plain steps that follow a timed framework step
    steps = sum(len(framework_s[e]) for e in steady)
    return {
        "steady_epochs": len(steady),
        "steps": steps,
        "framework_steps_per_s": steps / framework_total,
        "plain_steps_per_s": steps / plain_total,
        "epoch_ratios": [sum(plain_s[e][1:]) / sum(framework_s[e]) for e in steady],
        "framework_vs_plain": plain_total / framework_total,
    }


def run_overhead(quick: bool = False) -> dict:
    base = QUICK if quick else [*SETUP, f"schedule.max_epochs={OVERHEAD_EPOCHS}"]
    variants = {"configured": []} if quick else OVERHEAD_VARIANTS
    results, errors = {}, []
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        for name, extra in variants.items():
            result = interleaved_run(base + extra, Path(tmp))
            if "error" in result:
                errors.append(result["error"])
                result = {"framework_vs_plain": float("nan")}
            results[name] = result
    return {
        "overrides": base,
        "method": "one plain PyTorch step after every framework step, same process; "
        "plain / framework seconds over the steps of the epochs after the first",
        "variants": results,
        "framework_vs_plain": results["configured"]["framework_vs_plain"],
        "errors": errors,
        "target": ">= 0.90 on CPU",
    }


def run_knobs(quick: bool = False, names: list[str] | None = None) -> dict:
    """Each knob is a run of its own with the fixed plain loop stepping between its steps; its
    effect is its framework / plain ratio over the baseline run's, so the machine's drift between
    runs cancels (the plain steps feel it as the framework's do)."""
    base = QUICK if quick else KNOBS_BASE
    knobs = {"baseline": [], "channels_last": ["+model.channels_last=true"]} if quick else KNOBS
    if names:
        knobs = {name: knobs[name] for name in ["baseline", *names] if name in knobs}
    runs: dict[str, dict] = {}
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        for name, extra in knobs.items():
            result = interleaved_run(base + extra, Path(tmp))
            if "error" in result:
                errors[name] = result["error"]
            runs[name] = result
    nan = float("nan")
    baseline = runs["baseline"].get("framework_vs_plain", nan)
    return {
        "overrides": base,
        "method": "framework / plain steps/s of each run (plain loop fixed), over the baseline's",
        "runs": runs,
        "steps_per_s": {name: run.get("framework_steps_per_s", nan) for name, run in runs.items()},
        "vs_baseline": {name: run.get("framework_vs_plain", nan) / baseline for name, run in runs.items()},
        "errors": errors,
    }
