"""Callbacks a benchmark adds to ``python -m sample_importance.train`` (``+callbacks.NAME._target_=...``).

``StepTimer`` writes every training batch's end time (perf_counter) per epoch to a JSON file.
``PlainStepsBetween`` also runs one step of a plain PyTorch loop after every framework step, in
the same process: the two arms alternate every few milliseconds, so the machine's drift (its
speed wanders by up to a third over tens of seconds) falls on both alike.
"""

from __future__ import annotations

import json
import time

import torch
from pytorch_lightning.callbacks import Callback


class StepTimer(Callback):
    def __init__(self, path: str) -> None:
        self.path = path
        self.times: dict[int, list[float]] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.times.setdefault(trainer.current_epoch, []).append(time.perf_counter())

    def record(self) -> dict:
        return {str(k): v for k, v in self.times.items()}

    def on_train_end(self, trainer, pl_module) -> None:
        with open(self.path, "w") as f:
            json.dump(self.record(), f)


class PlainStepsBetween(StepTimer):
    """StepTimer + one step of a plain PyTorch loop after every framework step, in the same process.

    The plain loop is fixed whatever the run's speed knobs: the run's network built afresh from
    ``model`` (knob keys dropped; default layout, not compiled, float32, the run's initial
    weights), its own SGD (the schedule's lr, momentum, Nesterov and weight decay; no lr decay,
    logging or checks), and a second instance of the run's ``dataset`` loading in this process
    (num_workers=0), so the run's own sampler is left alone. Give both as config nodes, not
    instantiated: ``+callbacks.NAME._recursive_=false +callbacks.NAME.dataset='${dataset}'
    +callbacks.NAME.model='${model}'``.

    A framework step is timed from the end of the plain step before it to this hook's start; a
    plain step, from there to the end of its own fetch, forward, backward and update. Whatever
    Lightning runs after this hook (callbacks it orders later, such as checkpointing, and the
    module's own hook) falls into the next framework step, so all of its work between two
    batches, fetching included, is counted once.
    """

    def __init__(self, path: str, dataset, model) -> None:
        super().__init__(path)
        self.dataset_config, self.model_config = dataset, model
        self.framework_s: dict[int, list[float]] = {}
        self.plain_s: dict[int, list[float]] = {}

    def on_fit_start(self, trainer, pl_module) -> None:
        from hydra.utils import instantiate

        from sample_importance.train import model_config

        self.datamodule = instantiate(self.dataset_config, num_workers=0)
        self.datamodule.prepare_data()
        self.datamodule.setup("fit")
        dm = self.datamodule
        self.net = instantiate(model_config(self.model_config), in_channels=dm.in_channels,
                               num_classes=dm.num_classes, image_size=dm.image_size).train()
        self.net.load_state_dict(pl_module.net.state_dict())
        s = pl_module.schedule
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=s.lr, momentum=s.momentum, nesterov=s.nesterov,
                                         weight_decay=s.weight_decay)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.datamodule.train_sampler().set_epoch(trainer.current_epoch)
        self.batches = iter(self.datamodule.train_dataloader())
        self.plain_end = None  # the first framework step of an epoch has no plain step before it

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        framework_end = time.perf_counter()
        epoch = trainer.current_epoch
        self.times.setdefault(epoch, []).append(framework_end)
        if self.plain_end is not None:
            self.framework_s.setdefault(epoch, []).append(framework_end - self.plain_end)
        images, targets, _ = next(self.batches)
        loss = pl_module.loss(self.net(images), targets).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.plain_end = time.perf_counter()
        self.plain_s.setdefault(epoch, []).append(self.plain_end - framework_end)

    def record(self) -> dict:
        return {"framework": super().record(),
                "framework_step_s": {str(k): v for k, v in self.framework_s.items()},
                "plain_step_s": {str(k): v for k, v in self.plain_s.items()}}


def epoch_rates(times: dict) -> list[float]:
    """(steps - 1) / (last batch end - first batch end) of every epoch after the first."""
    return [(len(t) - 1) / (t[-1] - t[0]) for epoch, t in sorted(times.items(), key=lambda kv: int(kv[0]))
            if int(epoch) > 0 and len(t) > 1]


def steady_steps_per_s(times: dict) -> float:
    """Median over epochs after the first of their steps/s."""
    from benchmarks.common import median

    return median(epoch_rates(times))
