"""A real single-node SLURM cluster: a 2-job sweep through the launcher, and a requeued job."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, TESTS_DIR
from slurm_cluster import ensure_packages, find, slurm_cluster

pytestmark = pytest.mark.slow

LAUNCHER = [
    "hydra/launcher=slurm",
    "hydra.launcher.gpus_per_node=null",
    "hydra.launcher.cpus_per_task=2",
    "hydra.launcher.mem_gb=4",
]
TINY = [
    "dataset=digits",
    "schedule.batch_size=32",
    "trainer.enable_progress_bar=false",
    "trainer.accelerator=cpu",
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = ensure_packages()
    if reason:
        pytest.skip(reason)
    with slurm_cluster(tmp_path_factory.mktemp("slurm")) as env:
        env["PYTHONPATH"] = str(TESTS_DIR)
        yield env


def sweep(env, log_dir, *overrides, timeout=600):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "sample_importance.train",
            "-m",
            *LAUNCHER,
            *TINY,
            *overrides,
            f"paths.log_dir={log_dir}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_two_job_sweep_runs_on_the_cluster(cluster, tmp_path):
    result = sweep(
        cluster, tmp_path, "schedule.max_epochs=2", "sampler.burn_in_epochs=1", "sampler.gamma=0.5,1"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = sorted(tmp_path.glob("multiruns/*/*/*/summary.json"))
    assert len(summaries) == 2
    assert {json.loads(p.read_text())["sampler_settings"]["gamma"] for p in summaries} == {0.5, 1.0}
    assert len(list(tmp_path.glob("multiruns/*/*/.submitit/*/*_log.out"))) == 2  # two SLURM tasks ran them


def test_job_past_its_time_limit_is_requeued_and_resumes_without_rescoring(cluster, tmp_path):
    # A 2-minute limit with the signal 30 s before it: SLURM signals 60-90 s into each attempt. Each
    # epoch is slowed to about 1 s, so 90 epochs need two attempts.
    epochs = 90
    result = sweep(
        cluster,
        tmp_path,
        "hydra.launcher.timeout_min=2",
        "hydra.launcher.signal_delay_s=30",
        "hydra.launcher.max_num_timeout=4",
        f"schedule.max_epochs={epochs}",
        "sampler.burn_in_epochs=2",
        "+callbacks.slow._target_=draw_recorder.SlowEpochs",
        "+callbacks.slow.seconds=1.0",
        timeout=900,
    )
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


def test_two_task_ddp_job_shares_one_folder_scores_like_one_process_and_resumes_after_requeue(
    cluster, tmp_path
):
    # One sweep job of 2 tasks on the CPU (gloo): Lightning takes rank and world size from SLURM.
    # Once the sampler has switched, the job gets SLURM's preemption signal (scancel --signal, the
    # signal --signal=USR2@... sends before a time limit, without waiting two minutes for one):
    # both ranks save last.ckpt, submitit requeues the job, and the new attempt resumes from it.
    import signal as signals
    import time

    import torch

    epochs = 12
    command = [
        sys.executable,
        "-m",
        "sample_importance.train",
        "-m",
        "hydra/launcher=slurm",
        "trainer=ddp_cpu",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=4",
        *TINY,
        f"schedule.max_epochs={epochs}",
        "sampler.burn_in_epochs=1",
        "+callbacks.slow._target_=draw_recorder.SlowEpochs",
        "+callbacks.slow.seconds=1.0",
        f"paths.log_dir={tmp_path}",
    ]
    env = dict(cluster, OMP_NUM_THREADS="1")
    with subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as sweep_process:
        try:
            deadline = time.time() + 600
            while not list(tmp_path.glob("multiruns/*/*/0/sample_weights.pt")):
                assert sweep_process.poll() is None and time.time() < deadline, sweep_process.communicate()[
                    1
                ][-3000:]
                time.sleep(0.5)
            (job_folder,) = tmp_path.glob("multiruns/*/*/.submitit/[0-9]*")
            subprocess.run(
                [find("scancel"), f"--signal={signals.SIGUSR2.name[3:]}", job_folder.name],
                env=env,
                check=True,
            )
            _, stderr = sweep_process.communicate(timeout=600)
        finally:
            if sweep_process.poll() is None:
                sweep_process.kill()
    assert sweep_process.returncode == 0, stderr[-3000:]

    run_folders = [p.parent for p in tmp_path.rglob(".hydra")]
    (run_dir,) = run_folders  # rank 1 joined rank 0's folder instead of starting a second one
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["total_steps"] == epochs * summary["steps_per_epoch"]
    # both ranks write to the run's train.log (each logs its own switch and checkpoint)
    first_attempt, requeued, second_attempt = (run_dir / "train.log").read_text().partition("Requeued job")
    assert requeued, "the job was never requeued: nothing was tested"
    assert first_attempt.count("preemption signal: saved") == 2
    assert first_attempt.count("sampler switched") == 2
    assert "Restored all states from the checkpoint" in second_attempt
    assert "sampler switched" not in second_attempt, "the resumed job scored the training set again"
    outputs = {p.name: p.read_text() for p in run_dir.parent.glob(".submitit/*/*_log.out")}
    assert any(name.endswith("_0_log.out") and "resuming from" in text for name, text in outputs.items())
    assert any(name.endswith("_1_log.out") for name in outputs), "no second task ran"

    # The weights the two ranks computed at the switch, each scoring its shard, equal one process scoring all.
    checkpoint = run_dir / "checkpoints" / "burn_in_end_epoch1.ckpt"
    scored = subprocess.run(
        [
            sys.executable,
            "-m",
            "sample_importance.score",
            f"ckpt_path={checkpoint}",
            *TINY,
            f"paths.log_dir={tmp_path / 'score'}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert scored.returncode == 0, scored.stderr[-3000:]
    (single,) = tmp_path.glob("score/scores/*/*/sample_weights.pt")
    ddp = torch.load(run_dir / "sample_weights.pt", weights_only=True)
    one_process = torch.load(single, weights_only=True)
    assert torch.equal(ddp["index"], one_process["index"])
    torch.testing.assert_close(ddp["weight"], one_process["weight"], rtol=1e-6, atol=0)
