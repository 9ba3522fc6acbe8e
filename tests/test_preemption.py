"""A run killed with SIGKILL mid-epoch after the switch resumes as if nothing had happened."""

from __future__ import annotations

import json

import torch

from conftest import RECORD_DRAWS, REPO, TINY, run_cli, run_training
from draw_recorder import load_draws

# digits: 44 steps of 32 per epoch. Checkpoints every 10 steps; the kill comes 5 steps after the
# one at step 60 (mid-epoch 1, after the switch), so steps 61-65 are logged twice unless purged.
STEPS, BATCH, CHECKPOINT_STEP, KILL_STEP = 44, 32, 60, 65
SETTINGS = [
    "sampler=importance",
    "sampler.burn_in_epochs=1",
    "schedule.max_epochs=3",
    "trainer.log_every_n_steps=1",
    "callbacks.preemption_checkpoint.every_n_train_steps=10",
    RECORD_DRAWS,
]


def scalar_steps(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [event.step for event in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def train_until_killed(settings: list[str], folder, step: int, data_dir) -> None:
    """Run the CLI into ``folder`` and SIGKILL it right after optimizer step ``step``."""
    killed = run_cli(
        [
            "-m",
            "sample_importance.train",
            *TINY,
            *settings,
            "+callbacks.kill._target_=draw_recorder.KillAtStep",
            f"+callbacks.kill.step={step}",
            f"hydra.run.dir={folder}",
            f"paths.data_dir={data_dir}",
        ],
        cwd=REPO,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert not (folder / "summary.json").exists()


def test_sigkill_mid_epoch_then_resume_matches_the_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    run_training(SETTINGS, reference)

    interrupted = tmp_path / "interrupted"
    train_until_killed(SETTINGS, interrupted, KILL_STEP, tmp_path / "data")
    weights_file = interrupted / "sample_weights.pt"
    scored_at = weights_file.stat().st_mtime_ns

    # the same command in the same folder continues from checkpoints/last.ckpt (step 60)
    assert (
        torch.load(interrupted / "checkpoints" / "last.ckpt", weights_only=False)["global_step"]
        == CHECKPOINT_STEP
    )
    summary = run_training(SETTINGS, interrupted)
    assert weights_file.stat().st_mtime_ns == scored_at, "the training set was scored a second time"
    assert summary["total_steps"] == 3 * STEPS and summary["sampler_settings"]["switched_after_epoch"] == 1

    original, resumed = load_draws(reference), load_draws(interrupted)
    done_in_epoch = CHECKPOINT_STEP - STEPS
    assert torch.equal(resumed[1], original[1][done_in_epoch * BATCH :]), "the interrupted epoch was replayed"
    assert torch.equal(resumed[2], original[2])

    # the sampler weights after the resume are the ones scored before the kill (and the reference's)
    final = torch.load(interrupted / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    kept = final["ImageDataModule"]["sampler"]["weights"]
    scored = torch.load(weights_file, weights_only=True)["weight"]
    assert torch.equal(kept, scored)
    torch.testing.assert_close(
        scored, torch.load(reference / "sample_weights.pt", weights_only=True)["weight"]
    )

    # TensorBoard shows every step once: each tag has exactly the steps of the uninterrupted run
    # (Lightning itself logs its `epoch` scalar twice at an epoch's last step, in both runs)
    seen, expected = scalar_steps(interrupted), scalar_steps(reference)
    assert seen.keys() == expected.keys()
    for tag in expected:
        assert sorted(seen[tag]) == sorted(expected[tag]), tag
    assert seen["test/acc"] == [STEPS, 2 * STEPS, 3 * STEPS]
    assert json.loads((interrupted / "summary.json").read_text())["test_acc_history"][0][0] == STEPS


def test_resume_at_the_switch_step_keeps_the_switch_in_tensorboard(tmp_path):
    """Killed one step after the epoch-E checkpoint: the resumed log still has the switch's records once."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    settings = ["sampler=importance", "sampler.burn_in_epochs=1", "schedule.max_epochs=2"]
    folder = tmp_path / "run"
    train_until_killed(settings, folder, STEPS + 1, tmp_path / "data")
    run_training(settings, folder)
    events = EventAccumulator(str(folder / "tensorboard"), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    assert [e.step for e in events.Histograms("importance/weight")] == [STEPS]
    assert [e.step for e in events.Scalars("test/acc")] == [STEPS, 2 * STEPS]
    shares = [t for t in events.Tags()["scalars"] if t.startswith("importance/class_share/")]
    assert len(shares) == 10 and all([e.step for e in events.Scalars(t)] == [STEPS] for t in shares)


def test_a_resumed_runs_event_file_sorts_after_the_interrupted_runs(tmp_path):
    """TensorBoard reads event files in name order and names start with the second they were made:
    a resume within the interrupted run's second waits, so its purge comes after the old events."""
    import time

    from sample_importance.run_record import wait_past_event_files

    now = int(time.time())
    (tmp_path / "tensorboard").mkdir()
    (tmp_path / "tensorboard" / f"events.out.tfevents.{now}.host.99999.0").write_bytes(b"")
    wait_past_event_files(tmp_path)
    assert int(time.time()) > now
