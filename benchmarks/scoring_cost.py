"""Items 1-3: the scoring pass and score_source=train_forward as fractions of an epoch; throughput
of the importance phase against uniform sampling. Plain epochs over the framework's loader, model
and loss; variants interleaved, medians over repeats."""

from __future__ import annotations

import time

import torch

from benchmarks.common import build_plain, median, train_epoch

SETUPS = {
    # LeNet on the default job's data: imbalanced Fashion-MNIST, 9,000 training samples.
    "lenet": ["dataset=fashion_mnist_imbalanced", "model=lenet"],
    # ResNet18 (CIFAR stem) on small data: the 1,438 training digits (8x8, 11 steps of 128 an epoch),
    # to keep it to seconds on a CPU.
    "resnet18": ["dataset=digits", "model=resnet18"],
}
REPEATS = {"lenet": 3, "resnet18": 2}


def measure(name: str, overrides: list[str], repeats: int) -> dict:
    from sample_importance.sampler.importance import TrainForwardRecord, importance_weights
    from sample_importance.sampler.scoring import score_training_set

    datamodule, module, optimizer, cfg = build_plain(overrides)
    sampler = datamodule.train_sampler()
    train_epoch(datamodule, module, optimizer, 0)  # warm-up
    scores = score_training_set(module, datamodule)
    weights, _ = importance_weights(scores.p_true, 0.5)
    epoch_s, scoring_s, contiguous_scoring_s, record_s, uniform_sps, weighted_sps = [], [], [], [], [], []
    for r in range(repeats):
        sampler.set_weights(None)
        seconds, steps = train_epoch(datamodule, module, optimizer, 1 + r)
        epoch_s.append(seconds)
        uniform_sps.append(steps / seconds)
        for channels_last, times in ((True, scoring_s), (False, contiguous_scoring_s)):
            module.score_channels_last = channels_last  # model.score_channels_last (default true) and off
            start = time.perf_counter()
            score_training_set(module, datamodule)
            times.append(time.perf_counter() - start)
        module.score_channels_last = True
        record = TrainForwardRecord(datamodule.num_train)
        sampler.set_weights(weights)
        seconds, steps = train_epoch(datamodule, module, optimizer, 1 + r, on_batch=record.add)
        weighted_sps.append(steps / seconds)
        record_s.append(record.seconds)
    sampler.set_weights(None)
    epoch = median(epoch_s)
    return {
        "model": name, "overrides": overrides, "train_samples": datamodule.num_train,
        "batch_size": int(cfg.schedule.batch_size), "repeats": repeats,
        "epoch_s": epoch_s, "scoring_pass_s": scoring_s, "train_forward_record_s": record_s,
        "scoring_fraction_of_epoch": median(scoring_s) / epoch,
        "contiguous_scoring_pass_s": contiguous_scoring_s,
        "scoring_fraction_of_epoch_score_channels_last_false": median(contiguous_scoring_s) / epoch,
        "train_forward_fraction_of_epoch": median(record_s) / epoch,
        "uniform_steps_per_s": uniform_sps, "importance_steps_per_s": weighted_sps,
        "importance_vs_uniform_throughput": median(weighted_sps) / median(uniform_sps),
    }


def run(quick: bool = False) -> dict:
    torch.manual_seed(0)
    setups = {"lenet": ["dataset=digits", "model=lenet"]} if quick else SETUPS
    # ResNet18's epochs take about 15 s each here: two repeats of it, three of LeNet's 1.5 s ones
    rows = [measure(name, overrides, 1 if quick else REPEATS[name]) for name, overrides in setups.items()]
    return {"rows": rows, "targets": {"scoring_fraction_of_epoch": "<= 0.35", "train_forward_fraction_of_epoch": "<= 0.02",
                                      "importance_vs_uniform_throughput": ">= 0.98"}}
