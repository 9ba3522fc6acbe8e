"""Items 1-3: the scoring pass and score_source=train_forward as fractions of an epoch; throughput
of the importance phase against uniform sampling. The framework's data module, network and loss,
trained by a plain loop.

Uniform and importance-phase steps alternate (one of each, each from its own loader over the same
data, training the same network), so the machine's drift falls on both alike; their summed
times give the throughput ratio, and the uniform steps' sum is the epoch the scoring pass (run
after each such alternating epoch, twice: channels-last copy and default layout) is a fraction of."""

from __future__ import annotations

import time
from types import SimpleNamespace

import torch

from benchmarks.common import build_plain, median, plain_step, train_epoch

SETUPS = {
    # LeNet on the default job's data: imbalanced Fashion-MNIST, 9,000 training samples.
    "lenet": ["dataset=fashion_mnist_imbalanced", "model=lenet"],
    # ResNet18 (CIFAR stem) on small data: the 1,438 training digits (8x8, 11 steps of 128 an
    # epoch, about 15 s an epoch on this CPU).
    "resnet18": ["dataset=digits", "model=resnet18"],
}
# LeNet's scoring pass (0.4-0.5 s) and epoch (1.2-1.5 s) are short enough for the machine's drift
# to move their ratio by 0.1 from one repeat to the next: 5 repeats. ResNet18's fraction (about
# 0.1) is far from the target and its epochs take 15 s: 1.
REPEATS = {"lenet": 5, "resnet18": 1}


def alternating_epoch(
    uniform, weighted, module, optimizer, epoch: int, record
) -> tuple[list[float], list[float]]:
    """Uniform and weighted steps in turn (fetch included); the steps' seconds of each. The weighted
    steps also feed ``record`` (score_source=train_forward's recording)."""
    uniform_s, weighted_s = [], []
    module.train()
    for datamodule in (uniform, weighted):
        datamodule.train_sampler().set_epoch(epoch)
    weighted_batches = iter(weighted.train_dataloader())
    uniform_batches = iter(uniform.train_dataloader())
    while True:
        start = time.perf_counter()
        batch = next(uniform_batches, None)
        if batch is None:
            break
        plain_step(module, module.loss, optimizer, batch[0], batch[1])
        uniform_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        images, targets, index = next(weighted_batches)
        logits = plain_step(module, module.loss, optimizer, images, targets)
        weighted_s.append(time.perf_counter() - start)
        record.batch_ends({"index": index, "target": targets, "logits": logits})  # timed on its own (item 2)
    return uniform_s, weighted_s


def measure(name: str, overrides: list[str], repeats: int) -> dict:
    from hydra.utils import instantiate

    from sample_importance.sampler.ablations import TrainForwardWeights
    from sample_importance.sampler.method import importance_weights, scoring_pass

    datamodule, module, optimizer, cfg = build_plain(overrides)
    train_epoch(datamodule, module, optimizer, 0)  # warm-up
    scores = scoring_pass(module, datamodule)
    weights, _ = importance_weights(scores.p_true, 0.5)
    weighted = instantiate(cfg.dataset)  # a second loader over the same data, drawing by weight
    weighted.prepare_data()
    weighted.setup("fit")
    weighted.train_sampler().set_weights(weights)
    epoch_s, scoring_s, contiguous_scoring_s, record_s, uniform_total, weighted_total = (
        [],
        [],
        [],
        [],
        0.0,
        0.0,
    )
    for r in range(repeats):
        record = TrainForwardWeights()  # p_true from the training steps, as score_source=train_forward
        record.epoch_starts(True, SimpleNamespace(datamodule=datamodule))
        uniform_steps, weighted_steps = alternating_epoch(
            datamodule, weighted, module, optimizer, 1 + r, record
        )
        epoch_s.append(sum(uniform_steps))
        uniform_total += sum(uniform_steps)
        weighted_total += sum(weighted_steps)
        record_s.append(record.seconds)
        for channels_last, times in ((True, scoring_s), (False, contiguous_scoring_s)):
            module.score_channels_last = channels_last  # model.score_channels_last (default true) and off
            start = time.perf_counter()
            scoring_pass(module, datamodule)
            times.append(time.perf_counter() - start)
        module.score_channels_last = True
    steps = len(uniform_steps) * repeats
    return {
        "model": name,
        "overrides": overrides,
        "train_samples": datamodule.num_train,
        "batch_size": int(cfg.schedule.batch_size),
        "repeats": repeats,
        "epoch_s": epoch_s,
        "scoring_pass_s": scoring_s,
        "train_forward_record_s": record_s,
        # each repeat's pass over the epoch just before it, median over repeats
        "scoring_fraction_of_epoch": median([a / b for a, b in zip(scoring_s, epoch_s)]),
        "contiguous_scoring_pass_s": contiguous_scoring_s,
        "scoring_fraction_of_epoch_score_channels_last_false": median(
            [a / b for a, b in zip(contiguous_scoring_s, epoch_s)]
        ),
        "train_forward_fraction_of_epoch": median([a / b for a, b in zip(record_s, epoch_s)]),
        "uniform_steps_per_s": steps / uniform_total,
        "importance_steps_per_s": steps / weighted_total,
        "importance_vs_uniform_throughput": uniform_total / weighted_total,
    }


def run(quick: bool = False) -> dict:
    torch.manual_seed(0)
    setups = {"lenet": ["dataset=digits", "model=lenet"]} if quick else SETUPS
    # ResNet18's epochs take about 15 s each here: two repeats of it, three of LeNet's 1.5 s ones
    rows = [measure(name, overrides, 1 if quick else REPEATS[name]) for name, overrides in setups.items()]
    return {
        "rows": rows,
        "targets": {
            "scoring_fraction_of_epoch": "<= 0.35",
            "train_forward_fraction_of_epoch": "<= 0.02",
            "importance_vs_uniform_throughput": ">= 0.98",
        },
    }
