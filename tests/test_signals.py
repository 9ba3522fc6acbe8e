"""SIGTERM and SIGINT mid-epoch: a mid-epoch ``last.ckpt``, exit 143 / 130, and a resume that
finishes exactly as the uninterrupted run (weights and test accuracy, bit for bit on the CPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import REPO, TESTS_DIR, TINY, run_training

# digits: 44 steps of 32 per epoch; the switch after epoch 1; the signal comes during epoch 2.
STEPS = 44
SETTINGS = ["sampler=importance", "sampler.burn_in_epochs=1", "schedule.max_epochs=3"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("signals") / "reference"
    return folder, run_training(SETTINGS, folder)


def weights_of(folder):
    return torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)[
        "state_dict"
    ]


def start_training(folder, data_dir, ready_step: int, extra: list[str]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = str(TESTS_DIR)
    command = [
        sys.executable,
        "-m",
        "sample_importance.train",
        *TINY,
        *SETTINGS,
        *extra,
        "+callbacks.slow._target_=draw_recorder.SlowAfterStep",
        f"+callbacks.slow.step={ready_step}",
        f"hydra.run.dir={folder}",
        f"paths.data_dir={data_dir}",
    ]
    # a session of its own: a signal to its process group reaches the run and its loader workers only
    return subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_for(path, process, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            pytest.fail(f"the run ended before training started:\n{process.stdout.read()[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the run never reached the step")
        time.sleep(0.05)


CASES = {
    "SIGTERM": (signal.SIGTERM, 143, []),
    "SIGINT": (signal.SIGINT, 130, []),
    # as a scheduler or Ctrl-C sends it: to the whole process group, loader workers included
    "SIGTERM_to_the_group_with_workers": (signal.SIGTERM, 143, ["dataset.num_workers=2"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_signal_mid_epoch_saves_last_ckpt_exits_non_zero_and_resumes_exactly(tmp_path, reference, case):
    signum, exit_code, extra = CASES[case]
    reference_folder, reference_summary = reference
    folder = tmp_path / "run"
    process = start_training(folder, tmp_path / "data", STEPS + 10, extra)
    wait_for(folder / "training_at_step", process)
    if extra:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    output, _ = process.communicate(timeout=240)
    assert process.returncode == exit_code, output[-3000:]
    assert not (folder / "summary.json").exists()

    saved = torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert STEPS + 10 < saved["global_step"] < 2 * STEPS, "the checkpoint is not from the middle of epoch 2"

    # the same command in the same folder continues from last.ckpt and ends as if never stopped
    summary = run_training(SETTINGS, folder)
    assert summary["total_steps"] == 3 * STEPS
    assert summary["final_test_acc"] == reference_summary["final_test_acc"]
    assert summary["test_acc_history"] == reference_summary["test_acc_history"]
    resumed, uninterrupted = weights_of(folder), weights_of(reference_folder)
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[name], uninterrupted[name]) for name in resumed)
