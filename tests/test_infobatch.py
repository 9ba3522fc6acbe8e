"""InfoBatch: which samples an epoch prunes, the loss factor, the sampler's subset epochs; in real runs
the steps it ran, the schedule by epoch, resumes at and within a pruned epoch.
"""

from __future__ import annotations

import math

import pytest
import torch

from conftest import run_training
from run_outputs import checkpoint_state, tensorboard_scalars
from sample_importance.errors import ConfigError
from sample_importance.sampler.index_sampler import IndexSampler
from sample_importance.sampler.infobatch import InfoBatch, pruning_generator, select_kept
from sample_importance.sampler.updating import LatestValues
from sampler_recorder import BATCH, LR, RECORD, SCHEDULE, STEPS, load_record, stop_after


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
    everything, none_rescaled, _ = select_kept(
        loss, torch.zeros(num_samples, dtype=torch.bool), 0.5, pruning_generator(0, 0)
    )
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


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"prune_fraction": 1.0}, "prune_fraction"),
        ({"pruning_epochs_fraction": 1.5}, "pruning_epochs_fraction"),
    ],
)
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


# -- InfoBatch in real (tiny) digits runs ------------------------------------------------------------
INFOBATCH = SCHEDULE + [
    "sampler=infobatch",
    "sampler.pruning_epochs_fraction=0.6",
    "schedule.max_epochs=5",
    "schedule.lr_milestones_epochs=[2,4]",
    RECORD,
]


@pytest.fixture(scope="module")
def infobatch_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("infobatch") / "run"
    return run_dir, run_training(INFOBATCH, run_dir)


def test_infobatch_reports_the_steps_it_ran_and_keeps_the_schedule_by_epoch(infobatch_run):
    run_dir, summary = infobatch_run
    settings = summary["sampler_settings"]
    record = load_record(run_dir)
    batches_per_epoch = [len(record["batches"][epoch]) for epoch in range(5)]
    # epochs 1 and 2 (< 0.6 x 5) are pruned; epoch 0 (nothing seen yet) and 3, 4 are full
    assert settings["steps_per_epoch_run"] == batches_per_epoch
    assert batches_per_epoch[0] == batches_per_epoch[3] == batches_per_epoch[4] == STEPS
    assert batches_per_epoch[1] < STEPS and batches_per_epoch[2] < STEPS
    assert summary["total_steps"] == settings["total_steps_run"] == sum(batches_per_epoch)
    assert summary["steps_per_epoch"] == STEPS and settings["full_data_steps"] == 5 * STEPS
    assert settings["saved_iterations"] == 5 * STEPS - summary["total_steps"] > 0
    # a pruned epoch draws each kept sample at most once, and only the samples it kept
    for epoch in (1, 2):
        drawn = torch.cat(record["batches"][epoch])
        assert len(drawn.unique()) == len(drawn) == batches_per_epoch[epoch] * BATCH
        assert settings["samples_per_epoch"][epoch] < 1438
    # test accuracy after every epoch, pruned ones included
    assert len(summary["test_acc_history"]) == 5
    assert [step for step, _ in summary["test_acc_history"]] == torch.tensor(batches_per_epoch).cumsum(
        0
    ).tolist()
    # the learning rate follows the epochs: x0.1 from epoch 2, x0.01 from epoch 4, whatever the epoch lengths
    for epoch, factor in enumerate([1, 1, 0.1, 0.1, 0.01]):
        assert record["lr"][epoch] == pytest.approx([LR * factor] * batches_per_epoch[epoch])
    scalars = tensorboard_scalars(run_dir)
    assert scalars["infobatch/saved_iterations"][-1][1] == settings["saved_iterations"]
    assert [value for _, value in scalars["infobatch/steps_this_epoch"]] == batches_per_epoch


def test_infobatch_resumes_with_its_pruned_epoch_and_its_step_count(infobatch_run, tmp_path):
    reference_dir, reference = infobatch_run
    first = tmp_path / "first"
    run_training(INFOBATCH + stop_after(2), first)
    assert len(checkpoint_state(first, "InfoBatch")["steps_run"]) == 2
    resumed_dir = tmp_path / "resumed"
    resumed = run_training(INFOBATCH + [f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}"], resumed_dir)
    # epoch 2 was pruned before the checkpoint: the resumed run draws exactly the uninterrupted run's epoch 2
    reference_draws, resumed_draws = (
        load_record(reference_dir)["batches"],
        load_record(resumed_dir)["batches"],
    )
    assert sorted(resumed_draws) == [2, 3, 4]
    assert torch.equal(torch.cat(resumed_draws[2]), torch.cat(reference_draws[2]))
    settings = resumed["sampler_settings"]
    assert settings["steps_per_epoch_run"][:3] == reference["sampler_settings"]["steps_per_epoch_run"][:3]
    assert resumed["total_steps"] == settings["total_steps_run"] == sum(settings["steps_per_epoch_run"])
    assert len(settings["steps_per_epoch_run"]) == 5
    for epoch, factor in ((2, 0.1), (3, 0.1), (4, 0.01)):
        assert load_record(resumed_dir)["lr"][epoch] == pytest.approx(
            [LR * factor] * len(resumed_draws[epoch])
        )


def test_infobatch_resumes_mid_epoch_with_the_rest_of_its_pruned_epoch(infobatch_run, tmp_path):
    reference_dir, reference = infobatch_run
    steps_before = STEPS + 3  # three batches into the pruned epoch 1
    first = tmp_path / "first"
    with pytest.raises(SystemExit):
        run_training(
            INFOBATCH
            + [
                "callbacks.preemption_checkpoint.handle_signal=true",
                "+callbacks.preempt._target_=sampler_recorder.PreemptAtStep",
                f"+callbacks.preempt.step={steps_before - 1}",
            ],
            first,
        )
    # the signal is acted on at the next batch end: last.ckpt is from the middle of epoch 1
    assert torch.load(first / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == steps_before
    resumed_dir = tmp_path / "resumed"
    resumed = run_training(INFOBATCH + [f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}"], resumed_dir)
    reference_draws, resumed_draws = (
        load_record(reference_dir)["batches"],
        load_record(resumed_dir)["batches"],
    )
    done = steps_before - STEPS
    assert torch.equal(
        torch.cat(resumed_draws[1]), torch.cat(reference_draws[1][done:])
    )  # the rest of epoch 1
    settings = resumed["sampler_settings"]
    assert settings["steps_per_epoch_run"][:2] == reference["sampler_settings"]["steps_per_epoch_run"][:2]
    assert resumed["total_steps"] == settings["total_steps_run"] == sum(settings["steps_per_epoch_run"])
    assert load_record(resumed_dir)["lr"][2] == pytest.approx([LR * 0.1] * len(resumed_draws[2]))
