"""Part B baselines in real (tiny) digits runs: InfoBatch's steps and schedule, per-batch draws, resume."""

from __future__ import annotations

import pytest
import torch
from test_baselines_b_recorder import load_record

from conftest import run_training

RECORD = "+callbacks.sampler_recorder._target_=test_baselines_b_recorder.SamplerRecorder"
BATCH = 128
LR = 0.05
STEPS = 1438 // BATCH  # digits: 1,438 training samples, 11 full batches per epoch
# Pinned here so that these tests do not depend on conftest's TINY settings.
SCHEDULE = [f"schedule.batch_size={BATCH}", f"schedule.lr={LR}"]


def stop_after(epochs: int) -> list[str]:
    return ["+callbacks.stop._target_=test_baselines_b_recorder.StopAfterEpochs", f"+callbacks.stop.epochs={epochs}"]


def tensorboard_scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    from tbparse import SummaryReader

    frame = SummaryReader(str(run_dir / "tensorboard")).scalars
    return {tag: list(zip(group.step.tolist(), group.value.tolist())) for tag, group in frame.groupby("tag")}


def checkpoint_state(run_dir, name: str) -> dict:
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    return next(state for key, state in checkpoint["callbacks"].items() if key.startswith(name))


# -- InfoBatch --------------------------------------------------------------------------------------
INFOBATCH = SCHEDULE + ["sampler=infobatch", "sampler.pruning_epochs_fraction=0.6", "schedule.max_epochs=5",
             "schedule.lr_milestones_epochs=[2,4]", RECORD]


@pytest.fixture(scope="module")
def infobatch_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("infobatch") / "run"
    return run_dir, run_training(INFOBATCH, run_dir)


def test_infobatch_reports_the_steps_it_ran_and_keeps_the_schedule_by_epoch(infobatch_run):
    run_dir, summary = infobatch_run
    settings = summary["sampler_settings"]
    record = load_record(run_dir)
    batches_per_epoch = [len(record["batches"][epoch]) for epoch in range(5)]
    # epochs 1 and 2 (< 0.6 x 5) are pruned; epoch 0 (nothing seen yet) and 3, 4 are full
    assert settings["steps_per_epoch_run"] == batches_per_epoch
    assert batches_per_epoch[0] == batches_per_epoch[3] == batches_per_epoch[4] == STEPS
    assert batches_per_epoch[1] < STEPS and batches_per_epoch[2] < STEPS
    assert summary["total_steps"] == settings["total_steps_run"] == sum(batches_per_epoch)
    assert summary["steps_per_epoch"] == STEPS and settings["full_data_steps"] == 5 * STEPS
    assert settings["saved_iterations"] == 5 * STEPS - summary["total_steps"] > 0
    # a pruned epoch draws each kept sample at most once, and only the samples it kept
    for epoch in (1, 2):
        drawn = torch.cat(record["batches"][epoch])
        assert len(drawn.unique()) == len(drawn) == batches_per_epoch[epoch] * BATCH
        assert settings["samples_per_epoch"][epoch] < 1438
    # test accuracy after every epoch, pruned ones included
    assert len(summary["test_acc_history"]) == 5
    assert [step for step, _ in summary["test_acc_history"]] == torch.tensor(batches_per_epoch).cumsum(0).tolist()
    # the learning rate follows the epochs: x0.1 from epoch 2, x0.01 from epoch 4, whatever the epoch lengths
    for epoch, factor in enumerate([1, 1, 0.1, 0.1, 0.01]):
        assert record["lr"][epoch] == pytest.approx([LR * factor] * batches_per_epoch[epoch])
    scalars = tensorboard_scalars(run_dir)
    assert scalars["infobatch/saved_iterations"][-1][1] == settings["saved_iterations"]
    assert [value for _, value in scalars["infobatch/steps_this_epoch"]] == batches_per_epoch


def test_infobatch_resumes_with_its_pruned_epoch_and_its_step_count(infobatch_run, tmp_path):
    reference_dir, reference = infobatch_run
    first = tmp_path / "first"
    run_training(INFOBATCH + stop_after(2), first)
    assert len(checkpoint_state(first, "InfoBatch")["steps_run"]) == 2
    resumed_dir = tmp_path / "resumed"
    resumed = run_training(INFOBATCH + [f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}"], resumed_dir)
    # epoch 2 was pruned before the checkpoint: the resumed run draws exactly the uninterrupted run's epoch 2
    reference_draws, resumed_draws = load_record(reference_dir)["batches"], load_record(resumed_dir)["batches"]
    assert sorted(resumed_draws) == [2, 3, 4]
    assert torch.equal(torch.cat(resumed_draws[2]), torch.cat(reference_draws[2]))
    settings = resumed["sampler_settings"]
    assert settings["steps_per_epoch_run"][:3] == reference["sampler_settings"]["steps_per_epoch_run"][:3]
    assert resumed["total_steps"] == settings["total_steps_run"] == sum(settings["steps_per_epoch_run"])
    assert len(settings["steps_per_epoch_run"]) == 5
    for epoch, factor in ((2, 0.1), (3, 0.1), (4, 0.01)):
        assert load_record(resumed_dir)["lr"][epoch] == pytest.approx([LR * factor] * len(resumed_draws[epoch]))


def test_infobatch_resumes_mid_epoch_with_the_rest_of_its_pruned_epoch(infobatch_run, tmp_path):
    reference_dir, reference = infobatch_run
    steps_before = STEPS + 3  # three batches into the pruned epoch 1
    first = tmp_path / "first"
    with pytest.raises(SystemExit):
        run_training(INFOBATCH + ["callbacks.preemption_checkpoint.handle_signal=true",
                                  "+callbacks.preempt._target_=test_baselines_b_recorder.PreemptAtStep",
                                  f"+callbacks.preempt.step={steps_before - 1}"], first)
    # the signal is acted on at the next batch end: last.ckpt is from the middle of epoch 1
    assert torch.load(first / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == steps_before
    resumed_dir = tmp_path / "resumed"
    resumed = run_training(INFOBATCH + [f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}"], resumed_dir)
    reference_draws, resumed_draws = load_record(reference_dir)["batches"], load_record(resumed_dir)["batches"]
    done = steps_before - STEPS
    assert torch.equal(torch.cat(resumed_draws[1]), torch.cat(reference_draws[1][done:]))  # the rest of epoch 1
    settings = resumed["sampler_settings"]
    assert settings["steps_per_epoch_run"][:2] == reference["sampler_settings"]["steps_per_epoch_run"][:2]
    assert resumed["total_steps"] == settings["total_steps_run"] == sum(settings["steps_per_epoch_run"])
    assert load_record(resumed_dir)["lr"][2] == pytest.approx([LR * 0.1] * len(resumed_draws[2]))


# -- per-batch weights: prioritized and online ----------------------------------------------------
@pytest.mark.parametrize("overrides, epoch, refreshes_before", [
    (["sampler=prioritized_rank", "schedule.max_epochs=1"], 0, 1),  # 1: all unseen, set at fit start
    (["sampler=importance_online", "sampler.burn_in_epochs=1", "schedule.max_epochs=2"], 1, 1),  # 1: the switch
])
def test_per_batch_strategies_draw_each_batch_from_the_weights_after_the_previous_one(
        tmp_path, overrides, epoch, refreshes_before):
    summary = run_training(SCHEDULE + overrides + [RECORD], tmp_path / "run")
    record = load_record(tmp_path / "run")
    chunks = [record["chunks"][(epoch, k)] for k in range(STEPS)]
    for k, (chunk, refreshes) in enumerate(chunks):
        assert refreshes == refreshes_before + k  # drawn after batch k - 1 refreshed the weights
        assert torch.equal(chunk, record["batches"][epoch][k])  # one chunk is one batch
    assert summary["sampler_settings"]["weight_refreshes"] == refreshes_before + STEPS
    scalars = tensorboard_scalars(tmp_path / "run")
    assert len(scalars["sampling/effective_sample_fraction"]) == 1  # diagnostics of the weighted epoch


def test_online_importance_records_the_weights_of_its_switch(tmp_path):
    """sample_weights.pt, as sampler=importance writes it: the report reads the class importance from it."""
    from sample_importance.report.metrics import class_importance
    from sample_importance.sampler.importance import importance_weights

    run_training(SCHEDULE + ["sampler=importance_online", "sampler.burn_in_epochs=1", "schedule.max_epochs=2"],
                 tmp_path / "run")
    record = torch.load(tmp_path / "run" / "sample_weights.pt", weights_only=True)
    assert record["epoch"] == 1 and record["gamma"] == 0.5 and record["score"] == "p_true"
    assert torch.isfinite(record["p_true"]).all() and torch.equal(record["index"], torch.arange(1438))
    assert torch.equal(record["weight"], importance_weights(record["p_true"], 0.5)[0])
    shares = class_importance(record["weight"].numpy(), record["label"].numpy(), 10)
    assert shares.sum() == pytest.approx(1.0) and (shares > 0).all()


# -- SPV: uniform burn-in, weighted epochs, history through a resume ---------------------------------
SPV = SCHEDULE + ["sampler=spv", "sampler.burn_in_epochs=1", "schedule.max_epochs=3", RECORD]


def test_spv_history_survives_a_resume_and_the_weighted_epoch_is_the_same(tmp_path):
    reference = run_training(SPV, tmp_path / "reference")
    first = tmp_path / "first"
    run_training(SPV + stop_after(2), first)
    saved = checkpoint_state(first, "SpvSampling")
    assert saved["weighting"] and int(saved["store"]["count"].sum()) == 2 * STEPS * BATCH
    resumed_dir = tmp_path / "resumed"
    resumed = run_training(SPV + [f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}"], resumed_dir)
    final = load_record(resumed_dir)["state"]["store"]
    assert int(final["count"].sum()) == 3 * STEPS * BATCH  # the history went on from the checkpoint
    # epoch 2 is drawn from the weights refreshed at the end of epoch 1, restored from the checkpoint
    assert torch.equal(torch.cat(load_record(resumed_dir)["batches"][2]),
                       torch.cat(load_record(tmp_path / "reference")["batches"][2]))
    assert reference["sampler_settings"]["weight_refreshes"] == resumed["sampler_settings"]["weight_refreshes"] == 3
    # the sampling diagnostics of both weighted epochs are in TensorBoard
    scalars = tensorboard_scalars(tmp_path / "reference")
    assert [step for step, _ in scalars["sampling/effective_sample_fraction"]] == [STEPS, 2 * STEPS]
    uniform_epoch = torch.cat(load_record(tmp_path / "reference")["batches"][0])
    assert len(uniform_epoch.unique()) == len(uniform_epoch)  # the burn-in epoch is without replacement
