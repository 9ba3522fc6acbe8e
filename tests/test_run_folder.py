"""A run folder holds one run: a second process is refused, a resume keeps the settings, a
finished run stays as it is, and a refused start changes no file of the folder."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
import torch

from conftest import FEW_BATCHES, REPO, TESTS_DIR, TINY, run_cli, run_training
from sample_importance import run_folder
from sample_importance.errors import UserError

STEPS = 44  # digits, batch 32: steps per epoch
BASE = ["sampler=importance", "sampler.burn_in_epochs=1", "sampler.gamma=0.5"]


def train_cli(folder, data_dir, *overrides):
    return [
        "-m",
        "sample_importance.train",
        *TINY,
        *BASE,
        f"hydra.run.dir={folder}",
        f"paths.data_dir={data_dir}",
        *overrides,
    ]


def snapshot(folder) -> dict:
    """Every file under ``folder``: its bytes' digest and its modification time (ns)."""
    return {
        str(path.relative_to(folder)): (
            hashlib.sha256(path.read_bytes()).hexdigest(),
            path.stat().st_mtime_ns,
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def one_line_error(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr[
        -3000:
    ]
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished 2-epoch run written by the command line (with its .hydra/ and train.log)."""
    root = tmp_path_factory.mktemp("finished")
    result = run_cli(train_cli(root / "run", root / "data", "schedule.max_epochs=2"), cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "run", root / "data"


@pytest.fixture
def run_copy(finished_run, tmp_path):
    """A private copy of the finished run (file times kept)."""
    folder, data_dir = finished_run
    shutil.copytree(folder, tmp_path / "run")
    return tmp_path / "run", data_dir


@contextmanager
def paused_at_step(args: list[str], step: int, signal_dir):
    """``python ARGS`` started with a callback that holds it after optimizer step ``step`` while the
    ``with`` block runs (yields the process); then let go, and checked to end with exit 0."""
    signal_dir.mkdir()
    pause = ["+callbacks.pause._target_=pause_at_step.PauseAtStep", f"+callbacks.pause.step={step}"]
    process = subprocess.Popen(
        [sys.executable, *args, *pause, f"+callbacks.pause.signal_dir={signal_dir}"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(TESTS_DIR)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not (signal_dir / "paused").exists():
            assert process.poll() is None and time.monotonic() < deadline, f"it never reached step {step}"
            time.sleep(0.1)
        yield process
    finally:
        (signal_dir / "go").touch()
        _, stderr = process.communicate(timeout=240)
    assert process.returncode == 0, stderr[-3000:]


def test_a_second_process_in_a_busy_folder_is_refused_and_the_first_run_stays_whole(tmp_path):
    folder = tmp_path / "run"
    first_run = train_cli(folder, tmp_path / "data", "schedule.max_epochs=2")
    with paused_at_step(first_run, 5, tmp_path / "signals") as first:
        hydra_files = snapshot(folder / ".hydra")
        names = sorted(snapshot(folder))
        second = run_cli(train_cli(folder, tmp_path / "data", "schedule.max_epochs=2", "seed=7"), cwd=REPO)
        line = one_line_error(second)
        assert f"pid {first.pid} on host {socket.gethostname()}" in line and "in use" in line
        assert snapshot(folder / ".hydra") == hydra_files and sorted(snapshot(folder)) == names
    summary = json.loads((folder / "summary.json").read_text())
    assert (
        summary["seed"] == 0 and summary["total_steps"] == 2 * STEPS and len(summary["test_acc_history"]) == 2
    )
    assert "seed=7" not in (folder / ".hydra" / "overrides.yaml").read_text()
    assert not (folder / run_folder.LOCK_FILE).exists()


def test_a_second_el2n_process_in_a_busy_folder_is_refused_and_the_first_writes_its_scores(tmp_path):
    """The EL2N app trains k models into its folder (resuming each from its own last.ckpt): a second
    process there would train into the same model folders, so it is refused as a training run is."""
    folder = tmp_path / "el2n"

    def el2n_cli(*overrides):
        settings = ["el2n.models=1", "el2n.epochs=1", FEW_BATCHES, f"hydra.run.dir={folder}"]
        return ["-m", "sample_importance.el2n", *TINY, *settings, *overrides]

    with paused_at_step(el2n_cli(), 2, tmp_path / "signals") as first:
        hydra_files = snapshot(folder / ".hydra")  # the first process's config, written under its lock
        names = sorted(snapshot(folder))
        line = one_line_error(run_cli(el2n_cli("seed=7"), cwd=REPO))
        assert f"pid {first.pid} on host {socket.gethostname()}" in line and "in use" in line
        assert snapshot(folder / ".hydra") == hydra_files and sorted(snapshot(folder)) == names
    record = torch.load(folder / "el2n_scores.pt", weights_only=True)
    assert record["seeds"] == [0] and record["extra_iterations"] == 5
    assert "el2n.models=1" in (folder / ".hydra" / "overrides.yaml").read_text()
    assert "seed=7" not in (folder / ".hydra" / "overrides.yaml").read_text()
    assert not (folder / run_folder.LOCK_FILE).exists()


def test_a_lock_left_by_an_ended_process_is_taken_over_with_a_warning(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(ended.stdout)
    (folder / run_folder.LOCK_FILE).write_text(
        json.dumps(
            {
                "host": socket.gethostname(),
                "pid": pid,
                "start_ticks": None,
                "launch": None,
                "started": "earlier",
            }
        )
    )
    result = run_cli(
        train_cli(folder, tmp_path / "data", "schedule.max_epochs=1", "sampler.burn_in_epochs=0"), cwd=REPO
    )
    assert result.returncode == 0, result.stderr[-3000:]
    warnings = [line for line in result.stderr.splitlines() if "taking over" in line]
    assert len(warnings) == 1 and f"pid {pid} on host {socket.gethostname()}" in warnings[0]
    assert (folder / "summary.json").is_file() and not (folder / run_folder.LOCK_FILE).exists()


def outside_any_launcher(monkeypatch) -> None:
    """No SLURM job or DDP rank in the environment: the lock judges by host and process alone."""
    for variable in (
        "SLURM_JOB_ID",
        "SLURM_PROCID",
        "RANK",
        "LOCAL_RANK",
        "NODE_RANK",
        "TORCHELASTIC_RUN_ID",
    ):
        monkeypatch.delenv(variable, raising=False)


def test_a_lock_from_another_host_is_refused_unless_it_is_the_same_slurm_job(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    folder.mkdir()
    lock = folder / run_folder.LOCK_FILE
    lock.write_text(
        json.dumps(
            {
                "host": "node-b",
                "pid": 4242,
                "start_ticks": None,
                "launch": "SLURM job 77",
                "started": "earlier",
            }
        )
    )
    before = snapshot(folder)
    outside_any_launcher(monkeypatch)
    verdict, message = run_folder.peek(folder)
    assert (
        verdict == run_folder.REFUSE and "pid 4242 on host node-b" in message and f"delete {lock}" in message
    )
    with pytest.raises(UserError, match="pid 4242 on host node-b"):
        run_folder.RunLock(folder).acquire()
    assert snapshot(folder) == before
    monkeypatch.setenv("SLURM_JOB_ID", "77")  # the requeued job: its earlier process ran on node-b
    held = run_folder.RunLock(folder)
    held.acquire()
    assert json.loads(lock.read_text())["pid"] == os.getpid()
    held.release()
    assert not lock.exists()


def test_judging_a_lock_without_file_locks_goes_by_the_process_id(tmp_path, monkeypatch):
    """On a file system without flock the holder's pid (and start time) on this host decide."""
    outside_any_launcher(monkeypatch)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = run_folder.Holder(
            socket.gethostname(), sleeper.pid, run_folder.process_start_ticks(sleeper.pid), None, "now"
        )
        assert run_folder.judge(live, None, tmp_path)[0] == run_folder.REFUSE
        reused = run_folder.Holder(live.host, live.pid, (live.start_ticks or 0) + 1, None, "long ago")
        assert (
            run_folder.judge(reused, None, tmp_path)[0] == run_folder.TAKE_OVER
        )  # the pid now names another process
    finally:
        sleeper.kill()
        sleeper.wait()
    assert run_folder.judge(live, None, tmp_path)[0] == run_folder.TAKE_OVER
    # a DDP rank started by the holder (Lightning's launcher) or in the same SLURM job joins the run
    monkeypatch.setenv("LOCAL_RANK", "1")
    parent = run_folder.Holder(socket.gethostname(), os.getppid(), None, None, "now")
    assert run_folder.judge(parent, True, tmp_path)[0] == run_folder.OURS


def test_resume_with_other_settings_is_refused_then_allowed_and_recorded(run_copy):
    folder, data_dir = run_copy
    before = snapshot(folder)
    changed = ["schedule.max_epochs=3", "sampler.gamma=1", "seed=3"]
    line = one_line_error(run_cli(train_cli(folder, data_dir, *changed), cwd=REPO))
    assert "sampler.gamma 0.5 -> 1" in line and "seed 0 -> 3" in line and "max_epochs" not in line
    assert "resume_allow_changes=true" in line
    assert snapshot(folder) == before  # .hydra/, train.log, checkpoints and events untouched

    result = run_cli(train_cli(folder, data_dir, *changed, "resume_allow_changes=true"), cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["total_steps"] == 3 * STEPS and summary["seed"] == 3
    [record] = summary["settings_changed_on_resume"]
    assert record["step"] == 2 * STEPS and record["checkpoint"].endswith("last.ckpt")
    assert record["changes"] == {"sampler.gamma": [0.5, 1], "seed": [0, 3], "schedule.max_epochs": [2, 3]}
    assert "seed=3" in (folder / ".hydra" / "overrides.yaml").read_text()


def test_a_larger_max_epochs_continues_a_finished_run(run_copy):
    folder, data_dir = run_copy
    first = json.loads((folder / "summary.json").read_text())
    result = run_cli(train_cli(folder, data_dir, "schedule.max_epochs=3"), cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["total_steps"] == 3 * STEPS
    assert (
        summary["test_acc_history"][:2] == first["test_acc_history"] and len(summary["test_acc_history"]) == 3
    )
    assert summary["settings_changed_on_resume"][0]["changes"] == {"schedule.max_epochs": [2, 3]}
    # shorter than the checkpoint is a change like any other
    line = one_line_error(run_cli(train_cli(folder, data_dir, "schedule.max_epochs=2"), cwd=REPO))
    assert "schedule.max_epochs 3 -> 2" in line


def test_rerunning_a_finished_folder_reports_it_and_changes_nothing(run_copy):
    folder, data_dir = run_copy
    before = snapshot(folder)
    assert any(name.startswith("tensorboard/") for name in before) and ".hydra/config.yaml" in before
    result = run_cli(train_cli(folder, data_dir, "schedule.max_epochs=2"), cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((folder / "summary.json").read_text())
    assert "finished" in result.stdout and f"{summary['best_test_acc']:.4f}" in result.stdout
    assert snapshot(folder) == before


@pytest.mark.parametrize("damage", ["truncated last.ckpt", "fresh start", "checkpoint of another run"])
def test_a_refused_start_changes_no_file_of_the_folder(damage, run_copy, tmp_path):
    folder, data_dir = run_copy
    extra = ["schedule.max_epochs=2"]
    if damage == "truncated last.ckpt":
        last = folder / "checkpoints" / "last.ckpt"
        last.write_bytes(last.read_bytes()[:1000])
        expected = "not a readable torch file"
    elif damage == "fresh start":
        extra.append("auto_resume=false")
        expected = "already holds a run"
    else:
        other = tmp_path / "other.ckpt"
        shutil.copy(folder / "checkpoints" / "epoch001.ckpt", other)
        extra.append(f"ckpt_path={other}")
        expected = "already holds a run"
    (folder / "train.log").unlink()  # also no log file may appear
    before = snapshot(folder)
    assert expected in one_line_error(run_cli(train_cli(folder, data_dir, *extra), cwd=REPO))
    assert snapshot(folder) == before


def test_a_checkpoint_without_settings_still_resumes(finished_run, tmp_path, capfd):
    folder, _ = finished_run
    old = tmp_path / "old.ckpt"
    checkpoint = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    del checkpoint[run_folder.SETTINGS_KEY]
    torch.save(checkpoint, old)
    summary = run_training(
        [*BASE, "schedule.max_epochs=3", "seed=5", f"ckpt_path={old}"], tmp_path / "resumed"
    )
    assert summary["total_steps"] == 3 * STEPS and "settings_changed_on_resume" not in summary
    assert "written before checkpoints carried their run's settings" in capfd.readouterr().err
    resumed = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed[run_folder.SETTINGS_KEY]["settings"]["seed"] == 5


def test_a_run_configured_as_digits9_continues_under_dataset_exclude_classes(tmp_path):
    """Before ``dataset.exclude_classes``, ``dataset=digits9`` wrapped the source in WithoutClasses; its
    checkpoints resume under today's ``dataset=digits dataset.exclude_classes=["8"]`` as the same run."""
    from omegaconf import open_dict

    from conftest import FEW_BATCHES, compose_config
    from sample_importance.train import train

    folder = tmp_path / "run"
    first = ["sampler=uniform", FEW_BATCHES]
    cfg = compose_config([*TINY, *first, "schedule.max_epochs=1"], folder)
    with open_dict(cfg):  # what the deleted configs/dataset/digits9.yaml composed to
        del cfg.dataset["exclude_classes"], cfg.dataset["on_device"]
        cfg.dataset.source = {
            "_target_": "sample_importance.dataset.class_subset.WithoutClasses",
            "source": cfg.dataset.source,
            "exclude": ["8"],
        }
    folder.mkdir()
    assert train(cfg)["total_steps"] == 5
    summary = run_training([*first, 'dataset.exclude_classes=["8"]', "schedule.max_epochs=2"], folder)
    assert summary["total_steps"] == 10 and summary["excluded_classes"] == ["8"]
    [record] = summary["settings_changed_on_resume"]
    assert record["changes"] == {"schedule.max_epochs": [1, 2]}
    # a checkpoint from before the option existed has no such key: null is the same as absent
    assert run_folder.setting_changes({"seed": 0}, {"seed": 0, "dataset.exclude_classes": None}) == {}


@pytest.mark.slow
def test_ddp_ranks_share_one_folder_and_continue_it(tmp_path):
    folder, data_dir = tmp_path / "run", tmp_path / "data"
    for epochs in (1, 2):
        result = run_cli(
            train_cli(
                folder,
                data_dir,
                "trainer=ddp_cpu",
                f"schedule.max_epochs={epochs}",
                "sampler.burn_in_epochs=0",
            ),
            cwd=REPO,
        )
        assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["world_size"] == 2 and len(summary["test_acc_history"]) == 2
    assert summary["settings_changed_on_resume"][0]["changes"] == {"schedule.max_epochs": [1, 2]}
    assert not (folder / run_folder.LOCK_FILE).exists()


def test_the_lock_is_held_while_training_and_released_after_an_error(tmp_path, monkeypatch):
    from conftest import compose_config
    from sample_importance import train as train_app

    folder = tmp_path / "run"
    seen = []

    def failing_training(cfg, checkpoint_step=None):
        seen.append(json.loads((folder / run_folder.LOCK_FILE).read_text())["pid"])
        raise RuntimeError("the run fails")

    monkeypatch.setattr(train_app, "train_in_folder", failing_training)
    with pytest.raises(RuntimeError, match="the run fails"):
        train_app.train(compose_config([*TINY, *BASE, "schedule.max_epochs=2"], folder))
    assert seen == [os.getpid()] and not (folder / run_folder.LOCK_FILE).exists()


def test_a_resume_reads_its_checkpoint_once_before_lightning_does(tmp_path, monkeypatch, one_thread):
    """The start check reads the checkpoint (settings, step); the run takes its step from there
    instead of loading a possibly large file a second time."""
    from sample_importance import run_record, torch_files

    folder = tmp_path / "run"
    run_training(["sampler=uniform", "schedule.max_epochs=1"], folder)
    reads = []
    original = torch_files.read_torch_file

    def counting(path, name=None):
        reads.append(str(path))
        return original(path, name)

    monkeypatch.setattr(torch_files, "read_torch_file", counting)
    monkeypatch.setattr(run_record, "read_torch_file", counting)
    summary = run_training(["sampler=uniform", "schedule.max_epochs=2"], folder)
    assert summary["epochs"] == 2
    assert [p for p in reads if p.endswith("last.ckpt")] == [str(folder / "checkpoints" / "last.ckpt")]


def test_a_checkpoint_from_before_a_setting_existed_resumes_as_the_same_run(tmp_path):
    """A checkpoint written before ``dataset.prune_*`` existed lacks those keys; today they are null
    (no pruning), so resuming it is no settings change (it was refused as ``(unset) -> None``)."""
    folder = tmp_path / "run"
    first = ["sampler=uniform", FEW_BATCHES]
    run_training([*first, "schedule.max_epochs=1"], folder)
    last = folder / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    settings = checkpoint[run_folder.SETTINGS_KEY]["settings"]
    dropped = [key for key in settings if key.startswith("dataset.prune_")]
    assert len(dropped) == 4 and all(settings[key] is None for key in dropped)
    for key in dropped:  # what the older version wrote
        del settings[key]
    torch.save(checkpoint, last)
    summary = run_training([*first, "schedule.max_epochs=2"], folder)
    assert summary["total_steps"] == 10
    [record] = summary["settings_changed_on_resume"]
    assert record["changes"] == {"schedule.max_epochs": [1, 2]}
    # a key that was set (not null) and is gone is still a change
    assert run_folder.setting_changes({"dataset.prune_fraction": 0.3}, {}) == {
        "dataset.prune_fraction": [0.3, run_folder.MISSING]
    }
