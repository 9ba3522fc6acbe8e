"""Two real DDP processes on gloo: the same weights as one process, one global draw split by rank."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import RECORD_DRAWS, REPO, run_cli, run_two_cpu_ranks
from draw_recorder import load_draws
from independent import digits_p_true_from_checkpoint
from sample_importance.sampler.index_sampler import IndexSampler


@pytest.mark.slow  # a subprocess run or more: keeps make test under 10 minutes
def test_two_rank_ddp_scores_like_one_process_and_splits_one_global_sequence(tmp_path):
    run_dir = tmp_path / "run"
    overrides = ["schedule.batch_size=32", "schedule.lr=0.1", "schedule.max_epochs=2"]
    overrides += ["sampler.burn_in_epochs=1", "sampler.gamma=0.5", RECORD_DRAWS]
    summary = run_two_cpu_ranks(run_dir, tmp_path / "data", overrides)
    per_rank_batch = 16
    steps = (-(-1438 // 2)) // per_rank_batch  # ceil(N / world) samples per rank, drop_last
    assert summary["steps_per_epoch"] == steps and summary["total_steps"] == 2 * steps

    # the gathered weight vector equals a one-process recomputation from the same checkpoint
    record = torch.load(run_dir / "sample_weights.pt", weights_only=True)
    p_true, labels = digits_p_true_from_checkpoint(run_dir / "checkpoints" / "burn_in_end_epoch1.ckpt")
    assert torch.equal(record["label"], labels)
    torch.testing.assert_close(record["p_true"], p_true, atol=1e-5, rtol=0)
    torch.testing.assert_close(record["weight"], (1 - p_true).pow(0.5), atol=1e-4, rtol=0)

    # each rank drew its slice [rank::2] of the one global sequence, before and after the switch
    uniform = IndexSampler(len(labels), seed=0)
    weighted = IndexSampler(len(labels), seed=0)
    weighted.set_weights(record["weight"])
    draws = [load_draws(run_dir, rank) for rank in (0, 1)]
    for epoch, sampler in ((0, uniform), (1, weighted)):
        global_sequence = sampler.global_sequence(epoch)
        if len(global_sequence) % 2:
            global_sequence = torch.cat([global_sequence, global_sequence[:1]])
        for rank in (0, 1):
            expected = global_sequence[rank::2][: steps * per_rank_batch]
            assert torch.equal(draws[rank][epoch], expected), f"rank {rank} epoch {epoch}"
    both = torch.cat([draws[0][0], draws[1][0]])
    assert len(both.unique()) == len(both)  # before the switch the ranks never share a sample
    # one run folder for both ranks, no second sweep or run directory
    assert [p.name for p in tmp_path.iterdir() if p.name != "data"] == ["run"]


@pytest.mark.slow
def test_multirun_with_ddp_makes_one_folder_per_job(tmp_path):
    """Lightning's extra ranks join their job: no second sweep folder, every job finishes."""
    result = run_cli(
        [
            "-m",
            "sample_importance.train",
            "-m",
            "trainer=ddp_cpu",
            "dataset=digits",
            "schedule.max_epochs=2",
            "sampler.burn_in_epochs=1",
            "sampler.gamma=0.5,1",
            "trainer.enable_progress_bar=false",
            f"paths.log_dir={tmp_path}",
            f"paths.data_dir={tmp_path / 'data'}",
        ],
        cwd=REPO,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    sweeps = list(tmp_path.glob("multiruns/*/*"))
    assert len(sweeps) == 1, sweeps
    jobs = sorted(p for p in sweeps[0].iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0", "1"]
    for job in jobs:
        summary = json.loads((job / "summary.json").read_text())
        assert summary["world_size"] == 2
        assert (job / "train_ddp_process_1.log").is_file()  # rank 1 wrote into this job's folder
    assert not (tmp_path / "runs").exists()
