"""What a user sees while a run goes, and what TensorBoard shows of it, read back from the files."""

from __future__ import annotations

import logging

import pytest
from omegaconf import OmegaConf

from conftest import TINY, compose_config, run_cli, run_training


@pytest.fixture(scope="module")
def console_run(tmp_path_factory):
    """A digits run from the command line with the progress bar on and every warning shown."""
    tmp_path = tmp_path_factory.mktemp("console")
    result = run_cli(
        [
            "-m",
            "sample_importance.train",
            "dataset=digits",
            "trainer.accelerator=cpu",
            "schedule.max_epochs=3",
            "sampler.burn_in_epochs=2",
            "callbacks.progress_bar.refresh_rate=1",
            f"paths.log_dir={tmp_path / 'logs'}",
        ],
        cwd=tmp_path,
        env_extra={"PYTHONWARNINGS": "default", "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "logs" / "runs").glob("*/*")
    return result.stdout + result.stderr, run_dir


def test_console_has_no_banners_or_deprecations(console_run):
    text, _ = console_run
    assert "💡" not in text and "litlogger" not in text and "litmodels" not in text
    assert "weights_only" not in text  # Lightning asked at the switch's checkpoint
    assert "Deprecat" not in text and "deprecated" not in text
    assert "sampler switched to importance weights" in text  # our own INFO lines stay


def test_progress_bar_names_the_phase_and_the_test_set(console_run):
    text, _ = console_run
    lines = text.replace("\r", "\n").splitlines()
    assert any(line.startswith("Epoch 0 (burn-in 1/2)") for line in lines)
    assert any(line.startswith("Epoch 1 (burn-in 2/2)") for line in lines)
    assert any(line.startswith("Epoch 2 (weighted)") for line in lines)
    assert any(line.startswith("test: 100%") for line in lines)
    assert "Validation" not in text and "DataLoader 0" not in text


def test_tensorboard_has_test_loss_train_acc_and_the_phase(console_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, run_dir = console_run
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    scalars = {tag: [(s.step, s.value) for s in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    steps = 1438 // 128  # digits, batch 128
    assert scalars["sampler/phase"] == [(0, 0.0), (steps, 0.0), (2 * steps, 1.0)]  # switch after epoch E=2
    assert [step for step, _ in scalars["test/loss"]] == [steps, 2 * steps, 3 * steps]
    assert all(0 < loss < 10 for _, loss in scalars["test/loss"])
    assert len(scalars["train/acc"]) == 3 and all(0 <= acc <= 1 for _, acc in scalars["train/acc"])
    assert {"test/acc", "train/loss_epoch", "hparams/best_test_acc"} <= set(scalars)


def test_test_loss_is_the_mean_loss_over_the_test_set(tmp_path, one_thread):
    """test/loss recomputed here from the final model: the mean cross-entropy over every test image."""
    import torch
    from hydra.utils import instantiate
    from torch.nn.functional import cross_entropy

    from sample_importance.train import build_classifier

    summary = run_training(["schedule.max_epochs=1", "sampler=uniform"], tmp_path / "run")
    checkpoint = torch.load(
        tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False, map_location="cpu"
    )
    cfg = compose_config(TINY + ["schedule.max_epochs=1", "sampler=uniform"], tmp_path / "again")
    datamodule = instantiate(cfg.dataset)
    datamodule.setup("fit")
    module = build_classifier(cfg, datamodule)
    module.load_state_dict(checkpoint["state_dict"])
    module.eval()
    losses, correct = [], 0
    with torch.no_grad():
        for images, targets, _ in datamodule.test_dataloader():
            logits = module(images)
            losses.append(cross_entropy(logits, targets, reduction="none"))
            correct += int((logits.argmax(1) == targets).sum())
    assert summary["final_test"]["acc"] == pytest.approx(correct / len(datamodule.test_set))
    assert summary["final_test"]["loss"] == pytest.approx(float(torch.cat(losses).mean()), rel=1e-5)


def test_schedule_milestones_past_the_run_are_named_in_one_line(caplog, tmp_path, one_thread):
    from sample_importance.config_checks import milestones_after_the_run

    with caplog.at_level(logging.WARNING):
        run_training(
            ["sampler=uniform", "schedule.max_epochs=1", "schedule.lr_milestones_epochs=[3,5]"],
            tmp_path / "run",
        )
    (record,) = [r for r in caplog.records if "lr_milestones" in r.getMessage()]
    assert "never decays" in record.getMessage() and "\n" not in record.getMessage()
    cfg = OmegaConf.create({"schedule": {"max_epochs": 30, "lr_milestones_epochs": [15, 22]}})
    assert milestones_after_the_run(cfg, 30) is None  # make train's cpu_short: 15 and 22 both apply
    assert "does not decay at 22" in milestones_after_the_run(cfg, 20)
