"""``python -m benchmarks.gpu [--tiny] [--budget-s S] [--out PATH]`` (= ``make gpu-check``): the GPU
path measured in one call of at most 6 minutes, written to benchmarks/results/gpu.json, then a table.

Parts (each in its own try block: a failing part is recorded with its error and the rest runs; a
part that would start after the time budget is recorded as skipped, one still running when the
budget ends is stopped and recorded as such; the JSON is rewritten after every part):

- data: CIFAR-shaped data (50,000 + 10,000 random 32x32x3 images) written in CIFAR-10's on-disk
  format (torchvision's python pickle batches), read back through the project's dataset code.
- flops: ResNet18 / ResNet50 (CIFAR stem) FLOPs of one forward, counted by torch; training = 3x.
- throughput (item 1): the paper's optimizer at batch 128, fp32 / bf16 / bf16 + channels_last:
  images/s, steps/s, fraction of the GPU's bf16 peak, the projected 200 epochs; the same with
  torch.compile is the last part (compile), so its compilation time cannot crowd out the others.
- scoring (item 3): the scoring pass over the training set / a training epoch (trainer=gpu's).
- syncs (item 5): host-device synchronisations per step of the default path (sampler=importance,
  trainer=gpu), by torch.cuda.set_sync_debug_mode, in a training run of its own.
- method (item 6): 2 epochs, E=1, on the GPU; the weights it wrote against a CPU scoring
  (``python -m sample_importance.score``) of its epoch-E checkpoint; a 2-process DDP run with 2 GPUs.
- data_path (item 2): dataset.on_device=true against the CPU DataLoader feeding the GPU.
- framework (item 4): ``python -m sample_importance.train`` / a plain loop, ResNet18, bf16.
- compile (item 1): the throughput rows with torch.compile.

``--tiny`` (and any machine without a GPU) runs the same code on the CPU at small sizes; rows
that only mean something on a GPU say "no GPU". It is a fast test (tests/test_bench.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import REPO, RESULTS, machine

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PAPER_STEPS = 78_000  # 200 epochs of 390 steps (batch 128 on 50,000 images)
GOALS_S = {"resnet18": 5 * 60, "resnet50": 15 * 60}  # the 200 epochs on one H100-class GPU
# Dense (no sparsity) bf16 tensor-core peaks, TFLOP/s, from NVIDIA's data sheets (their figures
# "with sparsity" halved): H100 SXM5 989, H100 PCIe 756, H100 NVL 835 (H100 Tensor Core GPU
# datasheet), H200 SXM 989 (H200 product brief: the H100's compute), A100 312 (A100 datasheet).
# Matched in this order against torch.cuda.get_device_name(); any other GPU: "unknown".
PEAK_BF16_TFLOPS = [
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),
    ("A100", 312.0),
]
VARIANTS = {  # item 1: (bf16 autocast, channels_last, torch.compile)
    "fp32": (False, False, False),
    "bf16": (True, False, False),
    "bf16+channels_last": (True, True, False),
    "bf16+channels_last+compile": (True, True, True),
}
PRESET = "bf16+channels_last"  # what trainer=gpu runs (bf16-mixed, channels-last, data on the GPU)


@dataclass
class Sizes:
    train: int
    test: int
    batch: int
    warmup: int
    steps: int
    models: tuple[str, ...]
    variants: tuple[str, ...]
    method_model: str
    method_per_class: int | None  # item 6's training subset (the CPU scoring of 50,000 would take a minute)


GPU_SIZES = Sizes(
    train=50_000,
    test=10_000,
    batch=128,
    warmup=20,
    steps=100,
    models=("resnet18", "resnet50"),
    variants=tuple(VARIANTS),
    method_model="resnet18",
    method_per_class=500,
)
# On the CPU: the code paths, not the speed (bf16 and compile are GPU rows there).
TINY_SIZES = Sizes(
    train=50,
    test=10,
    batch=5,
    warmup=1,
    steps=2,
    models=("resnet18",),
    variants=("fp32",),
    method_model="lenet",
    method_per_class=None,
)


class OutOfTime(Exception):
    """Raised in the running part when the time budget ends."""


@dataclass
class Check:
    tiny: bool
    budget_s: float
    out: Path
    workdir: Path
    sizes: Sizes = field(init=False)
    started: float = field(default_factory=time.monotonic)
    parts: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sizes = TINY_SIZES if self.tiny else GPU_SIZES
        self.data_dir = self.workdir / "data"

    @property
    def device(self) -> str:
        return "cpu" if self.tiny else "cuda"

    def left_s(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)

    def result(self, name: str) -> dict:
        part = self.parts.get(name, {})
        return part.get("result", {}) if part.get("status") == "ok" else {}

    def base_overrides(self, model: str) -> list[str]:
        # the CPU loader keeps cifar10.yaml's 4 workers on the GPU machine; none in the tiny mode
        return [
            "dataset=cifar10",
            f"paths.data_dir={self.data_dir}",
            f"model={model}",
            "schedule=paper_cifar",
            f"schedule.batch_size={self.sizes.batch}",
        ] + ["dataset.num_workers=0"] * self.tiny

    def write(self) -> None:
        import torch

        gpu = {"count": torch.cuda.device_count()}
        if torch.cuda.is_available():
            properties = torch.cuda.get_device_properties(0)
            gpu.update(
                name=torch.cuda.get_device_name(0),
                memory_gib=round(properties.total_memory / 2**30, 1),
                cuda=torch.version.cuda,
                peak_bf16_tflops=peak_bf16_tflops(torch.cuda.get_device_name(0)),
            )
        record = {
            "name": "gpu",
            "mode": "tiny (CPU)" if self.tiny else "GPU",
            "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": machine(),
            "gpu": gpu,
            "budget_s": self.budget_s,
            "seconds": round(time.monotonic() - self.started, 1),
            "parts": self.parts,
            "skipped": [
                name for name, part in self.parts.items() if part["status"] in ("skipped", "stopped")
            ],
        }
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
        tmp.replace(self.out)


def peak_bf16_tflops(device_name: str) -> float | str:
    for key, tflops in PEAK_BF16_TFLOPS:
        if key in device_name:
            return tflops
    return "unknown"


# -- the runner (item 7) --------------------------------------------------------------------
def run_parts(check: Check, parts: dict, min_s: dict | None = None) -> None:
    """Run each part in turn, in its own try block, within the time budget; record each in ``check.parts``."""

    def out_of_time(signum, frame):
        raise OutOfTime()

    previous = signal.signal(signal.SIGALRM, out_of_time)
    try:
        for name, part in parts.items():
            left = check.left_s()
            needed = (min_s or {}).get(name, 1.0)
            if left < needed:
                check.parts[name] = {
                    "status": "skipped",
                    "reason": f"time budget: {max(left, 0):.0f} s left, about {needed:.0f} s needed",
                }
                check.write()
                continue
            start = time.monotonic()
            signal.setitimer(signal.ITIMER_REAL, left)
            try:
                record = {"status": "ok", "result": part(check)}
            except OutOfTime:
                record = {
                    "status": "stopped",
                    "reason": f"time budget of {check.budget_s:.0f} s ended during it",
                }
            except Exception as error:  # recorded, and the next part runs
                record = {
                    "status": "error",
                    "error": f"{type(error).__name__}: {error}"[:2000],
                    "traceback": traceback.format_exc()[-3000:],
                }
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            record["seconds"] = round(time.monotonic() - start, 1)
            check.parts[name] = record
            check.write()
            print(f"{name}: {record['status']} ({record['seconds']} s)", flush=True)
    finally:
        signal.signal(signal.SIGALRM, previous)


# -- data ----------------------------------------------------------------------------------
def write_cifar10(root: Path, train: int, test: int, seed: int = 0) -> None:
    """CIFAR-10's on-disk format as torchvision reads it: ``cifar-10-batches-py/data_batch_1..5``,
    ``test_batch`` (pickled dicts: ``data`` uint8 (n, 3072) rows of R, G, B planes, ``labels``,
    ``batch_label``, ``filenames``) and ``batches.meta``. Random images, labels cycling over the classes."""
    import numpy as np

    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)

    def batch(name: str, first: int, count: int) -> dict:
        labels = [(first + i) % 10 for i in range(count)]
        return {
            "batch_label": name,
            "labels": labels,
            "data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
            "filenames": [f"image_{first + i:06d}.png" for i in range(count)],
        }

    bounds = [train * k // 5 for k in range(6)]
    for k in range(5):
        name = f"training batch {k + 1} of 5"
        (folder / f"data_batch_{k + 1}").write_bytes(
            pickle.dumps(batch(name, bounds[k], bounds[k + 1] - bounds[k]))
        )
    (folder / "test_batch").write_bytes(pickle.dumps(batch("testing batch 1 of 1", 0, test)))
    meta = {"num_cases_per_batch": bounds[1], "label_names": CIFAR10_CLASSES, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))


def part_data(check: Check) -> dict:
    from sample_importance.dataset.cifar import CIFARSource

    start = time.perf_counter()
    write_cifar10(check.data_dir, check.sizes.train, check.sizes.test)
    written = time.perf_counter() - start
    splits = CIFARSource(str(check.data_dir), variant=10).load()
    return {
        "train_images": list(splits.train_images.shape),
        "test_images": list(splits.test_images.shape),
        "write_s": round(written, 2),
        "megabytes": round(sum(f.stat().st_size for f in check.data_dir.rglob("*") if f.is_file()) / 1e6, 1),
    }


# -- item 1 and the FLOPs ---------------------------------------------------------------------
def forward_flops(model: str) -> int:
    """FLOPs of one forward pass of one CIFAR image, counted by torch's FlopCounterMode."""
    import torch
    from hydra.utils import instantiate
    from torch.utils.flop_counter import FlopCounterMode

    from benchmarks.common import compose
    from sample_importance.train import model_config

    net = instantiate(
        model_config(compose([f"model={model}"]).model), in_channels=3, num_classes=10, image_size=32
    )
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net.eval()(torch.zeros(1, 3, 32, 32))
    return int(counter.get_total_flops())


def part_flops(check: Check) -> dict:
    return {
        model: {"forward_flops_per_image": (f := forward_flops(model)), "training_flops_per_image": 3 * f}
        for model in ("resnet18", "resnet50")
    }


class Bench:
    """One data module with the training set where the steps run (the GPU), shared by item 1's runs."""

    def __init__(self, check: Check) -> None:
        from benchmarks.common import build_plain

        self.check = check
        overrides = [o for o in check.base_overrides("resnet18") if "num_workers" not in o]
        self.datamodule, _, _, _ = build_plain(
            overrides + ["dataset.on_device=true", "dataset.num_workers=0"]
        )
        self.datamodule.place_on_device(check.device)

    def module(self, model: str, channels_last: bool = False, compile: bool = False):
        import torch

        from benchmarks.common import compose, plain_sgd
        from sample_importance.train import build_classifier

        knobs = ["+model.channels_last=true"] * channels_last + ["+model.compile=true"] * compile
        cfg = compose(self.check.base_overrides(model) + knobs)
        torch.manual_seed(0)
        module = build_classifier(cfg, self.datamodule).to(self.check.device)
        return module, plain_sgd(module.parameters(), cfg.schedule)

    def steps_per_s(self, module, optimizer, bf16: bool, warmup: int, steps: int) -> float:
        """Plain steps (the on-device batches included) per second, after ``warmup`` steps."""
        import torch

        from benchmarks.common import plain_step

        device = self.check.device
        sampler = self.datamodule.train_sampler()
        epoch, batches = 0, iter(())
        module.train()

        def step():
            nonlocal epoch, batches
            batch = next(batches, None)
            if batch is None:
                sampler.set_epoch(epoch)
                epoch += 1
                batches = iter(self.datamodule.train_dataloader())
                batch = next(batches)
            with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
                plain_step(module.net, module.loss, optimizer, batch[0], batch[1])

        for _ in range(warmup):
            step()
        synchronize(device)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        synchronize(device)
        return steps / (time.perf_counter() - start)


def synchronize(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def measure_throughput(check: Check, variants: list[str]) -> dict:
    """Item 1's rows for ``variants`` x the models; a failing row is recorded and the next runs,
    and the rows measured before the time budget ended are kept."""
    import torch

    flops = check.result("flops")
    peak = peak_bf16_tflops(torch.cuda.get_device_name(0)) if torch.cuda.is_available() else "unknown"
    bench = Bench(check)
    sizes = check.sizes
    rows, errors = {}, {}
    for variant in variants:
        bf16, channels_last, compile = VARIANTS[variant]
        for model in sizes.models:
            key = f"{model} {variant}"
            try:
                module, optimizer = bench.module(model, channels_last, compile)
                warmup = sizes.warmup + (
                    10 if compile and not check.tiny else 0
                )  # compiling takes a few steps
                rate = bench.steps_per_s(module, optimizer, bf16, warmup, sizes.steps)
            except OutOfTime:
                errors[key] = f"stopped: the time budget of {check.budget_s:.0f} s ended during it"
                return throughput_record(check, peak, rows, errors)
            except Exception as error:
                errors[key] = f"{type(error).__name__}: {error}"[:1000]
                continue
            row = {
                "model": model,
                "variant": variant,
                "steps_per_s": rate,
                "images_per_s": rate * sizes.batch,
                "projected_200_epochs_s": PAPER_STEPS / rate,
                "goal_s": GOALS_S[model],
            }
            training_flops = flops.get(model, {}).get("training_flops_per_image")
            if training_flops and isinstance(peak, float):
                row["fraction_of_bf16_peak"] = rate * sizes.batch * training_flops / (peak * 1e12)
            rows[key] = row
            print(f"  {key}: {rate:.2f} steps/s", flush=True)
            del module, optimizer
            if check.device == "cuda":
                torch.cuda.empty_cache()
    return throughput_record(check, peak, rows, errors)


def throughput_record(check: Check, peak, rows: dict, errors: dict) -> dict:
    sizes = check.sizes
    return {
        "batch_size": sizes.batch,
        "timed_steps": sizes.steps,
        "warmup_steps": sizes.warmup,
        "peak_bf16_tflops": peak,
        "method": "plain loop (benchmarks.common.plain_step) on the framework's "
        "network, loss and SGD, batches cut and augmented on the device; the framework's own cost is item 4",
        "rows": rows,
        "errors": errors,
    }


def part_throughput(check: Check) -> dict:
    """Item 1 without torch.compile, trainer=gpu's choice first."""
    variants = [v for v in check.sizes.variants if not VARIANTS[v][2]]
    return measure_throughput(check, sorted(variants, key=lambda v: v != PRESET))


def part_compile(check: Check) -> dict:
    """Item 1's torch.compile rows: last, as their compilation takes the longest."""
    variants = [v for v in check.sizes.variants if VARIANTS[v][2]]
    return measure_throughput(check, variants) if variants else {"gpu": "no GPU"}


# -- item 3 ------------------------------------------------------------------------------------
def part_scoring(check: Check) -> dict:
    """The framework's scoring pass (scoring_pass: eval mode, a channels-last copy, no
    autocast, as at epoch E) over the training set, against the epoch of item 1's preset row."""
    from sample_importance.sampler.method import scoring_pass

    bench = Bench(check)
    rows = {}
    variant = PRESET if PRESET in check.sizes.variants else "fp32"
    for model in check.sizes.models:
        module, _ = bench.module(model, channels_last=True)
        scoring_pass(module, bench.datamodule)  # warm-up
        times = []
        for _ in range(1 if check.tiny else 2):
            synchronize(check.device)
            start = time.perf_counter()
            scoring_pass(module, bench.datamodule)
            times.append(time.perf_counter() - start)
        row = {"scoring_pass_s": times, "train_samples": bench.datamodule.num_train}
        rate = check.result("throughput").get("rows", {}).get(f"{model} {variant}", {}).get("steps_per_s")
        if rate:
            steps_per_epoch = bench.datamodule.num_train // check.sizes.batch
            row.update(
                epoch_s=steps_per_epoch / rate,
                epoch_from=f"item 1, {variant}",
                fraction_of_epoch=min(times) / (steps_per_epoch / rate),
            )
        rows[model] = row
    return {"rows": rows}


# -- items 4, 5, 6: runs of the framework's own command line -------------------------------------
def child_env(cpu_only: bool = False) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(REPO), str(REPO / "src"), os.environ.get("PYTHONPATH")])
        ),
    }
    if cpu_only:
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def run_app(
    check: Check, app: str, overrides: list[str], cpu_only: bool = False
) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", f"sample_importance.{app}", *overrides],
        cwd=REPO,
        env=child_env(cpu_only),
        capture_output=True,
        text=True,
        timeout=max(check.left_s(), 1),
    )
    if done.returncode != 0:
        raise RuntimeError(f"{app} exited with {done.returncode}: {(done.stderr or done.stdout)[-1500:]}")
    return done


def trainer_overrides(check: Check, preset: str = "gpu", progress_bar: bool = False) -> list[str]:
    """trainer=gpu as the paper files use it (or ``preset``: ddp); on the CPU with accelerator=cpu."""
    return (
        [f"trainer={preset}"]
        + ["trainer.enable_progress_bar=false"] * (not progress_bar)
        + ["trainer.accelerator=cpu"] * (check.device == "cpu")
    )


def part_syncs(check: Check) -> dict:
    if check.tiny:
        return {"gpu": "no GPU"}
    record_path = check.workdir / "syncs.json"
    # the progress bar on, as in a default run (it reads the logged loss every 10 steps)
    run_app(
        check,
        "train",
        [
            *check.base_overrides("resnet18"),
            *trainer_overrides(check, progress_bar=True),
            "sampler=importance",
            "sampler.burn_in_epochs=1",
            "schedule.max_epochs=2",
            "++trainer.limit_train_batches=100",
            "+callbacks.sync_counter._target_=benchmarks.sync_counter.SyncCounter",
            f"+callbacks.sync_counter.path={record_path}",
            "auto_resume=false",
            f"hydra.run.dir={check.workdir / 'syncs_run'}",
        ],
    )
    record = json.loads(record_path.read_text())
    every = record["log_every_n_steps"]
    steady, at_logging, elsewhere = 0, 0, 0
    for epoch, counts in record["per_step"].items():
        for i, count in enumerate(counts[1:], start=1):  # an epoch's first step carries the epoch boundary
            steady += 1
            step = int(epoch) * len(counts) + i
            if every and (step + 1) % every == 0:
                at_logging += count
            else:
                elsewhere += count
    return {
        "steady_steps": steady,
        "syncs_per_steady_step": (at_logging + elsewhere) / max(steady, 1),
        "syncs_on_logging_steps": at_logging,
        "syncs_on_other_steps": elsewhere,
        "target": "0 per step",
        "per_step": record["per_step"],
        "where": record["where"],
        "log_every_n_steps": every,
        "setup": "resnet18, trainer=gpu (progress bar on), sampler=importance E=1, "
        "100 steps in each of 2 epochs",
    }


def method_run(check: Check, name: str, trainer: list[str]) -> dict:
    """2 epochs with E=1; its sample_weights.pt against a CPU scoring of its burn_in_end checkpoint."""
    import torch

    sizes = check.sizes
    run_dir, score_dir = check.workdir / name, check.workdir / f"{name}_cpu_score"
    data = [*check.base_overrides(sizes.method_model)]
    if sizes.method_per_class:
        data.append(f"dataset.train_samples_per_class={sizes.method_per_class}")
    method = ["sampler=importance", "sampler.burn_in_epochs=1", "sampler.gamma=0.5"]
    start = time.perf_counter()
    run_app(
        check,
        "train",
        [*data, *trainer, *method, "schedule.max_epochs=2", "auto_resume=false", f"hydra.run.dir={run_dir}"],
    )
    train_s = time.perf_counter() - start
    summary = json.loads((run_dir / "summary.json").read_text())
    trained = torch.load(run_dir / "sample_weights.pt", weights_only=True)
    checkpoint = run_dir / "checkpoints" / "burn_in_end_epoch1.ckpt"
    run_app(
        check,
        "score",
        [*data, *method, f"ckpt_path={checkpoint}", f"hydra.run.dir={score_dir}"],
        cpu_only=True,
    )
    scored = torch.load(score_dir / "sample_weights.pt", weights_only=True)
    same_order = torch.equal(trained["index"], scored["index"]) and torch.equal(
        trained["label"], scored["label"]
    )
    p_diff = (trained["p_true"] - scored["p_true"]).abs().max().item()
    w_diff = ((trained["weight"] - scored["weight"]).abs() / scored["weight"].clamp_min(1e-12)).max().item()
    # fp32 on the CPU scores to within 1e-5; on a GPU, TF32 convolutions (float32 matmul precision
    # "high") move probabilities by about 1e-3
    tolerance = 1e-5 if check.tiny else 1e-2
    return {
        "train_samples": len(trained["weight"]),
        "train_wall_s": round(train_s, 1),
        "final_test_acc": summary.get("final_test_acc"),
        "same_indices_and_labels": same_order,
        "max_abs_p_true_difference": p_diff,
        "max_relative_weight_difference": w_diff,
        "tolerance_p_true": tolerance,
        "weights_equal": bool(same_order and p_diff <= tolerance),
    }


def part_method(check: Check) -> dict:
    import torch

    result = {"single": method_run(check, "method", trainer_overrides(check))}
    if check.device == "cpu":
        result["ddp"] = "no GPU"
    elif torch.cuda.device_count() >= 2:
        result["ddp"] = method_run(
            check, "method_ddp", trainer_overrides(check, "ddp") + ["trainer.devices=2"]
        )
    else:
        result["ddp"] = f"not run: {torch.cuda.device_count()} GPU on this machine (2 needed)"
    return result


def part_data_path(check: Check) -> dict:
    from benchmarks.data_path import gpu_rows

    if check.tiny:
        return {"gpu": "no GPU"}
    return gpu_rows(check.base_overrides("resnet18"), repeats=2)


def part_framework(check: Check) -> dict:
    from benchmarks.framework import interleaved_run

    if check.tiny:
        return {"gpu": "no GPU"}
    result = interleaved_run(
        [
            *check.base_overrides("resnet18"),
            *trainer_overrides(check),
            "sampler=uniform",
            "schedule.max_epochs=2",
        ],
        check.workdir,
        timer_args=("precision=${trainer.precision}", "channels_last=true"),
        timeout=max(check.left_s(), 1),
    )
    if "error" in result:
        raise RuntimeError(result["error"])
    # the framework's own steps, each waited for: an upper bound on the paper schedule's wall time
    result["framework_projected_200_epochs_s"] = PAPER_STEPS / result["framework_steps_per_s"]
    return {
        **result,
        "setup": "resnet18, batch 128, trainer=gpu (bf16-mixed, channels-last, data on the GPU), "
        "sampler=uniform; the plain arm with the same precision, layout and data path",
        "target": ">= 0.90",
    }


PARTS = {
    "data": part_data,
    "flops": part_flops,
    "throughput": part_throughput,
    "scoring": part_scoring,
    "syncs": part_syncs,
    "method": part_method,
    "data_path": part_data_path,
    "framework": part_framework,
    "compile": part_compile,
}
# about what each part takes on an H100-class GPU (a guess until measured): one is skipped with less left
MIN_S = {
    "throughput": 30,
    "scoring": 15,
    "syncs": 30,
    "method": 40,
    "data_path": 20,
    "framework": 40,
    "compile": 60,
}


# -- the table -----------------------------------------------------------------------------------
def fmt(value, digits: int = 3) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}g}"
    return str(value)


def table(check: Check) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    no_gpu = "no GPU"

    def status(name: str) -> str | None:
        part = check.parts.get(name)
        if part is None:
            return "not run"
        return (
            None
            if part["status"] == "ok"
            else f"{part['status']}: {part.get('error') or part.get('reason')}"[:90]
        )

    for name in PARTS:
        if status(name):
            rows.append((name, status(name), ""))
    throughput = check.result("throughput")
    compiled = check.result("compile")
    for key, row in {**throughput.get("rows", {}), **compiled.get("rows", {})}.items():
        minutes = row["projected_200_epochs_s"] / 60
        peak = f", {row['fraction_of_bf16_peak']:.0%} of bf16 peak" if "fraction_of_bf16_peak" in row else ""
        rows.append(
            (f"1 {key}: images/s, steps/s{peak}", f"{row['images_per_s']:.0f}, {row['steps_per_s']:.2f}", "")
        )
        rows.append(
            (
                f"1 {key}: 200 epochs ({PAPER_STEPS} steps)",
                f"{minutes:.1f} min",
                f"<= {row['goal_s'] // 60} min" if not check.tiny else "",
            )
        )
    for key, error in {**throughput.get("errors", {}), **compiled.get("errors", {})}.items():
        rows.append((f"1 {key}", error[:60], ""))
    if check.tiny and throughput:
        rows.append(("1 bf16, channels_last, compile rows", no_gpu, ""))
    for model, row in check.result("scoring").get("rows", {}).items():
        rows.append(
            (
                f"3 scoring pass / epoch ({model}, N={row['train_samples']})",
                fmt(row.get("fraction_of_epoch", "no epoch time (item 1)")),
                "",
            )
        )
    data_path = check.result("data_path")
    if data_path:
        rows.append(
            (
                "2 on_device / CPU DataLoader to the GPU, images/s",
                fmt(data_path.get("on_device_vs_cpu_loader", no_gpu)),
                ">= 5",
            )
        )
    framework = check.result("framework")
    if framework:
        rows.append(
            (
                "4 framework / plain steps/s (ResNet18, bf16)",
                fmt(framework.get("framework_vs_plain", no_gpu)),
                ">= 0.90",
            )
        )
        if "framework_projected_200_epochs_s" in framework:
            rows.append(
                (
                    "4 the framework's 200 epochs at that speed (ResNet18, steps waited for)",
                    f"{framework['framework_projected_200_epochs_s'] / 60:.1f} min",
                    "<= 5 min",
                )
            )
    syncs = check.result("syncs")
    if syncs:
        value = (
            f"{syncs['syncs_per_steady_step']:.3g} ({syncs['syncs_on_logging_steps']} on logging steps, "
            f"{syncs['syncs_on_other_steps']} on others)"
            if "steady_steps" in syncs
            else no_gpu
        )
        rows.append(("5 host-device syncs per steady step", value, "0"))
    method = check.result("method")
    if method:
        single = method["single"]
        rows.append(
            (
                "6 E=1 weights == CPU scoring of the checkpoint (max |dp|)",
                f"{single['weights_equal']} ({single['max_abs_p_true_difference']:.2g})",
                "True",
            )
        )
        ddp = method["ddp"]
        rows.append(
            ("6 2-process DDP", ddp if isinstance(ddp, str) else f"weights_equal={ddp['weights_equal']}", "")
        )
    return rows


def print_table(check: Check) -> None:
    # by item number; the parts that did not run first
    rows = sorted(table(check), key=lambda row: row[0][0] if row[0][0].isdigit() else "0")
    width = max(len(what) for what, _, _ in rows) if rows else 10
    print(f"\n{'gpu-check':<{width}}  {'value':<40}  target")
    for what, value, target in rows:
        print(f"{what:<{width}}  {value:<40}  {target}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tiny", action="store_true", help="small sizes on the CPU (the fast test); implied without a GPU"
    )
    parser.add_argument(
        "--budget-s", type=float, default=330.0, help="stop parts after this many seconds (default 330)"
    )
    parser.add_argument(
        "--out", type=Path, help="the JSON (default benchmarks/results/gpu.json, gpu_tiny.json with --tiny)"
    )
    args = parser.parse_args(argv)
    import torch

    tiny = args.tiny or not torch.cuda.is_available()
    if tiny and not args.tiny:
        print("no GPU on this machine: the tiny CPU mode (GPU rows say 'no GPU')", flush=True)
    if not tiny:
        torch.set_float32_matmul_precision("high")  # as training sets it
    out = args.out or RESULTS / ("gpu_tiny.json" if tiny else "gpu.json")
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as workdir:
        check = Check(tiny=tiny, budget_s=args.budget_s, out=out, workdir=Path(workdir))
        os.environ["SAMPLE_IMPORTANCE_DATA"] = str(check.data_dir)  # benchmarks.common.compose's data folder
        run_parts(check, PARTS, MIN_S)
    print_table(check)
    print(f"written: {out} ({round(time.monotonic() - check.started)} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
