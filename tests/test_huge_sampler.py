"""The weighted draw beyond torch.multinomial's 2^24 categories, in float64, from weights alone."""

from __future__ import annotations

import torch

from sample_importance.sampler.index_sampler import CHUNK_SIZE, IndexSampler


def test_draw_over_more_than_2_to_the_24_samples_follows_the_weights():
    size = 2**24 + 2**20  # 17.8 million samples, beyond torch.multinomial's limit
    weights = torch.ones(size, dtype=torch.float64)
    weights[size // 2 :] = 3.0  # the second half holds 3/4 of the mass
    weights[12_345] = 0.0  # never drawn
    last = size - 1
    weights[last] = 1e6  # one heavy sample at the very end: mass 1e6 / (2 * size + 1e6)
    sampler = IndexSampler(size, num_replicas=2, rank=1, seed=0)
    sampler.set_weights(weights)
    draws = sampler.global_sequence(epoch=0)
    assert len(draws) == size and draws.dtype == torch.int64
    total = weights.sum()
    # a coarse partition: 8 blocks; each block's share within 6 standard deviations of its probability
    bounds = torch.linspace(0, size, 9).long()
    counts = torch.bucketize(draws, bounds[1:-1], right=True).bincount(minlength=8).double()
    for block in range(8):
        probability = weights[bounds[block] : bounds[block + 1]].sum() / total
        spread = (size * probability * (1 - probability)).sqrt()
        assert abs(counts[block] - size * probability) < 6 * spread, block
    assert not (draws == 12_345).any()
    heavy = (draws == last).sum().double()
    expected = size * weights[last] / total
    assert abs(heavy - expected) < 6 * expected.sqrt()
    # rank 1's slice of the global draw, chunk by chunk, without a list of the whole epoch
    first_chunk = next(iter(sampler.global_chunks(0)))
    mine = iter(sampler)
    assert [next(mine) for _ in range(1000)] == first_chunk[1::2][:1000].tolist()
    assert len(sampler) == size // 2 and CHUNK_SIZE < size
