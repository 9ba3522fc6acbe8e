"""A callback the framework benchmarks add to ``python -m sample_importance.train``: one step of a
plain PyTorch loop after every framework step, in the same process, both timed. The two arms
alternate every few milliseconds, so the machine's drift (its speed wanders by up to a third
within seconds) falls on both alike.
"""

from __future__ import annotations

import json
import time

import torch
from pytorch_lightning.callbacks import Callback

from benchmarks.common import plain_sgd, plain_step


class PlainStepsBetween(Callback):
    """One step of a plain PyTorch loop after every framework step; both steps' seconds go to ``path`` (JSON).

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

    On a GPU (the run's module on CUDA) the plain loop runs on the same device, its data placed
    there too when the dataset has ``on_device``; ``precision`` (``bf16-mixed``: autocast to
    bfloat16) and ``channels_last`` give it the run's own speed settings, since on a GPU the
    comparison is of the per-step host work at the same device work. Both timing points wait for
    the GPU (one sync per step in each arm), so a step is its host and device time together.
    """

    def __init__(
        self, path: str, dataset, model, precision: str | None = None, channels_last: bool = False
    ) -> None:
        self.path = path
        self.dataset_config, self.model_config = dataset, model
        self.bf16 = str(precision or "").startswith("bf16")
        self.channels_last = bool(channels_last)
        self.framework_s: dict[int, list[float]] = {}
        self.plain_s: dict[int, list[float]] = {}

    def on_fit_start(self, trainer, pl_module) -> None:
        from hydra.utils import instantiate

        from sample_importance.train import model_config

        self.datamodule = instantiate(self.dataset_config, num_workers=0)
        self.datamodule.prepare_data()
        self.datamodule.setup("fit")
        dm = self.datamodule
        self.device = pl_module.device
        dm.place_on_device(self.device)
        self.net = instantiate(
            model_config(self.model_config),
            in_channels=dm.in_channels,
            num_classes=dm.num_classes,
            image_size=dm.image_size,
        ).train()
        self.net.load_state_dict(pl_module.net.state_dict())
        self.net.to(self.device)
        if self.channels_last:
            from sample_importance.train import apply_speed_knobs

            apply_speed_knobs(self.net, {"channels_last": True})
        self.optimizer = plain_sgd(self.net.parameters(), pl_module.schedule)

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.datamodule.train_sampler().set_epoch(trainer.current_epoch)
        self.batches = iter(self.datamodule.train_dataloader())
        self.plain_end = None  # the first framework step of an epoch has no plain step before it

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        framework_end = self._now()
        epoch = trainer.current_epoch
        if self.plain_end is not None:
            self.framework_s.setdefault(epoch, []).append(framework_end - self.plain_end)
        images, targets, _ = next(self.batches)
        images, targets = (
            images.to(self.device, non_blocking=True),
            targets.to(self.device, non_blocking=True),
        )
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            plain_step(self.net, pl_module.loss, self.optimizer, images, targets)
        self.plain_end = self._now()
        self.plain_s.setdefault(epoch, []).append(self.plain_end - framework_end)

    def on_train_end(self, trainer, pl_module) -> None:
        with open(self.path, "w") as f:
            json.dump(
                {
                    "framework_step_s": {str(k): v for k, v in self.framework_s.items()},
                    "plain_step_s": {str(k): v for k, v in self.plain_s.items()},
                },
                f,
            )
