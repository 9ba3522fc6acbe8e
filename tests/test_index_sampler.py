"""The sampler's draws: permutations before the switch, the weights' distribution after, rank slices."""

from __future__ import annotations

import pytest
import torch
from scipy.stats import chisquare

from sample_importance.errors import UserError
from sample_importance.sampler import index_sampler
from sample_importance.sampler.index_sampler import IndexSampler, WeightError, chunk_generator


def test_uniform_epoch_is_a_permutation_that_changes_with_epoch_and_seed():
    sampler = IndexSampler(1000, seed=3)
    sampler.set_epoch(0)
    first = list(sampler)
    assert sorted(first) == list(range(1000))
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first  # a pure function of (seed, epoch): safe to call twice
    other_seed = IndexSampler(1000, seed=4)
    assert list(other_seed) != first


def test_weighted_draws_follow_the_weights():
    weights = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 0.5, 0.0, 10.0, 1.5, 2.5], dtype=torch.float64)
    sampler = IndexSampler(len(weights), seed=0)
    sampler.set_weights(weights)
    draws = torch.cat([sampler.global_sequence(epoch) for epoch in range(20_000)])
    counts = torch.bincount(draws, minlength=len(weights))
    assert counts[weights == 0].sum() == 0  # never a zero-weight sample
    nonzero = weights > 0
    expected = weights[nonzero] / weights.sum() * len(draws)
    assert chisquare(counts[nonzero].numpy(), expected.numpy()).pvalue > 1e-3
    # and a wrong distribution is rejected by the same test
    assert (
        chisquare(
            counts[nonzero].numpy(), torch.full_like(expected, len(draws) / nonzero.sum()).numpy()
        ).pvalue
        < 1e-6
    )


def test_each_draw_is_the_inverse_cdf_of_its_own_uniform(monkeypatch):
    # The sampler searches the uniforms in sorted order for speed; the i-th index must still
    # come from the i-th uniform of its chunk (the order of the sequence is part of the draw).
    monkeypatch.setattr(index_sampler, "CHUNK_SIZE", 64)
    weights = torch.rand(300, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    weights[::7] = 0
    sampler = IndexSampler(len(weights), seed=9)
    sampler.set_weights(weights)
    cdf = torch.cumsum(weights, 0) / weights.sum()
    expected = []
    for chunk, start in enumerate(range(0, 300, 64)):
        uniforms = torch.rand(
            min(64, 300 - start), generator=chunk_generator(9, 4, chunk), dtype=torch.float64
        )
        expected += [int((cdf <= u).sum()) for u in uniforms]  # the first sample whose cdf exceeds u
    assert sampler.global_sequence(4).tolist() == expected


def test_weighted_draw_is_with_replacement_and_keeps_the_epoch_length():
    sampler = IndexSampler(500, seed=1)
    before = len(sampler)
    sampler.set_weights(torch.rand(500, dtype=torch.float64))
    assert len(sampler) == before == 500
    drawn = list(sampler)
    assert len(drawn) == 500 and len(set(drawn)) < 500


@pytest.mark.parametrize("num_samples, world", [(101, 2), (1000, 3), (64, 4)])
@pytest.mark.parametrize("weighted", [False, True])
def test_rank_slices_partition_the_global_sequence(num_samples, world, weighted):
    samplers = [IndexSampler(num_samples, num_replicas=world, rank=r, seed=7) for r in range(world)]
    single = IndexSampler(num_samples, seed=7)
    if weighted:
        weights = torch.rand(num_samples, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        for sampler in samplers + [single]:
            sampler.set_weights(weights)
    for sampler in samplers + [single]:
        sampler.set_epoch(5)
    per_rank = [list(s) for s in samplers]
    assert {len(p) for p in per_rank} == {-(-num_samples // world)}  # ceil(N / world) on every rank
    interleaved = [per_rank[i % world][i // world] for i in range(world * len(per_rank[0]))]
    global_sequence = samplers[0].global_sequence().tolist()
    assert interleaved == global_sequence
    # the same global draw as one process (which has no padding) over its first N entries
    assert global_sequence[:num_samples] == list(single)


def test_chunks_do_not_change_the_distribution_and_cover_every_rank(monkeypatch):
    from sample_importance.sampler import index_sampler

    monkeypatch.setattr(index_sampler, "CHUNK_SIZE", 7)  # many chunks with an odd size
    samplers = [IndexSampler(50, num_replicas=2, rank=r, seed=0) for r in range(2)]
    for sampler in samplers:
        sampler.set_weights(torch.ones(50, dtype=torch.float64))
    per_rank = [list(s) for s in samplers]
    global_sequence = samplers[0].global_sequence().tolist()
    assert per_rank[0] == global_sequence[0::2] and per_rank[1] == global_sequence[1::2]


def test_state_dict_round_trip_gives_the_same_draws():
    sampler = IndexSampler(300, seed=11)
    sampler.set_weights(torch.rand(300, dtype=torch.float64))
    sampler.set_epoch(4)
    restored = IndexSampler(300, seed=0)
    restored.load_state_dict(sampler.state_dict())
    restored.set_epoch(4)
    assert list(restored) == list(sampler)
    with pytest.raises(UserError, match="covers 300 samples"):
        IndexSampler(299).load_state_dict(sampler.state_dict())


@pytest.mark.parametrize(
    "weights, message",
    [
        (torch.tensor([1.0, float("nan"), 1.0]), "NaN or infinite"),
        (torch.tensor([1.0, -1.0, 1.0]), "negative"),
        (torch.zeros(3), "all weights are zero"),
        (torch.ones(4), "expected 3 weights"),
    ],
)
def test_unusable_weights_are_refused(weights, message):
    with pytest.raises(WeightError, match=message):
        IndexSampler(3).set_weights(weights)


def test_weights_are_kept_in_float64():
    sampler = IndexSampler(4)
    sampler.set_weights(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float32))
    assert sampler.weights.dtype == torch.float64 and sampler.state_dict()["weights"].dtype == torch.float64


@pytest.mark.parametrize("weighted", [False, True])
def test_mid_epoch_resume_continues_the_same_sequence_on_every_rank(weighted, monkeypatch):
    from sample_importance.sampler import index_sampler

    monkeypatch.setattr(index_sampler, "CHUNK_SIZE", 16)  # the skip crosses chunk boundaries
    weights = torch.rand(101, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for rank in (0, 1):
        full = IndexSampler(101, num_replicas=2, rank=rank, seed=5)
        resumed = IndexSampler(101, num_replicas=2, rank=rank, seed=5)
        for sampler in (full, resumed):
            if weighted:
                sampler.set_weights(weights)
            sampler.set_epoch(3)
        resumed.resume_mid_epoch(epoch=3, samples_done_per_rank=20)
        assert list(resumed) == list(full)[20:]
        resumed.set_epoch(4)
        full.set_epoch(4)
        assert list(resumed) == list(full)  # only the interrupted epoch is shortened
