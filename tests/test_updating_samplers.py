"""Samplers whose weights change during training: per-batch draw chunks (one global sequence across
ranks), the per-sample stores, the strategies' state through a round trip, per-batch draws in a run.
"""

from __future__ import annotations

import pytest
import torch

from conftest import run_training
from fake_trainer import fake_trainer, loss_outputs, p_outputs
from run_outputs import tensorboard_scalars
from sample_importance.sampler.index_sampler import IndexSampler
from sample_importance.sampler.prioritized import (
    PrioritizedSampling,
)
from sample_importance.sampler.spv import SpvSampling
from sample_importance.sampler.updating import LatestValues, last_per_index
from sampler_recorder import RECORD, SCHEDULE, STEPS, load_record


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
    assert restored.value.tolist() == [0, 2, 0, 3, 0] and restored.seen.tolist() == [
        False,
        True,
        False,
        True,
        False,
    ]


@pytest.mark.parametrize(
    "make", [lambda: SpvSampling(burn_in_epochs=1), lambda: PrioritizedSampling(kind="rank")]
)
def test_updating_strategies_state_round_trip(make):
    strategy = make()
    trainer = fake_trainer(10, batch_size=4)
    strategy.on_fit_start(trainer, None)
    outputs = {
        **loss_outputs([1, 2, 3, 1], [0.5, 0.1, 2.0, 0.7]),
        **p_outputs([1, 2, 3, 1], [0.2, 0.9, 0.4, 0.6]),
    }
    strategy.on_train_batch_end(trainer, None, outputs, None, 0)
    strategy.on_train_epoch_end(trainer, None)
    restored = make()
    restored.load_state_dict(strategy.state_dict())
    assert restored.weighting == strategy.weighting and restored.refreshes == strategy.refreshes
    torch.testing.assert_close(restored.compute_weights(), strategy.compute_weights())
    assert set(restored.store.state_dict()) == set(strategy.store.state_dict())
    for key, value in strategy.store.state_dict().items():
        assert torch.equal(restored.store.state_dict()[key], value)


# -- per-batch weights: prioritized and online ----------------------------------------------------
@pytest.mark.parametrize(
    "overrides, epoch, refreshes_before",
    [
        (["sampler=prioritized_rank", "schedule.max_epochs=1"], 0, 1),  # 1: all unseen, set at fit start
        (
            ["sampler=importance_online", "sampler.burn_in_epochs=1", "schedule.max_epochs=2"],
            1,
            1,
        ),  # 1: the switch
    ],
)
def test_per_batch_strategies_draw_each_batch_from_the_weights_after_the_previous_one(
    tmp_path, overrides, epoch, refreshes_before
):
    summary = run_training(SCHEDULE + overrides + [RECORD], tmp_path / "run")
    record = load_record(tmp_path / "run")
    chunks = [record["chunks"][(epoch, k)] for k in range(STEPS)]
    for k, (chunk, refreshes) in enumerate(chunks):
        assert refreshes == refreshes_before + k  # drawn after batch k - 1 refreshed the weights
        assert torch.equal(chunk, record["batches"][epoch][k])  # one chunk is one batch
    assert summary["sampler_settings"]["weight_refreshes"] == refreshes_before + STEPS
    scalars = tensorboard_scalars(tmp_path / "run")
    assert len(scalars["sampling/effective_sample_fraction"]) == 1  # diagnostics of the weighted epoch


def test_online_importance_records_the_weights_of_its_switch(tmp_path):
    """sample_weights.pt, as sampler=importance writes it: the report reads the class importance from it."""
    from sample_importance.report.metrics import class_importance
    from sample_importance.sampler.method import importance_weights

    run_training(
        SCHEDULE + ["sampler=importance_online", "sampler.burn_in_epochs=1", "schedule.max_epochs=2"],
        tmp_path / "run",
    )
    record = torch.load(tmp_path / "run" / "sample_weights.pt", weights_only=True)
    assert record["epoch"] == 1 and record["gamma"] == 0.5 and record["score"] == "p_true"
    assert torch.isfinite(record["p_true"]).all() and torch.equal(record["index"], torch.arange(1438))
    assert torch.equal(record["weight"], importance_weights(record["p_true"], 0.5)[0])
    shares = class_importance(record["weight"].numpy(), record["label"].numpy(), 10)
    assert shares.sum() == pytest.approx(1.0) and (shares > 0).all()
