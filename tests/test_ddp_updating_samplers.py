"""Two DDP ranks on gloo with samplers that update during training: one global sequence, one state."""

from __future__ import annotations

import pytest
import torch

from conftest import run_two_cpu_ranks
from sampler_recorder import RECORD, load_record

PER_RANK_BATCH = 16
FULL_STEPS = (-(-1438 // 2)) // PER_RANK_BATCH  # ceil(N / world) samples per rank, drop_last


def run_two_ranks(tmp_path, overrides: list[str]):
    run_dir = tmp_path / "run"
    overrides = [f"schedule.batch_size={2 * PER_RANK_BATCH}", "schedule.lr=0.1", RECORD, *overrides]
    summary = run_two_cpu_ranks(run_dir, tmp_path / "data", overrides)
    return run_dir, summary, [load_record(run_dir, rank) for rank in (0, 1)]


# About 27 s on 2 idle cores (70 s on busy ones): the fast suite's one DDP check of a per-batch sampler.
@pytest.mark.slow  # a subprocess run or more: keeps make test under 10 minutes
def test_online_importance_under_two_ranks_draws_one_global_sequence_from_one_state(tmp_path):
    run_dir, summary, records = run_two_ranks(
        tmp_path, ["schedule.max_epochs=2", "sampler=importance_online", "sampler.burn_in_epochs=1"]
    )
    assert summary["total_steps"] == 2 * FULL_STEPS

    # every rank drew the same global chunks, each at the same point of the weight updates
    chunks = [record["chunks"] for record in records]
    assert chunks[0].keys() == chunks[1].keys()
    for key, (chunk, refreshes) in chunks[0].items():
        assert torch.equal(chunk, chunks[1][key][0]) and refreshes == chunks[1][key][1], key
    # in the online epoch one global chunk is one global batch; each rank trained on its half
    refreshes_seen = []
    for k in range(FULL_STEPS):
        chunk, refreshes = chunks[0][(1, k)]
        refreshes_seen.append(refreshes)
        assert len(chunk) == 2 * PER_RANK_BATCH
        for rank in (0, 1):
            assert torch.equal(records[rank]["batches"][1][k], chunk[rank::2]), (rank, k)
    assert refreshes_seen == list(range(1, FULL_STEPS + 1))  # the weights changed between batches

    # after every batch the gathered per-sample p_true (so the weights) is the same on both ranks
    states = [record["state"] for record in records]
    assert torch.equal(states[0]["store"]["value"], states[1]["store"]["value"])
    assert states[0]["refreshes"] == states[1]["refreshes"] == FULL_STEPS + 1
    assert bool(states[0]["store"]["seen"].all())


@pytest.mark.slow  # 25-70 s on 2 shared cores
def test_infobatch_under_two_ranks_prunes_the_same_samples_and_shortens_every_rank_alike(tmp_path):
    run_dir, summary, records = run_two_ranks(
        tmp_path, ["schedule.max_epochs=3", "sampler=infobatch", "sampler.pruning_epochs_fraction=1.0"]
    )
    settings = summary["sampler_settings"]
    steps = [len(records[0]["batches"][epoch]) for epoch in range(3)]
    assert (
        steps == [len(records[1]["batches"][epoch]) for epoch in range(3)] == settings["steps_per_epoch_run"]
    )
    assert steps[0] == FULL_STEPS and steps[1] < FULL_STEPS and steps[2] < FULL_STEPS
    assert summary["total_steps"] == sum(steps) and settings["saved_iterations"] == 3 * FULL_STEPS - sum(
        steps
    )
    for epoch in (1, 2):
        # the ranks split one permutation of the kept samples (padded to an even length, as
        # DistributedSampler does): no sample twice, none on both ranks
        kept = settings["samples_per_epoch"][epoch]
        global_sequence = torch.cat(
            [chunk for (e, _), (chunk, _) in sorted(records[0]["chunks"].items()) if e == epoch]
        )
        assert len(global_sequence) == 2 * -(-kept // 2) and len(global_sequence[:kept].unique()) == kept
        for rank in (0, 1):
            expected = global_sequence[rank::2][: steps[epoch] * PER_RANK_BATCH]
            assert torch.equal(torch.cat(records[rank]["batches"][epoch]), expected)
    # the gathered losses, so the pruning decisions, are the same on both ranks
    states = [record["state"] for record in records]
    assert torch.equal(states[0]["losses"]["value"], states[1]["losses"]["value"])
    assert torch.equal(states[0]["losses"]["seen"], states[1]["losses"]["seen"])
