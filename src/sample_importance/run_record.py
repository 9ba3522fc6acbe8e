"""What a run checks before it starts and what it leaves behind (``summary.json``, HPARAMS).

Other tools (the report, the benchmarks) read these files; keep the keys stable.
"""

from __future__ import annotations

import platform
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from sample_importance.cli import write_json
from sample_importance.config_checks import check_checkpoint_path
from sample_importance.errors import UserError

SUMMARY_FILE = "summary.json"


def check_checkpoint(path) -> None:
    """A checkpoint that cannot be read is a one-line error before training starts."""
    path = check_checkpoint_path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise UserError(f"ckpt_path={path} is not a readable checkpoint ({type(error).__name__}: {error})") from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserError(f"ckpt_path={path} is not a Lightning checkpoint (no state_dict)")


def hydra_choices() -> dict:
    try:
        from hydra.core.hydra_config import HydraConfig

        return dict(HydraConfig.get().runtime.choices)
    except Exception:  # composed without Hydra's runtime (tests, notebooks)
        return {}


def summarize(cfg: DictConfig, trainer: pl.Trainer, datamodule, module, strategy, wall_time_s: float) -> dict:
    history = module.test_acc_history
    best_step, best_acc = max(history, key=lambda item: (item[1], -item[0])) if history else (None, float("nan"))
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
        "sampler": choices.get("sampler", getattr(strategy, "name", type(strategy).__name__)),
        "loss": choices.get("loss", type(module.loss).__name__),
        "schedule": choices.get("schedule", "?"),
        "experiment": choices.get("experiment"),
        "sampler_settings": strategy.summary(),
        "num_train": datamodule.num_train,
        "num_test": len(datamodule.test_set),
        "augmented_classes": list(datamodule.augmented_classes),
        "class_names": list(datamodule.class_names),
        "world_size": int(trainer.world_size),
        "wall_time_s": float(wall_time_s),
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "lightning": pl.__version__},
        "device": str(module.device),
    }


def write_summary(output_dir: Path, summary: dict) -> None:
    write_json(Path(output_dir) / SUMMARY_FILE, summary)


def log_hparams(trainer: pl.Trainer, cfg: DictConfig, summary: dict) -> None:
    """Fill TensorBoard's HPARAMS tab: the run's main settings with best and final accuracy."""
    hparams = {
        "dataset": summary["dataset"], "model": summary["model"], "sampler": summary["sampler"],
        "loss": summary["loss"], "schedule": summary["schedule"], "seed": summary["seed"],
        "lr": float(cfg.schedule.lr), "batch_size": int(cfg.schedule.batch_size),
        "max_epochs": int(cfg.schedule.max_epochs),
    }
    for key, value in summary["sampler_settings"].items():
        if isinstance(value, (int, float, str, bool)):
            hparams[f"sampler.{key}"] = value
    metrics = {"hparams/best_test_acc": summary["best_test_acc"], "hparams/final_test_acc": summary["final_test_acc"]}
    for logger in trainer.loggers:
        if hasattr(logger, "log_hyperparams"):
            logger.log_hyperparams(hparams, metrics)
            logger.finalize("success")
