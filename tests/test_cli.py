"""The command line as a user meets it: bad input is one line and a non-zero exit; sweeps fan out."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from conftest import REPO, run_cli

TRAIN = ["-m", "sample_importance.train"]


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    "override, fragments",
    [
        ("sampler.gamma=abc", ["sampler.gamma", "finite number", "'abc'"]),
        ("sampler.gamma=nan", ["sampler.gamma", "finite number"]),
        ("sampler.gamma=inf", ["sampler.gamma"]),
        ("sampler.burn_in_epochs=30", ["sampler.burn_in_epochs", "[0, 30)"]),
        ("sampler.burn_in_epochs=-1", ["sampler.burn_in_epochs", ">= 0"]),
        ("sampler=foo", ["sampler=foo", "importance", "uniform"]),
        ("model=resnet999", ["model=resnet999", "lenet"]),
        ("schedule.batch_size=0", ["schedule.batch_size"]),
        ("schedule.lr=-0.1", ["schedule.lr"]),
        ("paths.data_dir=pyproject.toml", ["paths.data_dir", "not a folder"]),
        ("ckpt_path=does/not/exist.ckpt", ["ckpt_path", "no such file"]),
    ],
)
def test_bad_config_values_are_one_line_errors(override, fragments, tmp_path):
    result = run_cli([*TRAIN, override, f"paths.log_dir={tmp_path}"], cwd=REPO, timeout=60)
    assert_one_line_error(result, *fragments)
    assert result.returncode == 2


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        (
            ["dataset=digits", "dataset.on_device=true", "dataset.num_workers=2"],
            ["dataset.on_device", "num_workers=0"],
        ),
        (
            ["dataset=digits", "+dataset/multiaug=cifar", "dataset.on_device=true"],
            ["dataset.on_device", "in-memory"],
        ),
    ],
)
def test_data_on_device_that_cannot_work_is_a_one_line_error(overrides, fragments, tmp_path):
    result = run_cli(
        [*TRAIN, *overrides, "trainer.accelerator=cpu", f"paths.log_dir={tmp_path}"], cwd=REPO, timeout=120
    )
    assert_one_line_error(result, *fragments)


def test_corrupt_checkpoint_is_a_one_line_error(tmp_path):
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"this is not a checkpoint")
    result = run_cli([*TRAIN, "dataset=digits", f"ckpt_path={broken}", f"paths.log_dir={tmp_path}"], cwd=REPO)
    assert_one_line_error(result, "ckpt_path", "not a readable torch file")


def test_missing_dataset_with_download_off_is_a_one_line_error(tmp_path):
    result = run_cli(
        [*TRAIN, "dataset=cifar10", f"paths.data_dir={tmp_path / 'empty'}", f"paths.log_dir={tmp_path}"],
        cwd=REPO,
    )
    assert_one_line_error(result, "CIFAR-10 not found", "download=true")


def test_full_error_shows_the_traceback_on_request(tmp_path):
    result = run_cli(
        [*TRAIN, "sampler.gamma=abc", f"paths.log_dir={tmp_path}"],
        cwd=REPO,
        timeout=60,
        env_extra={"HYDRA_FULL_ERROR": "1"},
    )
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_multirun_sweep_runs_one_job_per_combination_each_in_its_own_folder(tmp_path):
    result = run_cli(
        [
            *TRAIN,
            "-m",
            "dataset=digits",
            "schedule.max_epochs=3",
            "sampler=importance",
            "sampler.burn_in_epochs=1,2",
            "sampler.gamma=0.5,1",
            "trainer.enable_progress_bar=false",
            f"paths.log_dir={tmp_path}",
            f"paths.data_dir={tmp_path / 'data'}",
        ],
        cwd=REPO,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = sorted(tmp_path.glob("multiruns/*/*/*/summary.json"))
    assert len(summaries) == 4
    assert len({path.parent for path in summaries}) == 4
    seen = set()
    for path in summaries:
        overrides = yaml.safe_load((path.parent / ".hydra" / "overrides.yaml").read_text())
        settings = json.loads(path.read_text())["sampler_settings"]
        seen.add((settings["burn_in_epochs"], settings["gamma"]))
        assert f"sampler.burn_in_epochs={settings['burn_in_epochs']}" in overrides
        weights = torch.load(path.parent / "sample_weights.pt", weights_only=True)
        assert weights["epoch"] == settings["burn_in_epochs"] and weights["gamma"] == settings["gamma"]
    assert seen == {(1, 0.5), (1, 1.0), (2, 0.5), (2, 1.0)}


# The model group's speed knobs are read by the apps, not passed to the network.
@pytest.mark.parametrize("knobs", [[], ["+model.score_channels_last=false", "+model.channels_last=true"]])
def test_score_app_reproduces_the_runs_weights(importance_run, tmp_path, knobs):
    output_dir, _ = importance_run
    checkpoint = output_dir / "checkpoints" / "burn_in_end_epoch2.ckpt"
    result = run_cli(
        [
            "-m",
            "sample_importance.score",
            "dataset=digits",
            f"ckpt_path={checkpoint}",
            "sampler.gamma=0.5",
            f"hydra.run.dir={tmp_path / 'score'}",
            *knobs,
        ],
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    scored = torch.load(tmp_path / "score" / "sample_weights.pt", weights_only=True)
    original = torch.load(output_dir / "sample_weights.pt", weights_only=True)
    assert scored["epoch"] == original["epoch"] == 2
    torch.testing.assert_close(scored["weight"], original["weight"], atol=1e-6, rtol=0)
    assert torch.equal(scored["label"], original["label"])
