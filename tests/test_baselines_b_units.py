"""Part B baselines on small tensors: SPV's Eq. 6, prioritized draws, online chunked draws, InfoBatch's pruning."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from sample_importance.errors import ConfigError
from sample_importance.sampler.index_sampler import IndexSampler
from sample_importance.sampler.infobatch import InfoBatch, pruning_generator, select_kept
from sample_importance.sampler.prioritized import PrioritizedSampling, proportional_priorities, rank_priorities
from sample_importance.sampler.spv import SpvSampling, spv_weights
from sample_importance.sampler.updating import LatestValues, RunningMoments, last_per_index


# -- a stand-in for the trainer: just what the strategies read ------------------------------------
class FakeDataModule:
    def __init__(self, num_samples: int, batch_size: int, world: int = 1, rank: int = 0) -> None:
        self.num_train = num_samples
        self.batch_size = batch_size
        self.world = world
        self.sampler = IndexSampler(num_samples, num_replicas=world, rank=rank, seed=5)

    def train_sampler(self) -> IndexSampler:
        return self.sampler

    def per_device_batch_size(self) -> int:
        return self.batch_size // self.world


def fake_trainer(num_samples: int, batch_size: int = 8, max_epochs: int = 10):
    datamodule = FakeDataModule(num_samples, batch_size)
    return SimpleNamespace(datamodule=datamodule, world_size=1, max_epochs=max_epochs, current_epoch=0,
                           is_global_zero=True, loggers=[])


def loss_outputs(index: list[int], losses: list[float]) -> dict:
    return {"index": torch.tensor(index), "sample_loss": torch.tensor(losses)}


def p_outputs(index: list[int], p_true: list[float]) -> dict:
    """Logits whose softmax gives p_true to class 0 (the target) out of two classes."""
    p = torch.tensor(p_true, dtype=torch.float64)
    logits = torch.stack([torch.log(p), torch.log1p(-p)], dim=1).float()
    return {"index": torch.tensor(index), "logits": logits, "target": torch.zeros(len(index), dtype=torch.long)}


# -- SPV: Eq. 6 on a known history --------------------------------------------------------------------
def test_spv_weights_follow_eq6_on_a_known_history():
    rng = np.random.default_rng(0)
    histories = [list(rng.uniform(0, 1, size=n)) for n in (2, 3, 5, 10, 1, 0, 7)]
    strategy = SpvSampling(burn_in_epochs=0, epsilon=0.2)
    trainer = fake_trainer(len(histories))
    strategy.on_fit_start(trainer, None)
    # the history arrives in shuffled batches of 5 (p_true, index), some sample twice in a batch
    pairs = [(i, p) for i, history in enumerate(histories) for p in history]
    pairs = [pairs[k] for k in rng.permutation(len(pairs))]
    for batch, start in enumerate(range(0, len(pairs), 5)):
        index, values = zip(*pairs[start:start + 5])
        strategy.on_train_batch_end(trainer, None, p_outputs(list(index), list(values)), None, batch)
    strategy.refresh(trainer)
    weights = trainer.datamodule.sampler.weights

    expected = []
    for h in histories:
        if len(h) < 2:
            expected.append(None)
            continue
        var = np.var(h, ddof=1)
        expected.append(math.sqrt(var + var**2 / (len(h) - 1)) + 0.2)
    largest = max(e for e in expected if e is not None)
    expected = [largest if e is None else e for e in expected]  # fewer than 2 values: the largest weight
    torch.testing.assert_close(weights, torch.tensor(expected, dtype=torch.float64), atol=1e-6, rtol=0)


def test_spv_weights_function_edge_cases():
    count = torch.tensor([0, 1, 4])
    variance = torch.tensor([float("nan"), float("nan"), 0.0])
    assert spv_weights(variance, count, 0.2).tolist() == pytest.approx([0.2, 0.2, 0.2])
    assert spv_weights(variance, count, 0.0).tolist() == [1.0, 1.0, 1.0]  # nothing varies: uniform
    moments = RunningMoments(2)
    moments.update(torch.tensor([0, 0, 1]), torch.tensor([0.25, 0.75, 0.5]))
    assert moments.variance()[0].item() == pytest.approx(0.125) and math.isnan(moments.variance()[1].item())


def test_spv_is_uniform_during_burn_in_then_weighted_at_every_epoch_end():
    strategy = SpvSampling(burn_in_epochs=2, epsilon=0.2)
    trainer = fake_trainer(6)
    strategy.on_fit_start(trainer, None)
    sampler = trainer.datamodule.sampler
    for epoch in range(4):
        trainer.current_epoch = epoch
        strategy.on_train_batch_end(trainer, None, p_outputs(list(range(6)), [0.1 * (epoch + 1) * (i % 2)
                                                                               + 0.05 for i in range(6)]), None, 0)
        strategy.on_train_epoch_end(trainer, None)
        assert (sampler.weights is None) == (epoch == 0)
    assert strategy.refreshes == 3  # the switch after epoch 1, then epochs 2 and 3
    # odd samples changed p every epoch, even ones never: only odd ones are above epsilon
    assert torch.all(sampler.weights[0::2] == 0.2) and torch.all(sampler.weights[1::2] > 0.2)


# -- prioritized: priorities from the losses seen, draws that follow them ------------------------
def test_priorities_proportional_and_rank_with_unseen_samples():
    loss = torch.tensor([0.5, -2.0, 0.0, 1.0, 9.0], dtype=torch.float64)
    seen = torch.tensor([True, True, True, True, False])
    proportional = proportional_priorities(loss, seen, 1e-3)
    assert proportional.tolist() == pytest.approx([0.501, 2.001, 0.001, 1.001, 2.001])  # unseen: the max
    rank = rank_priorities(loss, seen)
    # |loss| order among the seen: 2.0 (rank 2), 1.0 (3), 0.5 (4), 0.0 (5); the unseen sample is rank 1
    assert rank.tolist() == pytest.approx([1 / 4, 1 / 2, 1 / 5, 1 / 3, 1.0])
    assert torch.all(proportional_priorities(loss, torch.zeros(5, dtype=torch.bool), 1e-3) == 1.0)


@pytest.mark.parametrize("kind, alpha", [("proportional", 0.6), ("rank", 0.7)])
def test_prioritized_draws_follow_the_priorities_of_the_losses_seen(kind, alpha):
    num_samples = 12
    strategy = PrioritizedSampling(kind=kind, alpha=alpha, epsilon=0.01)
    trainer = fake_trainer(num_samples, batch_size=4)
    strategy.on_fit_start(trainer, None)
    sampler = trainer.datamodule.sampler
    assert sampler.draw_chunk_size == 4 and torch.all(sampler.weights == sampler.weights[0])  # all unseen
    losses = torch.linspace(0.05, 3.0, num_samples)
    seen = list(range(num_samples - 2))  # two samples never seen: they keep the top priority
    for batch, start in enumerate(range(0, len(seen), 4)):
        index = seen[start:start + 4]
        strategy.on_train_batch_end(trainer, None, loss_outputs(index, losses[index].tolist()), None, batch)
    mask = torch.zeros(num_samples, dtype=torch.bool)
    mask[seen] = True
    if kind == "proportional":
        priority = proportional_priorities(losses.double(), mask, 0.01)
    else:
        priority = rank_priorities(losses.double(), mask)
    expected = priority.pow(alpha) / priority.pow(alpha).sum()
    torch.testing.assert_close(sampler.weights / sampler.weights.sum(), expected)
    draws = torch.cat([sampler.global_sequence(epoch) for epoch in range(3000)])
    counts = torch.bincount(draws, minlength=num_samples)
    assert chisquare(counts.numpy(), (expected * len(draws)).numpy()).pvalue > 1e-3
    uniform = torch.full((num_samples,), len(draws) / num_samples)
    assert chisquare(counts.numpy(), uniform.numpy()).pvalue < 1e-6  # and they are not uniform


def test_prioritized_rejects_bad_settings():
    with pytest.raises(ConfigError, match="sampler.kind"):
        PrioritizedSampling(kind="sum_tree")
    with pytest.raises(ConfigError, match="sampler.epsilon"):
        PrioritizedSampling(kind="proportional", epsilon=0.0)
    with pytest.raises(ConfigError, match="sampler.alpha"):
        PrioritizedSampling(alpha=-1)


# -- the sampler's per-batch chunks: updates mid-epoch are seen, ranks stay one sequence ------------
def test_small_draw_chunks_follow_weights_changed_mid_epoch():
    num_samples, batch = 40, 8
    sampler = IndexSampler(num_samples, seed=3)
    sampler.draw_chunk_size = batch
    sampler.set_weights(torch.ones(num_samples, dtype=torch.float64))
    iterator = iter(sampler)
    first = [next(iterator) for _ in range(batch)]
    only_last = torch.zeros(num_samples, dtype=torch.float64)
    only_last[-1] = 1.0
    sampler.set_weights(only_last)  # what a strategy does in on_train_batch_end
    rest = list(iterator)
    assert len(first) + len(rest) == len(sampler) == num_samples
    assert rest == [num_samples - 1] * (num_samples - batch)  # every later chunk used the new weights
    # the first chunk is what the old weights give for (seed, epoch, chunk 0): a pure function
    reference = IndexSampler(num_samples, seed=3)
    reference.draw_chunk_size = batch
    reference.set_weights(torch.ones(num_samples, dtype=torch.float64))
    assert first == reference.global_sequence(0)[:batch].tolist()


@pytest.mark.parametrize("world", [2, 3])
def test_small_draw_chunks_keep_one_global_sequence_across_ranks(world):
    num_samples, per_rank_batch = 61, 4
    samplers = [IndexSampler(num_samples, num_replicas=world, rank=r, seed=1) for r in range(world)]
    single = IndexSampler(num_samples, seed=1)
    weights = torch.rand(num_samples, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for sampler in samplers + [single]:
        sampler.draw_chunk_size = per_rank_batch * world
        sampler.set_weights(weights)
    per_rank = [list(s) for s in samplers]
    interleaved = [per_rank[i % world][i // world] for i in range(world * len(per_rank[0]))]
    assert interleaved == samplers[0].global_sequence().tolist()
    assert interleaved[:num_samples] == list(single)[:num_samples]


# -- the per-sample stores -------------------------------------------------------------------------
def test_latest_values_keep_the_last_of_repeated_indices_and_round_trip():
    index, values = last_per_index(torch.tensor([3, 1, 3, 0, 1]), torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert index.tolist() == [0, 1, 3] and values.tolist() == [4.0, 5.0, 3.0]
    store = LatestValues(5)
    store.update(torch.tensor([3, 1, 3]), torch.tensor([1.0, 2.0, 3.0]))
    restored = LatestValues.from_state(store.state_dict())
    assert restored.value.tolist() == [0, 2, 0, 3, 0] and restored.seen.tolist() == [False, True, False, True, False]


@pytest.mark.parametrize("make", [lambda: SpvSampling(burn_in_epochs=1), lambda: PrioritizedSampling(kind="rank")])
def test_updating_strategies_state_round_trip(make):
    strategy = make()
    trainer = fake_trainer(10, batch_size=4)
    strategy.on_fit_start(trainer, None)
    outputs = {**loss_outputs([1, 2, 3, 1], [0.5, 0.1, 2.0, 0.7]), **p_outputs([1, 2, 3, 1], [0.2, 0.9, 0.4, 0.6])}
    strategy.on_train_batch_end(trainer, None, outputs, None, 0)
    strategy.on_train_epoch_end(trainer, None)
    restored = make()
    restored.load_state_dict(strategy.state_dict())
    assert restored.weighting == strategy.weighting and restored.refreshes == strategy.refreshes
    torch.testing.assert_close(restored.compute_weights(), strategy.compute_weights())
    assert set(restored.store.state_dict()) == set(strategy.store.state_dict())
    for key, value in strategy.store.state_dict().items():
        assert torch.equal(restored.store.state_dict()[key], value)


# -- InfoBatch: which samples are pruned, the loss factor -------------------------------------------
def test_infobatch_prunes_exactly_a_random_fraction_of_the_below_mean_samples():
    num_samples = 1000
    loss = torch.rand(num_samples, generator=torch.Generator().manual_seed(0), dtype=torch.float64) ** 2
    seen = torch.ones(num_samples, dtype=torch.bool)
    seen[:10] = False  # never seen: never pruned, not in the mean
    loss[:10] = 0.0
    kept, rescaled, threshold = select_kept(loss, seen, 0.5, pruning_generator(0, 3))
    assert threshold == pytest.approx(float(loss[10:].mean()))
    low = seen & (loss < threshold)
    pruned = torch.ones(num_samples, dtype=torch.bool)
    pruned[kept] = False
    assert int(pruned.sum()) == round(0.5 * int(low.sum()))
    assert torch.all(low[pruned])  # only below-mean seen samples are pruned
    assert torch.equal(rescaled, low & ~pruned)  # the kept below-mean samples get the factor
    assert torch.equal(kept, kept.sort().values)
    again, _, _ = select_kept(loss, seen, 0.5, pruning_generator(0, 3))
    other_epoch, _, _ = select_kept(loss, seen, 0.5, pruning_generator(0, 4))
    assert torch.equal(again, kept) and not torch.equal(other_epoch, kept)  # seeded by (seed, epoch)
    few, _, _ = select_kept(loss, seen, 0.99, pruning_generator(0, 3), min_kept=900)
    assert len(few) == 900
    everything, none_rescaled, _ = select_kept(loss, torch.zeros(num_samples, dtype=torch.bool), 0.5,
                                               pruning_generator(0, 0))
    assert len(everything) == num_samples and not none_rescaled.any()  # nothing seen yet: a full epoch


def test_infobatch_loss_factor_and_state_round_trip():
    strategy = InfoBatch(prune_fraction=0.75)
    strategy.losses = LatestValues(4)
    strategy.rescaled = torch.tensor([True, False, True, False])
    factors = strategy.sample_loss_weight(torch.tensor([0, 1, 2, 3, 0]))
    assert factors.tolist() == [4.0, 1.0, 4.0, 1.0, 4.0]
    strategy.steps_run, strategy.kept_per_epoch = [5, 3], [4, 3]
    restored = InfoBatch(prune_fraction=0.75)
    restored.load_state_dict(strategy.state_dict())
    assert restored.sample_loss_weight(torch.tensor([2, 3])).tolist() == [4.0, 1.0]
    assert restored.steps_run == [5, 3] and restored.kept_per_epoch == [4, 3]
    restored.rescaled = None
    assert restored.sample_loss_weight(torch.tensor([2, 3])).tolist() == [1.0, 1.0]  # a full epoch


@pytest.mark.parametrize("kwargs, key", [({"prune_fraction": 1.0}, "prune_fraction"),
                                         ({"pruning_epochs_fraction": 1.5}, "pruning_epochs_fraction")])
def test_infobatch_rejects_bad_settings(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        InfoBatch(**kwargs)


# -- the sampler's subset (InfoBatch's pruned epochs) ----------------------------------------------
@pytest.mark.parametrize("world", [1, 2, 3])
def test_subset_epochs_are_permutations_of_the_subset_split_by_rank(world):
    subset = torch.tensor([0, 3, 4, 8, 9, 11, 15, 16, 20, 21, 22])
    samplers = [IndexSampler(25, num_replicas=world, rank=r, seed=2) for r in range(world)]
    for sampler in samplers:
        sampler.set_subset(subset)
        sampler.set_epoch(1)
    per_rank = [list(s) for s in samplers]
    assert {len(p) for p in per_rank} == {math.ceil(len(subset) / world)} == {len(samplers[0])}
    interleaved = [per_rank[i % world][i // world] for i in range(world * len(per_rank[0]))]
    assert sorted(interleaved[: len(subset)]) == subset.tolist()  # each kept sample once (then padding)
    assert samplers[0].num_samples == math.ceil(25 / world)  # the full epoch's length is kept
    restored = IndexSampler(25, num_replicas=world, rank=0, seed=0)
    restored.load_state_dict(samplers[0].state_dict())
    restored.set_epoch(1)
    assert list(restored) == per_rank[0]
    samplers[0].set_subset(None)
    assert len(samplers[0]) == samplers[0].num_samples
