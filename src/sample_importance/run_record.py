"""What a run checks before it starts and what it leaves behind (``summary.json``, HPARAMS).

Other tools (the report, the benchmarks) read these files; keep the keys stable.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from sample_importance.cli import write_json
from sample_importance.config_checks import check_checkpoint_path
from sample_importance.errors import UserError
from sample_importance.torch_files import read_torch_file

SUMMARY_FILE = "summary.json"


def check_checkpoint(path) -> int:
    """A checkpoint that cannot be read is a one-line error before training starts; returns its step."""
    path = check_checkpoint_path(path)
    checkpoint = read_torch_file(path, f"ckpt_path={path}")  # data only: a shared checkpoint cannot run code
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserError(f"ckpt_path={path} is not a Lightning checkpoint (no state_dict)")
    return int(checkpoint.get("global_step", 0))


def wait_past_event_files(folder: Path) -> None:
    """Return once the clock is past the second in every TensorBoard event file name under ``folder``.

    TensorBoard reads a folder's event files in name order, and a name starts with the second the
    file was made. A resumed run's file carries the purge that drops the interrupted run's events
    after the checkpoint; made in the same second as the interrupted run's, it could sort first
    (the process ids decide) and the purge would run before those events are read.
    """
    import re
    import time

    seconds = [
        int(m.group(1))
        for f in Path(folder).rglob("events.out.tfevents.*")
        if (m := re.match(r"events\.out\.tfevents\.(\d+)\.", f.name))
    ]
    if seconds:
        wait = max(seconds) + 1 - time.time()
        if 0 < wait <= 2:  # a clock set back further is not waited for
            time.sleep(wait)


def resume_path(cfg: DictConfig) -> str | None:
    """``ckpt_path`` if given; else, with ``auto_resume``, this run folder's ``checkpoints/last.ckpt``.

    A requeued SLURM job runs again in its own folder: it continues where it stopped.
    """
    if cfg.get("ckpt_path"):
        return str(cfg.ckpt_path)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    if cfg.get("auto_resume", True) and last.is_file():
        return str(last)
    return None


def hydra_choices() -> dict:
    try:
        from hydra.core.hydra_config import HydraConfig

        return dict(HydraConfig.get().runtime.choices)
    except Exception:  # composed without Hydra's runtime (tests, notebooks)
        return {}


def summarize(cfg: DictConfig, trainer: pl.Trainer, datamodule, module, sampler, wall_time_s: float) -> dict:
    history = module.test_acc_history
    best_step, best_acc = (
        max(history, key=lambda item: (item[1], -item[0])) if history else (None, float("nan"))
    )
    choices = hydra_choices()
    steps_per_epoch = module.steps_per_epoch()
    return {
        "best_test_acc": best_acc,
        "best_step": best_step,
        "final_test_acc": module.final_test.get("acc", float("nan")),
        "final_test": module.final_test,
        "test_acc_history": [[step, acc] for step, acc in history],
        "total_steps": int(trainer.global_step),
        "steps_per_epoch": steps_per_epoch,
        "epochs": int(trainer.current_epoch),
        "seed": int(cfg.seed),
        "dataset": choices.get("dataset", type(datamodule.source).__name__),
        "model": choices.get("model", str(cfg.model.get("_target_", "?")).rsplit(".", 1)[-1]),
        "sampler": choices.get("sampler", sampler.name),
        "loss": choices.get("loss", type(module.loss).__name__),
        "schedule": choices.get("schedule", "?"),
        "experiment": choices.get("experiment"),
        "sampler_settings": sampler.summary(),
        "num_train": datamodule.num_train,
        "num_test": len(datamodule.test_set),
        "augmented_classes": list(datamodule.augmented_classes),
        "class_names": list(datamodule.class_names),
        **datamodule.summary(),
        "world_size": int(trainer.world_size),
        "wall_time_s": float(wall_time_s),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "lightning": pl.__version__,
        },
        "device": str(module.device),
        "host": host_record(module.device),
    }


def cpu_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what the platform module says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_record(device) -> dict:
    """Which machine a run's wall times come from (the report prints it beside the seconds)."""
    record = {
        "name": platform.node(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
    }
    if torch.device(device).type == "cuda":
        record["gpu"] = torch.cuda.get_device_name(device)
    return record


def write_summary(output_dir: Path, summary: dict) -> None:
    write_json(Path(output_dir) / SUMMARY_FILE, summary)


def scalar_settings(node, prefix: str) -> dict:
    """A config group's scalar values (``sampler.gamma``), without ``_target_``."""
    if not isinstance(node, DictConfig):
        return {}
    try:
        values = OmegaConf.to_container(node, resolve=True)
    except Exception:  # an interpolation only Hydra's runtime resolves: leave the group out
        return {}
    return {
        f"{prefix}.{key}": value
        for key, value in values.items()
        if key != "_target_" and isinstance(value, (int, float, str, bool))
    }


def overridden_settings(cfg: DictConfig, choices: dict) -> dict:
    """What the command line set, typed as in the composed config: in a sweep, what varies."""
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = list(HydraConfig.get().overrides.task)
    except Exception:  # composed without Hydra's runtime
        return {}
    settings = {}
    for override in overrides:
        key = override.lstrip("+~").partition("=")[0]
        if key in choices:
            settings[key] = choices[key]
        elif key and key != "ckpt_path" and not key.startswith(("paths.", "hydra.")):
            value = OmegaConf.select(cfg, key, default=None)
            if isinstance(value, (int, float, str, bool)):
                settings[key] = value
    return settings


def log_hparams(trainer: pl.Trainer, cfg: DictConfig, summary: dict) -> None:
    """Fill TensorBoard's HPARAMS tab: main settings, sampler and loss settings, the command line's
    overrides (what a sweep varies), with best and final test accuracy.

    The session is written into the run's own TensorBoard folder, beside its curves, so TensorBoard
    lists one run per run folder (a session in a folder of its own is listed as a second run), and
    without an experiment summary: TensorBoard then builds the table's columns from every run's
    keys. With an experiment summary in each run it takes one run's keys, and a sweep over samplers
    with different settings would lose the others' columns. Its metric columns are the run's
    scalars, ``hparams/best_test_acc`` and ``hparams/final_test_acc`` among them.
    """
    from pytorch_lightning.core.saving import save_hparams_to_yaml
    from pytorch_lightning.loggers import TensorBoardLogger
    from torch.utils.tensorboard.summary import hparams as hparams_summary

    choices = {
        k: str(summary[k])
        for k in ("dataset", "model", "sampler", "loss", "schedule", "experiment")
        if summary.get(k) is not None
    }
    hparams = {
        **choices,
        "seed": summary["seed"],
        "lr": float(cfg.schedule.lr),
        "batch_size": int(cfg.schedule.batch_size),
        "max_epochs": int(cfg.schedule.max_epochs),
        **scalar_settings(cfg.get("sampler"), "sampler"),
        **scalar_settings(cfg.get("loss"), "loss"),
        **overridden_settings(cfg, choices),
    }
    if summary.get("excluded_classes"):  # a list: one text column, as the overrides cannot give it
        hparams["dataset.exclude_classes"] = ", ".join(map(str, summary["excluded_classes"]))
    metrics = {
        "hparams/best_test_acc": summary["best_test_acc"],
        "hparams/final_test_acc": summary["final_test_acc"],
    }
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            save_hparams_to_yaml(Path(logger.log_dir) / "hparams.yaml", hparams)
            _, session_start, session_end = hparams_summary(hparams, metrics)
            writer = logger.experiment
            writer._get_file_writer().add_summary(session_start)
            writer._get_file_writer().add_summary(session_end)
            for name, value in metrics.items():
                writer.add_scalar(name, value, trainer.global_step)
            logger.finalize("success")
        elif hasattr(logger, "log_hyperparams"):
            logger.log_hyperparams(hparams, metrics)
            logger.finalize("success")
