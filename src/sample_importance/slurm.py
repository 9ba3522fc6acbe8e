"""SLURM job size from one setting: the resolvers behind ``configs/hydra/launcher/slurm.yaml``.

Lightning takes its ranks from SLURM when the job has one task per device: ``--ntasks-per-node``
must equal ``trainer.devices`` and ``--nodes`` must equal ``trainer.num_nodes`` (Lightning checks
both in every task). A DDP job therefore has one size, devices per node, given either as a count
in ``trainer.devices`` or as ``hydra.launcher.gpus_per_node`` when ``trainer.devices`` means "every
GPU of the node" (-1, "auto"), which SLURM cannot be asked for. The launcher resolves these
values once, in the submitting process, before any job is written.
"""

from __future__ import annotations

from omegaconf import OmegaConf

from sample_importance.errors import ConfigError


def device_count(devices) -> int | None:
    """``trainer.devices`` as a positive count, or None when it is not one (-1, "auto", a list)."""
    if isinstance(devices, bool):
        return None
    if isinstance(devices, str) and devices.strip().isdigit():
        devices = int(devices)
    return devices if isinstance(devices, int) and devices > 0 else None


def gpus_per_node(accelerator, devices) -> int | None:
    """Default of ``hydra.launcher.gpus_per_node``: none for CPU jobs, else ``trainer.devices``."""
    if str(accelerator) == "cpu":
        return None
    count = device_count(devices)
    if count is None:
        raise ConfigError(
            f"trainer.devices={devices} (every GPU of a node) cannot size a SLURM job: give the GPUs per node "
            "as a count, e.g. trainer.devices=4 or hydra.launcher.gpus_per_node=4"
        )
    return count


def tasks_per_node(gpus, devices) -> int:
    """``hydra.launcher.tasks_per_node``: one task per device, so Lightning takes its ranks from SLURM."""
    count = device_count(devices)
    gpus = None if gpus in (None, 0) else gpus
    if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0):
        raise ConfigError(f"hydra.launcher.gpus_per_node must be a positive integer or null, got {gpus!r}")
    if count is not None and gpus is not None and count != gpus:
        raise ConfigError(
            f"hydra.launcher.gpus_per_node={gpus} and trainer.devices={devices} disagree: a DDP job runs one task "
            "per GPU; set one of them (or both to the same count)"
        )
    if count is None and gpus is None:
        raise ConfigError(
            f"trainer.devices={devices} cannot size a SLURM job without GPUs: give the processes per node as a "
            "count, e.g. trainer.devices=2"
        )
    return count if count is not None else gpus


def register_resolvers(wrap=lambda resolver: resolver) -> None:
    """Make the resolvers known to OmegaConf; ``wrap`` adapts them (the command line's error handling)."""
    OmegaConf.register_new_resolver("slurm_gpus_per_node", wrap(gpus_per_node), replace=True)
    OmegaConf.register_new_resolver("slurm_tasks_per_node", wrap(tasks_per_node), replace=True)
