"""SLURM job size from one setting, for ``configs/hydra/launcher/slurm.yaml``.

Lightning takes its ranks from SLURM when the job has one task per device: ``--ntasks-per-node``
must equal ``trainer.devices`` and ``--nodes`` must equal ``trainer.num_nodes`` (Lightning checks
both in every task). A DDP job therefore has one size, devices per node, given either as a count
in ``trainer.devices`` or as ``hydra.launcher.gpus_per_node`` when ``trainer.devices`` means "every
GPU of the node" (-1, "auto"), which SLURM cannot be asked for.

The resolvers fill in the launcher's values (``--cfg all --resolve`` shows them). A size that
cannot be resolved is refused by ``JobSizeCheck``, a Hydra callback that runs before the launcher
exists, in one line; a resolver cannot do that itself: Hydra prints what a resolver raises as a
traceback, and OmegaConf also calls resolvers while it merges configs (a value the user's
config replaces), where it ignores their errors, so a resolver must neither exit nor print.
"""

from __future__ import annotations

import os
import sys

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from sample_importance.errors import ConfigError


def device_count(devices) -> int | None:
    """``trainer.devices`` as a positive count, or None when it is not one (-1, "auto", a list)."""
    if isinstance(devices, bool):
        return None
    if isinstance(devices, str) and devices.strip().isdigit():
        devices = int(devices)
    return devices if isinstance(devices, int) and devices > 0 else None


def default_gpus_per_node(accelerator, devices) -> int | None:
    """Default of ``hydra.launcher.gpus_per_node``: none for CPU jobs, else ``trainer.devices`` (a count)."""
    return None if str(accelerator) == "cpu" else device_count(devices)


def size_problem(gpus_per_node, devices) -> str | None:
    """Why a job with these settings cannot be sized, or None."""
    count = device_count(devices)
    if count is not None and gpus_per_node and gpus_per_node != count:
        return (
            f"hydra.launcher.gpus_per_node={gpus_per_node} and trainer.devices={devices} disagree: "
            "a DDP job runs one task per GPU; set one of them (or both to the same count)"
        )
    if count is None and not gpus_per_node:
        return (
            f"trainer.devices={devices} does not say how many devices a node has, so it cannot size "
            "a SLURM job: give a count, e.g. trainer.devices=4 or hydra.launcher.gpus_per_node=4"
        )
    return None


def tasks_per_node(gpus_per_node, devices) -> int:
    """``hydra.launcher.tasks_per_node``: one task per device."""
    problem = size_problem(gpus_per_node, devices)
    if problem:
        raise ConfigError(problem)
    return device_count(devices) or gpus_per_node


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("slurm_gpus_per_node", default_gpus_per_node, replace=True)
    OmegaConf.register_new_resolver("slurm_tasks_per_node", tasks_per_node, replace=True)


class JobSizeCheck(Callback):
    """Refuse a SLURM sweep whose job size cannot be resolved, before anything is submitted."""

    def on_multirun_start(self, config, **kwargs) -> None:
        problem = size_problem(config.hydra.launcher.gpus_per_node, config.trainer.devices)
        if not problem:
            return
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise ConfigError(problem)
        # Hydra prints an exception raised here as a traceback; this is the apps' one-line form.
        print(f"error: {problem}", file=sys.stderr, flush=True)
        sys.exit(2)
