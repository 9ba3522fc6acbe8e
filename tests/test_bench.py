"""Tests of the benchmark code: tiny sizes, checking that it runs and times what it says, not the numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import data_path, framework, free_scoring_accuracy, sampler_draws, scoring_cost
from benchmarks.common import build_plain
from benchmarks.run import table_rows
from benchmarks.step_timer import PlainStepsBetween


def test_sampler_draws_and_scoring_cost_and_data_path_run():
    draws = sampler_draws.run(quick=True)
    assert [row["n"] for row in draws["rows"]] == [10**4, 10**5]
    assert all(row["index_sampler_draws_per_s"] > 0 for row in draws["rows"])
    cost = scoring_cost.run(quick=True)
    row = cost["rows"][0]
    assert 0 < row["scoring_fraction_of_epoch"] < 10 and 0 < row["importance_vs_uniform_throughput"]
    data = data_path.run(quick=True)
    assert data["loader_vs_training"] > 0
    assert (
        table_rows("scoring_cost", cost)
        and table_rows("sampler_draws", draws)
        and table_rows("data_path", data)
    )


def test_plain_steps_between_are_a_fixed_plain_loop_whatever_the_knobs(tmp_path):
    """Item 7 divides each knob run by the same plain loop: it must not inherit the run's knobs or
    workers, must start from the run's weights, and must step once after each framework step."""
    import json
    from types import SimpleNamespace

    import torch

    _, module, _, cfg = build_plain(
        [
            "dataset=digits",
            "model=lenet",
            "schedule.batch_size=32",
            "+model.channels_last=true",
            "dataset.num_workers=1",
        ]
    )
    timer = PlainStepsBetween(str(tmp_path / "steps.json"), cfg.dataset, cfg.model)
    timer.on_fit_start(None, module)
    assert timer.datamodule.num_workers == 0 and timer.net is not module.net
    conv = timer.net.features[3].weight  # 6 input channels: the two layouts differ
    assert module.net.features[3].weight.is_contiguous(memory_format=torch.channels_last)
    assert conv.is_contiguous() and not conv.is_contiguous(memory_format=torch.channels_last)
    assert module.net._forward_pre_hooks and not timer.net._forward_pre_hooks
    assert all(
        torch.equal(a, b) for a, b in zip(timer.net.state_dict().values(), module.net.state_dict().values())
    )
    trainer = SimpleNamespace(current_epoch=1)
    timer.on_train_epoch_start(trainer, module)
    before, framework_before = conv.detach().clone(), module.net.features[3].weight.detach().clone()
    for batch_idx in range(3):
        timer.on_train_batch_end(trainer, module, None, None, batch_idx)
    timer.on_train_end(trainer, module)
    record = json.loads((tmp_path / "steps.json").read_text())
    # three plain steps; the first framework step of an epoch has no plain step before it
    assert len(record["plain_step_s"]["1"]) == 3 and len(record["framework_step_s"]["1"]) == 2
    assert not torch.equal(conv, before)  # the plain network trained
    assert torch.equal(module.net.features[3].weight, framework_before)  # and left the run's network alone


@pytest.mark.slow
def test_framework_overhead_and_knobs_run_the_cli_with_plain_steps_between():
    result = framework.run_overhead(quick=True)
    run = result["variants"]["configured"]
    assert not result["errors"] and len(run["epoch_ratios"]) == 1 and run["plain_steps_per_s"] > 0
    # one plain step after each framework step: as many timed steps of each arm
    # digits: 44 steps of 32 an epoch; epoch 1 is timed, its first step has no plain step before it
    assert run["steps"] == 43 and 0 < run["framework_vs_plain"] < 2
    knobs = framework.run_knobs(quick=True)
    assert not knobs["errors"] and all(run["steps"] == 43 for run in knobs["runs"].values())
    assert knobs["vs_baseline"]["channels_last"] > 0


@pytest.mark.slow
def test_free_scoring_accuracy_reads_every_job_of_its_multirun():
    result = free_scoring_accuracy.run(quick=True)
    assert result["error"] is None
    assert all(0 < acc[0] <= 1 for acc in result["final_test_acc"].values())


def test_study_table_shows_each_groups_speedups_per_seed():
    import importlib.util

    from conftest import REPO

    spec = importlib.util.spec_from_file_location("study_table", REPO / "scripts" / "study_table.py")
    study_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study_table)

    def speedup(mean, *seeds):
        return {"speedup": mean, "per_seed": [{"seed": i, "speedup": s} for i, s in enumerate(seeds)]}

    group = {
        "label": "importance burn_in_epochs=5 gamma=0.5 loss=cross_entropy",
        "max_mean_acc": 0.83041,
        "std_at_max": 0.0141,
        "max_mean_step": 1400,
        "final_acc_mean": 0.8304,
        "final_acc_std": 0.0141,
        "speedup": {
            "0": speedup(2.714, 1.727, None),
            "0.005": speedup(2.0, 2.0, 2.0),
            "0.01": speedup(None, None, 3.5),
        },
    }
    report = {"comparisons": [{"title": "fmnist", "A_b": 0.8191, "t_b": 1330, "groups": [group]}]}
    row = study_table.table(report).splitlines()[4]
    assert row == (
        "| method E=5, gamma 0.5 | 0.8304 ± 0.0141 (1400) | 0.8304 ± 0.0141 | **2.71x** (1.73x, —) "
        "| **2.00x** (2.00x, 2.00x) | **—** (—, 3.50x) |"
    )


@pytest.mark.slow  # a subprocess run or more: keeps make test under 10 minutes
def test_make_gpu_check_runs_every_part_in_its_tiny_cpu_mode(tmp_path):
    """``make gpu-check`` on a machine without a GPU: the tiny mode, every part runs (GPU-only ones
    say "no GPU"), the JSON holds each part's result and the table is printed."""
    import json
    import subprocess
    import sys

    from conftest import REPO

    out = tmp_path / "gpu.json"
    done = subprocess.run(
        ["make", "-s", "gpu-check", f"PY={sys.executable}", f"ARGS=--tiny --out {out}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(out.read_text())
    parts = record["parts"]
    assert record["mode"] == "tiny (CPU)" and record["skipped"] == []
    assert {name: part["status"] for name, part in parts.items()} == dict.fromkeys(
        ["data", "flops", "throughput", "scoring", "syncs", "method", "data_path", "framework", "compile"],
        "ok",
    )
    # CIFAR-10's pickle batches, written and read back through the project's CIFARSource
    assert parts["data"]["result"]["train_images"] == [50, 3, 32, 32]
    # counted, not hard-coded: about 0.56 and 1.30 GMACs a forward with the CIFAR stem
    flops = parts["flops"]["result"]
    assert 1.0e9 < flops["resnet18"]["forward_flops_per_image"] < 1.2e9
    assert 2.4e9 < flops["resnet50"]["forward_flops_per_image"] < 2.8e9
    row = parts["throughput"]["result"]["rows"]["resnet18 fp32"]
    assert row["steps_per_s"] > 0 and row["projected_200_epochs_s"] == 78_000 / row["steps_per_s"]
    assert 0 < parts["scoring"]["result"]["rows"]["resnet18"]["fraction_of_epoch"]
    method = parts["method"]["result"]["single"]
    assert method["same_indices_and_labels"] and method["weights_equal"] and method["train_samples"] == 50
    for name in ("syncs", "data_path", "framework", "compile"):
        assert parts[name]["result"] == {"gpu": "no GPU"}
    assert "5 host-device syncs per steady step" in done.stdout and "no GPU" in done.stdout


def test_gpu_check_records_a_failing_part_and_stops_at_its_time_budget(tmp_path):
    """Item 7: a part that raises is recorded with its error and the next one runs; a part still
    running when the budget ends is stopped, the parts after it are skipped; the JSON has all."""
    import json
    import time

    from benchmarks.gpu import Check, run_parts

    ran = []

    def fails(check):
        raise ValueError("broken on purpose")

    def works(check):
        ran.append("works")
        return {"value": 1}

    def hangs(check):
        time.sleep(30)

    check = Check(tiny=True, budget_s=2.0, out=tmp_path / "gpu.json", workdir=tmp_path)
    start = time.monotonic()
    run_parts(check, {"fails": fails, "works": works, "hangs": hangs, "after": works})
    assert time.monotonic() - start < 10
    record = json.loads((tmp_path / "gpu.json").read_text())
    parts = record["parts"]
    assert parts["fails"]["status"] == "error" and parts["fails"]["error"] == "ValueError: broken on purpose"
    assert parts["works"] == {"status": "ok", "result": {"value": 1}, "seconds": parts["works"]["seconds"]}
    assert parts["hangs"]["status"] == "stopped" and parts["after"]["status"] == "skipped"
    assert record["skipped"] == ["hangs", "after"] and ran == ["works"]


# what the GPU machine lacks (its image has torch, Lightning, torchmetrics, tensorboard, matplotlib...)
MISSING_ON_THE_GPU_MACHINE = (
    "hydra",
    "omegaconf",
    "antlr4",
    "submitit",
    "hydra_plugins",
    "hydra_core",
    "hydra_submitit_launcher",
    "antlr4_python3_runtime",
)


@pytest.mark.slow
def test_make_gpu_check_runs_offline_from_the_wheel_folder_where_hydra_is_missing(tmp_path):
    """BENCHMARKS.md's GPU-machine recipe, here: a fresh venv that sees every dependency except the
    ones the wheel folder carries (and not this project), the wheels installed with --no-index
    into a --target folder, then ``make gpu-check`` with that folder on PYTHONPATH."""
    import os
    import subprocess
    import sys

    import torch

    from conftest import REPO

    wheels = sorted((REPO / ".whl").glob("*.whl"))
    if not wheels:
        pytest.skip("no wheels in .whl/: run `make wheels` first (it needs the package index)")
    deps = Path(torch.__file__).resolve().parent.parent  # the site-packages holding torch
    seen = tmp_path / "seen"  # that site-packages without what the wheels carry and without this project
    seen.mkdir()
    for entry in deps.iterdir():
        name = entry.name.lower().replace("-", "_")
        if name.startswith(MISSING_ON_THE_GPU_MACHINE) or "sample_importance" in name or "editable" in name:
            continue
        (seen / entry.name).symlink_to(entry)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    python = tmp_path / "venv" / "bin" / "python"
    site_dir = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site_dir, "deps.pth").write_text(f"import site; site.addsitedir({str(seen)!r})\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "1"
    lacking = subprocess.run(
        [python, "-c", "import torch, pytorch_lightning; import hydra"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert "No module named 'hydra'" in lacking.stderr  # the machine as the recipe expects it

    site = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            "--target",
            str(site),
            *map(str, wheels),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    out = tmp_path / "gpu.json"
    done = subprocess.run(
        ["make", "-s", "gpu-check", f"PY={python}", f"ARGS=--tiny --out {out}"],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    parts = json.loads(out.read_text())["parts"]
    assert all(part["status"] == "ok" for part in parts.values()), {
        k: p.get("error") for k, p in parts.items()
    }


def test_sync_counter_counts_each_steps_sync_warnings_from_the_previous_step_end(tmp_path):
    """Item 5's counter: torch turns each synchronising CUDA call into this warning under
    set_sync_debug_mode("warn"); here they are raised by hand (no GPU) between the hooks."""
    import json
    import warnings
    from types import SimpleNamespace

    import torch

    from benchmarks.sync_counter import SyncCounter

    counter = SyncCounter(str(tmp_path / "syncs.json"))
    module = SimpleNamespace(device=torch.device("cpu"))
    trainer = SimpleNamespace(current_epoch=0, log_every_n_steps=20)
    for step, syncs in enumerate([2, 0, 1]):
        counter.on_train_batch_start(trainer, module, None, step)
        for _ in range(syncs):
            warnings.warn("called a synchronizing CUDA operation", stacklevel=1)
        warnings.warn("something else", stacklevel=1)  # not a sync
        counter.on_train_batch_end(trainer, module, None, None, step)
    warnings.warn(
        "called a synchronizing CUDA operation", stacklevel=1
    )  # between steps: counted in the next one
    trainer.current_epoch = 1
    counter.on_train_batch_start(trainer, module, None, 0)
    counter.on_train_batch_end(trainer, module, None, None, 0)
    counter.on_train_end(trainer, module)
    record = json.loads((tmp_path / "syncs.json").read_text())
    assert record["per_step"] == {"0": [2, 0, 1], "1": [1]} and record["log_every_n_steps"] == 20
    assert sum(record["where"].values()) == 4 and all("test_bench.py" in where for where in record["where"])
