"""Every debug config with every sampler: real tiny runs on the digits, read back from their files.

The fast suite runs each sampler under ``debug=fast`` and each debug config with the default
sampler; the whole grid is marked slow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate

from conftest import REPO, compose_config, run_cli

CONFIGS = REPO / "configs"
DEBUG_CONFIGS = sorted(p.stem for p in (CONFIGS / "debug").glob("*.yaml"))
# every sampler, and SGD-Scan on pruned data (EL2N: pruning is a dataset option)
PRUNED = "uniform+pruning"
SAMPLERS = sorted(p.stem for p in (CONFIGS / "sampler").glob("*.yaml")) + [PRUNED]
DEFAULT_SAMPLER = "importance"
BASE = ["dataset=digits", "trainer.accelerator=cpu", "trainer.enable_progress_bar=false"]


def phase_curve(run_dir: Path) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return [(s.step, s.value) for s in events.Scalars("sampler/phase")]


def run_debug(debug: str, sampler: str, tmp_path: Path) -> tuple[dict, Path, object]:
    from sample_importance.train import train

    output_dir = tmp_path / f"{debug}-{sampler}"
    output_dir.mkdir(parents=True)
    overrides = BASE + [f"debug={debug}", f"sampler={sampler.removesuffix('+pruning')}"]
    if sampler == PRUNED:  # needs scores: one random value per training sample
        datamodule = instantiate(compose_config(overrides, output_dir).dataset)
        datamodule.setup("fit")
        scores = tmp_path / "scores.npy"
        np.save(scores, np.random.default_rng(0).random(datamodule.num_train))
        overrides += [f"dataset.prune_scores_file={scores}", "dataset.prune_scores_order=index"]
    cfg = compose_config(overrides, output_dir)
    return train(cfg), output_dir, cfg


def check_debug_run(debug: str, sampler: str, tmp_path: Path) -> None:
    summary, run_dir, cfg = run_debug(debug, sampler, tmp_path)
    assert json.loads((run_dir / "summary.json").read_text())["total_steps"] == summary["total_steps"]
    epochs = {"limit": 3, "overfit": 50}.get(debug, 2)
    assert summary["epochs"] == epochs and len(summary["test_acc_history"]) == epochs
    full_epoch = summary["num_train"] // (16 if debug == "overfit" else 128)  # after pruning
    steps = {"fast": min(3, full_epoch), "limit": int(full_epoch * 0.25)}.get(debug, full_epoch)
    if sampler != "infobatch" or debug == "fast":  # InfoBatch's pruned epochs are shorter
        assert summary["total_steps"] == steps * epochs
    if debug == "overfit":
        assert summary["num_train"] in (50, 50 - int(0.3 * 50))  # 5 per class (pruning drops 30%)
    burn_in = cfg.sampler.get("burn_in_epochs")
    phases = [value for _, value in phase_curve(run_dir)]
    assert len(phases) == epochs
    if isinstance(burn_in, int):
        assert burn_in <= 1  # the debug configs lower every sampler's E so that it switches in the run
        assert phases[:burn_in] == [0.0] * burn_in and phases[-1] == 1.0
    if sampler in ("importance", "class_importance", "importance_unbiased", "random_weights"):
        assert summary["sampler_settings"]["switched_after_epoch"] == burn_in
    if debug == "profiler":
        report = (run_dir / "fit-profiler.txt").read_text()
        assert "run_training_epoch" in report and "on_train_epoch_end" in report


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_debug_fast_runs_every_sampler(sampler, tmp_path, one_thread):
    check_debug_run("fast", sampler, tmp_path)


@pytest.mark.parametrize("debug", DEBUG_CONFIGS)
def test_every_debug_config_runs_the_default_sampler(debug, tmp_path, one_thread):
    check_debug_run(debug, DEFAULT_SAMPLER, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("debug", DEBUG_CONFIGS)
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_debug_config_runs_every_sampler(debug, sampler, tmp_path, one_thread):
    check_debug_run(debug, sampler, tmp_path)


def test_debug_runs_go_to_their_own_log_folder(tmp_path):
    """From the command line, as a user runs it: the default job under debug=fast (E=5 lowered to 1)."""
    result = run_cli(
        [
            "-m",
            "sample_importance.train",
            "debug=fast",
            "dataset=digits",
            "trainer.accelerator=cpu",
            f"paths.log_dir={tmp_path / 'logs'}",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "logs" / "debug" / "runs").glob("*/*")
    assert not (tmp_path / "logs" / "runs").exists()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["sampler_settings"]["switched_after_epoch"] == 1 and summary["total_steps"] == 6
    assert "sampler.burn_in_epochs lowered from 5 to 1" in result.stdout + result.stderr
