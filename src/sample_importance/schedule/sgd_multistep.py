"""The paper's optimisation: SGD with Nesterov momentum and a step decay at epoch milestones."""

from __future__ import annotations

import math

import torch

from sample_importance.errors import ConfigError


class SGDMultiStep:
    """SGD + multistep learning-rate decay, milestones in epochs converted to iterations.

    Args:
        max_epochs: N, training epochs.
        batch_size: B, the global batch size.
        lr, momentum, nesterov, weight_decay: the SGD settings (paper: 0.1, 0.9, True, 5e-5).
        lr_milestones_epochs: epochs after which the learning rate is multiplied by ``lr_decay_factor``.
    """

    def __init__(
        self,
        max_epochs: int,
        batch_size: int,
        lr: float,
        momentum: float = 0.9,
        nesterov: bool = True,
        weight_decay: float = 5e-5,
        lr_milestones_epochs=(),
        lr_decay_factor: float = 0.1,
    ) -> None:
        self.max_epochs = int(max_epochs)
        self.batch_size = int(batch_size)
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)
        self.lr_milestones_epochs = [int(m) for m in lr_milestones_epochs]
        self.lr_decay_factor = float(lr_decay_factor)
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"schedule.momentum must be in [0, 1), got {momentum}")
        if self.nesterov and self.momentum == 0:
            raise ConfigError(
                "schedule.nesterov=true needs schedule.momentum > 0 (Nesterov momentum without "
                "momentum is undefined); set schedule.nesterov=false for plain SGD"
            )
        if not (math.isfinite(self.lr_decay_factor) and self.lr_decay_factor > 0):
            raise ConfigError(f"schedule.lr_decay_factor must be a positive number, got {lr_decay_factor}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError(f"schedule.weight_decay must be a number >= 0, got {weight_decay}")

    def milestones_in_steps(self, steps_per_epoch: int) -> list[int]:
        return [m * steps_per_epoch for m in self.lr_milestones_epochs]

    def configure(self, parameters, steps_per_epoch: int):
        optimizer = torch.optim.SGD(
            parameters,
            lr=self.lr,
            momentum=self.momentum,
            nesterov=self.nesterov,
            weight_decay=self.weight_decay,
        )
        scheduler = torch.optim.lr_scheduler.MultiStepLR(
            optimizer, self.milestones_in_steps(steps_per_epoch), gamma=self.lr_decay_factor
        )
        return optimizer, scheduler
