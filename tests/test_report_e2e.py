"""Two real tiny trainings (SGD-Scan and the method on digits), then the report on their folders."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf
from PIL import Image

from conftest import TINY, compose_config
from sample_importance.report.build import build_report

JOBS = [["sampler=uniform"], ["sampler=importance", "sampler.burn_in_epochs=1", "sampler.gamma=0.5"]]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A two-job sweep folder as ``train -m`` leaves it (``.hydra/`` written here the way Hydra does)."""
    from sample_importance.train import train

    root = tmp_path_factory.mktemp("logs") / "multiruns" / "2026-01-01" / "00-00-00-000000"
    summaries = []
    for job, overrides in enumerate(JOBS):
        folder = root / str(job)
        folder.mkdir(parents=True)
        cfg = compose_config(TINY + overrides + ["schedule.max_epochs=2"], folder)
        (folder / ".hydra").mkdir()
        OmegaConf.save(cfg, folder / ".hydra" / "config.yaml")
        OmegaConf.save(OmegaConf.create({"hydra": HydraConfig.get()}), folder / ".hydra" / "hydra.yaml")
        OmegaConf.save(OmegaConf.create(overrides), folder / ".hydra" / "overrides.yaml")
        summaries.append(train(cfg))
    return root, summaries


def first_reach(history, target, limit):
    for step, acc in history:
        if step <= limit and acc >= target - 1e-12:
            return step
    return None


def test_report_of_real_runs(sweep):
    root, (uniform, importance) = sweep
    report_file = build_report([str(root)], progress=False)
    assert report_file == root / "report" / "report.md"  # default: beside the runs
    numbers = json.loads((root / "report" / "report.json").read_text())
    assert numbers["runs"] == numbers["finished"] == 2
    (section,) = numbers["comparisons"]
    assert section["baseline"] == "SGD-Scan"
    assert [(g["label"], g["seeds"]) for g in section["groups"]] == [
        ("SGD-Scan", [0]),
        ("ours (E=1, γ=0.5)", [0]),
    ]

    # A_b, t_b and t_n recomputed here from the summaries' histories
    a_b, t_b = max((acc, -step) for step, acc in uniform["test_acc_history"])
    assert section["A_b"] == pytest.approx(a_b) and section["t_b"] == -t_b
    method = section["groups"][1]["speedup"]
    for eps in ("0", "0.005", "0.01"):
        t_n = first_reach(importance["test_acc_history"], a_b - float(eps), -t_b)
        assert method[eps]["t_n"] == t_n
        assert method[eps]["speedup"] == (None if t_n is None else pytest.approx(-t_b / t_n))
    assert section["groups"][0]["max_mean_acc"] == pytest.approx(uniform["best_test_acc"])

    # class importance from the run's own weights file
    record = torch.load(root / "1" / "sample_weights.pt", weights_only=True)
    shares = np.bincount(record["label"].numpy(), weights=record["weight"].numpy(), minlength=10)
    (weights_section,) = numbers["importance"]
    assert weights_section["groups"][0]["class_importance_per_seed"][0] == pytest.approx(
        shares / shares.sum()
    )
    assert weights_section["class_names"] == importance["class_names"]

    # the figures, including the easiest/hardest images from the rebuilt digits training set
    out = report_file.parent
    for prefix in (
        "fig1_accuracy_",
        "fig2_speedup_",
        "fig3_class_importance_",
        "fig13_sorted_weights_",
        "fig18_easiest_",
        "fig19_hardest_",
    ):
        (png,) = out.glob(f"{prefix}*.png")
        with Image.open(png) as image:
            image.verify()
    text = report_file.read_text()
    assert "| SGD-Scan (reference) | 0 |" in text and "| ours (E=1, γ=0.5) | 0 |" in text
    assert "None: every run finished" in text

    # the times: seconds to each evaluation from the events, and the machine they come from
    assert importance["host"]["cpu"] and importance["host"]["cpu_count"] >= 1
    assert section["machines"] == [
        f"{importance['host']['cpu']}, {importance['host']['cpu_count']} CPUs, "
        f"{importance['host']['threads']} torch threads; host {importance['host']['name']}; "
        f"device cpu; torch {torch.__version__}"
    ]
    assert 0 < section["t_b_seconds"] <= uniform["wall_time_s"]
    assert section["t_b_samples"] == section["t_b"] * 32  # TINY's batch size
    for png in out.glob("*.png"):
        with Image.open(png) as image:
            image.verify()


def hparams_tab(logdir):
    """What TensorBoard shows for ``tensorboard --logdir LOGDIR``: its run list and the HPARAMS
    experiment (columns), computed by TensorBoard's own hparams backend from the event files."""
    from tensorboard import context
    from tensorboard.backend.event_processing.data_provider import MultiplexerDataProvider
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import backend_context

    multiplexer = EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = MultiplexerDataProvider(multiplexer, str(logdir))
    backend = backend_context.Context(
        base_plugin.TBContext(logdir=str(logdir), multiplexer=multiplexer, data_provider=provider)
    )
    request = context.RequestContext()
    sessions = backend.hparams_metadata(request, "")
    experiment = backend.experiment_from_metadata(
        request, "", True, sessions, backend.hparams_from_data_provider(request, "", 1000)
    )
    return sorted(multiplexer.Runs()), sorted(sessions), experiment


def test_tensorboard_lists_one_run_per_run_folder_with_its_hparams_session(sweep):
    root, _ = sweep
    runs, session_runs, experiment = hparams_tab(root)
    assert runs == session_runs == ["0/tensorboard", "1/tensorboard"]  # no second "hparams" run
    columns = {info.name for info in experiment.hparam_infos}
    # the columns of both runs: the method's settings are there although job 0 (uniform) has none
    assert {"sampler", "dataset", "seed", "lr", "sampler.gamma", "sampler.burn_in_epochs"} <= columns
    metrics = {info.name.tag for info in experiment.metric_infos}
    assert {
        "hparams/best_test_acc",
        "hparams/final_test_acc",
        "test/acc",
        "test/loss",
        "train/acc",
    } <= metrics


def test_hparams_tab_has_settings_and_accuracy_for_every_run(sweep):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    root, summaries = sweep
    for job, summary in enumerate(summaries):
        events = EventAccumulator(str(root / str(job) / "tensorboard"))
        events.Reload()
        content = events.PluginTagToContent("hparams")
        assert metadata.EXPERIMENT_TAG not in content  # TensorBoard builds the columns from every run
        start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
        hparams = {
            key: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
            for key, value in start.hparams.items()
        }
        assert hparams["sampler"] == summary["sampler"] and hparams["dataset"] == "digits"
        assert hparams["seed"] == 0 and hparams["max_epochs"] == 2
        if summary["sampler"] == "importance":
            assert hparams["sampler.gamma"] == 0.5 and hparams["sampler.burn_in_epochs"] == 1
        best = events.Scalars("hparams/best_test_acc")[-1].value
        final = events.Scalars("hparams/final_test_acc")[-1].value
        assert best == pytest.approx(summary["best_test_acc"]) and final == pytest.approx(
            summary["final_test_acc"]
        )


def test_make_report_takes_several_sweep_folders(sweep, tmp_path):
    """A baseline swept apart from the method: ``make report SWEEPS="A B"`` compares both; without
    SWEEPS only the newest sweep is read (and the command says which)."""
    import shutil
    import subprocess
    import sys

    from conftest import REPO

    root, _ = sweep
    day = tmp_path / "logs" / "multiruns" / "2026-01-02"
    for name, job in (("10-00-00-000000", "0"), ("11-00-00-000000", "1")):  # baseline first, the method later
        shutil.copytree(root / job, day / name / "0")
        (day / name / "multirun.yaml").write_text("{}\n")  # Hydra writes one into every sweep folder
    make = [
        "make",
        "-s",
        "-f",
        str(REPO / "Makefile"),
        "-o",
        ".venv/.installed",
        f"PY={sys.executable}",
        "report",
    ]

    both = subprocess.run(
        make + [f"SWEEPS={day / '10-00-00-000000'} {day / '11-00-00-000000'}", "ARGS=--no-images"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert both.returncode == 0, both.stderr[-3000:]
    numbers = json.loads((day / "report" / "report.json").read_text())  # the folders' common parent
    assert numbers["runs"] == 2
    (section,) = numbers["comparisons"]
    assert [g["config"] for g in section["groups"]] == ["uniform", "importance"]

    newest = subprocess.run(
        make + ["ARGS=--no-images"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert newest.returncode == 0, newest.stderr[-3000:]
    assert "report of: logs/multiruns/2026-01-02/11-00-00-000000\n" in newest.stdout  # not the report/ folder
    assert json.loads((day / "11-00-00-000000" / "report" / "report.json").read_text())["runs"] == 1


def test_baseline_and_method_in_one_sweep_form_one_comparison(tmp_path):
    """The documented pattern ``-m method=sgd_scan,ours seed=...`` (no ``+method``), then the report."""
    from conftest import run_cli

    result = run_cli(
        [
            "-m",
            "sample_importance.train",
            "-m",
            "method=sgd_scan,ours",
            "seed=0",
            "debug=fast",
            "dataset=digits",
            "trainer.accelerator=cpu",
            "trainer.enable_progress_bar=false",
            f"paths.log_dir={tmp_path / 'logs'}",
        ],
        cwd=tmp_path,
        env_extra={"OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "logs" / "debug" / "multiruns").glob("*/*")
    assert [json.loads((sweep / job / "summary.json").read_text())["sampler"] for job in ("0", "1")] == [
        "uniform",
        "importance",
    ]
    report_file = build_report([str(sweep)], progress=False, with_images=False)
    (section,) = json.loads((report_file.parent / "report.json").read_text())["comparisons"]
    assert section["baseline"] == "SGD-Scan" and [g["config"] for g in section["groups"]] == [
        "uniform",
        "importance",
    ]
