"""A real single-node SLURM cluster: a 2-job sweep through the launcher, and a requeued job."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, TESTS_DIR
from slurm_cluster import ensure_packages, slurm_cluster

pytestmark = pytest.mark.slow

LAUNCHER = ["hydra/launcher=slurm", "hydra.launcher.gpus_per_node=null", "hydra.launcher.cpus_per_task=2",
            "hydra.launcher.mem_gb=4"]
TINY = ["dataset=digits", "schedule.batch_size=32", "trainer.enable_progress_bar=false", "trainer.accelerator=cpu"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = ensure_packages()
    if reason:
        pytest.skip(reason)
    with slurm_cluster(tmp_path_factory.mktemp("slurm")) as env:
        env["PYTHONPATH"] = str(TESTS_DIR)
        yield env


def sweep(env, log_dir, *overrides, timeout=600):
    return subprocess.run([sys.executable, "-m", "sample_importance.train", "-m", *LAUNCHER, *TINY, *overrides,
                           f"paths.log_dir={log_dir}"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_two_job_sweep_runs_on_the_cluster(cluster, tmp_path):
    result = sweep(cluster, tmp_path, "schedule.max_epochs=2", "sampler.burn_in_epochs=1", "sampler.gamma=0.5,1")
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = sorted(tmp_path.glob("multiruns/*/*/*/summary.json"))
    assert len(summaries) == 2
    assert {json.loads(p.read_text())["sampler_settings"]["gamma"] for p in summaries} == {0.5, 1.0}
    assert len(list(tmp_path.glob("multiruns/*/*/.submitit/*/*_log.out"))) == 2  # two SLURM tasks ran them


def test_job_past_its_time_limit_is_requeued_and_resumes_without_rescoring(cluster, tmp_path):
    # A 2-minute limit with the signal 30 s before it: SLURM signals 60-90 s into each attempt. Each
    # epoch is slowed to about 1 s, so 90 epochs need two attempts.
    epochs = 90
    result = sweep(cluster, tmp_path, "hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=30",
                   "hydra.launcher.max_num_timeout=4", f"schedule.max_epochs={epochs}", "sampler.burn_in_epochs=2",
                   "+callbacks.slow._target_=draw_recorder.SlowEpochs", "+callbacks.slow.seconds=1.0", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = [p.parent for p in tmp_path.glob("multiruns/*/*/0/summary.json")]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["total_steps"] == epochs * summary["steps_per_epoch"]
    log = (run_dir / "train.log").read_text()
    assert log.count("preemption signal: saved") >= 1, "the job was never signalled: nothing was tested"
    assert log.count("sampler switched") == 1, "the training set was scored more than once"
    assert summary["sampler_settings"]["switched_after_epoch"] == 2
    outputs = "".join(p.read_text() for p in run_dir.parent.glob(".submitit/*/*_log.out"))
    assert "resuming from" in outputs and "Requeued job" in outputs

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    steps = [e.step for e in events.Scalars("test/acc")]
    assert steps == [summary["steps_per_epoch"] * (e + 1) for e in range(epochs)]
