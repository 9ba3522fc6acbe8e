"""Shared fixtures: compose the real configs, run real (tiny) trainings on the bundled digits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from sample_importance.cli import CONFIG_DIR

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent

# A digits run small enough for the fast suite: 44 steps of 32 per epoch; learns to ~65% in 4 epochs.
TINY = [
    "dataset=digits",
    "schedule.batch_size=32",
    "schedule.lr=0.1",
    "trainer.enable_progress_bar=false",
    "trainer.accelerator=cpu",
]
FEW_BATCHES = "++trainer.limit_train_batches=5"
RECORD_DRAWS = "+callbacks.record_draws._target_=draw_recorder.DrawRecorder"


def compose_config(overrides: list[str], output_dir: Path, config_name: str = "train"):
    """The config ``python -m sample_importance.train OVERRIDES`` would run, writing into output_dir."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.data_dir = str(output_dir.parent / "data")
        del cfg["hydra"]
    return cfg


def assert_same_parameters(mine: dict, theirs: dict) -> None:
    """Two state dicts hold the same tensors, bit for bit."""
    import torch

    assert mine.keys() == theirs.keys()
    different = [name for name in mine if not torch.equal(mine[name], theirs[name])]
    assert not different, f"parameters differ: {different}"


def run_training(overrides: list[str], output_dir: Path) -> dict:
    from sample_importance.train import train

    output_dir.mkdir(parents=True, exist_ok=True)
    return train(compose_config(TINY + overrides, output_dir))


def run_cli(args: list[str], cwd: Path, timeout: int = 300, env_extra: dict | None = None):
    """Run a command-line app as a user would; returns the CompletedProcess."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env.update(PYTHONPATH=str(TESTS_DIR), **(env_extra or {}))
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def run_two_cpu_ranks(run_dir: Path, data_dir: Path, overrides: list[str], timeout: int = 300) -> dict:
    """``python -m sample_importance.train trainer=ddp_cpu`` on the digits: two real DDP processes
    on gloo, writing into run_dir; returns its summary.json (checked to come from two ranks)."""
    import json

    result = run_cli(
        [
            "-m",
            "sample_importance.train",
            "trainer=ddp_cpu",
            "dataset=digits",
            "trainer.enable_progress_bar=false",
            f"hydra.run.dir={run_dir}",
            f"paths.data_dir={data_dir}",
            *overrides,
        ],
        cwd=REPO,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["world_size"] == 2
    return summary


@pytest.fixture
def one_thread():
    """Tiny convolutions on 2 busy cores run about 10x slower with two threads fighting over them."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def importance_run(tmp_path_factory):
    """One real run shared by several tests: digits, LeNet, E=2, gamma=0.5, 4 epochs, draws recorded."""
    output_dir = tmp_path_factory.mktemp("importance") / "run"
    summary = run_training(
        [
            "sampler=importance",
            "sampler.burn_in_epochs=2",
            "sampler.gamma=0.5",
            "schedule.max_epochs=4",
            RECORD_DRAWS,
        ],
        output_dir,
    )
    return output_dir, summary
