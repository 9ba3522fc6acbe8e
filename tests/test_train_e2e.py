"""A real run of the method on digits, checked the way a user would check it."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import RECORD_DRAWS, run_training
from draw_recorder import load_draws
from independent import digits_p_true_from_checkpoint
from sample_importance.sampler.index_sampler import IndexSampler

BURN_IN, EPOCHS, BATCH = 2, 4, 32


def test_weights_equal_one_minus_p_to_the_gamma_from_the_epoch_E_checkpoint(importance_run):
    output_dir, _ = importance_run
    record = torch.load(output_dir / "sample_weights.pt", weights_only=True)
    assert record["epoch"] == BURN_IN and record["gamma"] == 0.5
    assert record["p_true"].dtype == torch.float64 and record["weight"].dtype == torch.float64
    assert torch.equal(record["index"], torch.arange(len(record["weight"])))
    p_true, labels = digits_p_true_from_checkpoint(
        output_dir / "checkpoints" / f"burn_in_end_epoch{BURN_IN}.ckpt"
    )
    assert torch.equal(record["label"], labels)
    torch.testing.assert_close(record["p_true"], p_true, atol=1e-5, rtol=0)
    torch.testing.assert_close(record["weight"], (1 - p_true).pow(0.5), atol=1e-4, rtol=0)
    # the model is not trivial: weights really differ between samples
    assert record["weight"].std() > 0.05


def test_switch_happens_exactly_after_epoch_E_and_draws_follow_the_weights(importance_run):
    output_dir, summary = importance_run
    draws = load_draws(output_dir)
    steps = summary["steps_per_epoch"]
    assert sorted(draws) == list(range(EPOCHS))
    weights = torch.load(output_dir / "sample_weights.pt", weights_only=True)["weight"]
    uniform = IndexSampler(len(weights), seed=0)
    weighted = IndexSampler(len(weights), seed=0)
    weighted.set_weights(weights)
    for epoch, drawn in draws.items():
        assert len(drawn) == steps * BATCH
        if epoch < BURN_IN:
            assert len(drawn.unique()) == len(drawn), f"epoch {epoch} drew a sample twice before the switch"
            assert torch.equal(drawn, uniform.global_sequence(epoch)[: len(drawn)])
        else:
            assert torch.equal(drawn, weighted.global_sequence(epoch)[: len(drawn)])
            assert len(drawn.unique()) < len(drawn)  # with replacement


def test_summary_and_checkpoints(importance_run):
    output_dir, summary = importance_run
    on_disk = json.loads((output_dir / "summary.json").read_text())
    assert on_disk["total_steps"] == EPOCHS * on_disk["steps_per_epoch"] == summary["total_steps"]
    assert on_disk["steps_per_epoch"] == 1438 // BATCH  # digits: 1,438 training samples, drop_last
    assert (
        on_disk["dataset"] == "digits" and on_disk["model"] == "lenet" and on_disk["sampler"] == "importance"
    )
    history = on_disk["test_acc_history"]
    assert [step for step, _ in history] == [on_disk["steps_per_epoch"] * (e + 1) for e in range(EPOCHS)]
    best_step, best_acc = max(history, key=lambda item: item[1])
    assert on_disk["best_test_acc"] == best_acc and on_disk["best_step"] == best_step
    assert 0 <= on_disk["final_test_acc"] <= 1 and on_disk["wall_time_s"] > 0
    assert on_disk["sampler_settings"]["switched_after_epoch"] == BURN_IN
    for name in ("last.ckpt", f"burn_in_end_epoch{BURN_IN}.ckpt"):
        assert (output_dir / "checkpoints" / name).is_file()


def test_tensorboard_scalars_histograms_and_images_read_back(importance_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    output_dir, summary = importance_run
    events = EventAccumulator(
        str(output_dir / "tensorboard"), size_guidance={"scalars": 0, "histograms": 0, "images": 0}
    )
    events.Reload()
    tags = events.Tags()
    test_acc = events.Scalars("test/acc")
    assert [e.step for e in test_acc] == [step for step, _ in summary["test_acc_history"]]
    assert [e.value for e in test_acc] == pytest.approx(
        [acc for _, acc in summary["test_acc_history"]], abs=1e-6
    )
    assert "train/loss_epoch" in tags["scalars"] and any(t.startswith("lr-") for t in tags["scalars"])
    switch_step = summary["steps_per_epoch"] * BURN_IN
    assert {"importance/weight", "importance/p_true"} <= set(tags["histograms"])
    assert events.Histograms("importance/weight")[0].step == switch_step
    assert "importance/easiest_top_hardest_bottom" in tags["images"]
    shares = [events.Scalars(t)[0].value for t in tags["scalars"] if t.startswith("importance/class_share/")]
    assert len(shares) == 10 and sum(shares) == pytest.approx(1.0, abs=1e-5)
    ess = events.Scalars("sampling/effective_sample_fraction")
    assert [e.step for e in ess] == [summary["steps_per_epoch"] * e for e in range(BURN_IN, EPOCHS)]
    assert all(0 < e.value <= 1 for e in ess)


def test_resume_after_the_switch_restores_the_sampler_without_rescoring(importance_run, tmp_path):
    output_dir, _ = importance_run
    checkpoint = output_dir / "checkpoints" / f"burn_in_end_epoch{BURN_IN}.ckpt"
    resumed_dir = tmp_path / "resumed"
    summary = run_training(
        [
            "sampler=importance",
            f"sampler.burn_in_epochs={BURN_IN}",
            "schedule.max_epochs=4",
            RECORD_DRAWS,
            f"ckpt_path={checkpoint}",
        ],
        resumed_dir,
    )
    assert not (resumed_dir / "sample_weights.pt").exists(), "the resumed run scored the training set again"
    assert summary["sampler_settings"]["switched_after_epoch"] == BURN_IN
    original, resumed = load_draws(output_dir), load_draws(resumed_dir)
    assert sorted(resumed) == list(range(BURN_IN, EPOCHS))
    for epoch in resumed:
        assert torch.equal(resumed[epoch], original[epoch])
    assert summary["total_steps"] == EPOCHS * summary["steps_per_epoch"]
    # the accuracy history of the finished epochs travels with the checkpoint
    assert len(summary["test_acc_history"]) == EPOCHS


def test_burn_in_zero_scores_the_untrained_model_before_the_first_epoch(tmp_path):
    summary = run_training(
        ["sampler.burn_in_epochs=0", "schedule.max_epochs=1", RECORD_DRAWS], tmp_path / "run"
    )
    record = torch.load(tmp_path / "run" / "sample_weights.pt", weights_only=True)
    assert record["epoch"] == 0
    weighted = IndexSampler(len(record["weight"]), seed=0)
    weighted.set_weights(record["weight"])
    drawn = load_draws(tmp_path / "run")[0]
    assert torch.equal(drawn, weighted.global_sequence(0)[: len(drawn)])
    assert summary["sampler_settings"]["switched_after_epoch"] == 0


def test_uniform_sampler_never_draws_twice_in_an_epoch(tmp_path):
    summary = run_training(["sampler=uniform", "schedule.max_epochs=2", RECORD_DRAWS], tmp_path / "run")
    for drawn in load_draws(tmp_path / "run").values():
        assert len(drawn.unique()) == len(drawn) == summary["steps_per_epoch"] * BATCH
    assert not (tmp_path / "run" / "sample_weights.pt").exists()


def test_resume_with_loader_workers_draws_the_right_epoch(importance_run, tmp_path):
    """Lightning issue 21938: with workers, the first iterator after a resume is made before set_epoch."""
    output_dir, _ = importance_run
    checkpoint = output_dir / "checkpoints" / f"burn_in_end_epoch{BURN_IN}.ckpt"
    resumed_dir = tmp_path / "resumed_workers"
    run_training(
        [
            "sampler=importance",
            f"sampler.burn_in_epochs={BURN_IN}",
            "schedule.max_epochs=4",
            RECORD_DRAWS,
            "dataset.num_workers=2",
            f"ckpt_path={checkpoint}",
        ],
        resumed_dir,
    )
    original, resumed = load_draws(output_dir), load_draws(resumed_dir)
    assert sorted(resumed) == list(range(BURN_IN, EPOCHS))
    for epoch in resumed:
        assert torch.equal(resumed[epoch], original[epoch]), f"epoch {epoch}"


@pytest.mark.parametrize("enabled", [True, False])
def test_progress_bar_redraws_every_ten_steps_or_is_left_out(enabled, tmp_path):
    from pytorch_lightning.callbacks import TQDMProgressBar

    from conftest import TINY, compose_config
    from sample_importance.train import build

    overrides = [o for o in TINY if "enable_progress_bar" not in o] + [
        f"trainer.enable_progress_bar={enabled}"
    ]
    trainer = build(compose_config(overrides, tmp_path / "run"))[3]
    bars = [c for c in trainer.callbacks if isinstance(c, TQDMProgressBar)]
    assert [bar.refresh_rate for bar in bars] == ([10] if enabled else [])


@pytest.mark.parametrize("log_every", [20, 1000])
def test_a_nan_loss_stops_the_run_with_one_line_before_a_nan_checkpoint(log_every, tmp_path):
    """The loss is checked without a per-step sync (at logging steps, validation, epoch ends and
    checkpoint saves): a NaN at step 50 (epoch 1 of 44-step epochs) must still stop the run with
    the one-line error, found at step 59's logging (every 20) or, with no logging step left in the
    epoch, before validation and the epoch-end checkpoint; every checkpoint left is epoch 0's and finite."""
    from conftest import TINY, run_cli

    result = run_cli(
        [
            "-m",
            "sample_importance.train",
            *TINY,
            "model=lenet",
            "sampler=uniform",
            "schedule.max_epochs=3",
            f"trainer.log_every_n_steps={log_every}",
            "+callbacks.poison._target_=draw_recorder.PoisonWeightsAtStep",
            "+callbacks.poison.step=50",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error_lines == [
        "error: training loss became NaN or infinite at step 50: the run diverged "
        "(lower schedule.lr); checkpoints up to the last finished epoch are in checkpoints/"
    ]
    checkpoints = sorted((tmp_path / "run" / "checkpoints").glob("*.ckpt"))
    assert checkpoints  # epoch 0's
    for path in checkpoints:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        assert checkpoint["epoch"] == 0 and checkpoint["global_step"] == 44, path.name
        assert all(
            torch.isfinite(v).all() for v in checkpoint["state_dict"].values() if v.is_floating_point()
        )
