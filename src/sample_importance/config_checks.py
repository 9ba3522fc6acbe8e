"""Config checks that run before anything heavy is imported, so a typo fails in a second.

Each check raises ``ConfigError`` naming the key and what is allowed. Here are the checks of
values that no single constructor owns (the schedule, the seed, the trainer, paths) and the
helpers the constructors use; a sampler checks its own values (``sampler/base.py``).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sample_importance.errors import ConfigError, UserError

log = logging.getLogger(__name__)


def is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def check_finite_number(key: str, value) -> float:
    if not is_number(value) or not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value!r}")
    return float(value)


def check_int_at_least(key: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return value


def check_burn_in(key: str, burn_in_epochs, max_epochs: int) -> int:
    check_int_at_least(key, burn_in_epochs, 0)
    if burn_in_epochs >= max_epochs:
        raise ConfigError(
            f"{key} must be in [0, {max_epochs}) (schedule.max_epochs={max_epochs}), got {burn_in_epochs}"
        )
    return burn_in_epochs


def check_checkpoint_path(path) -> Path:
    path = Path(str(path))
    if not path.is_file():
        raise UserError(f"ckpt_path={path}: no such file")
    return path


def check_sampler_files(sampler) -> None:
    for key in ("scores_file",):
        if key not in sampler.keys():  # `in` alone is False for a missing (???) value
            continue
        if OmegaConf.is_missing(sampler, key):
            raise ConfigError(
                f"sampler.{key} is required: a .npy or .pt file with one value per training sample"
            )
        value = sampler[key]
        for path in [] if value is None else [value] if isinstance(value, str) else list(value):
            if not Path(str(path)).is_file():
                raise UserError(f"sampler.{key}={path}: no such file")


def milestones_after_the_run(cfg: DictConfig, max_epochs: int) -> str | None:
    """A one-line warning when learning-rate milestones fall at or after the last epoch (they never apply)."""
    milestones = OmegaConf.select(cfg, "schedule.lr_milestones_epochs", default=None)
    late = [int(m) for m in milestones or [] if is_number(m) and m >= max_epochs]
    if not late:
        return None
    never = (
        "never decays" if len(late) == len(milestones) else f"does not decay at {', '.join(map(str, late))}"
    )
    return (
        f"schedule.lr_milestones_epochs={list(milestones)} with schedule.max_epochs={max_epochs}: "
        "the learning rate "
        f"{never} (milestones are epochs; set schedule.lr_milestones_epochs for a shorter run)"
    )


def validate(cfg: DictConfig) -> None:
    """Checks of the composed config that need no data and no model."""
    check_int_at_least("schedule.max_epochs", OmegaConf.select(cfg, "schedule.max_epochs"), 1)
    check_int_at_least("schedule.batch_size", OmegaConf.select(cfg, "schedule.batch_size"), 1)
    seed = check_int_at_least("seed", cfg.get("seed"), 0)
    if seed >= 2**32:  # numpy's and Lightning's seeds are 32-bit
        raise ConfigError(f"seed must be below 2^32 = {2**32}, got {seed}")
    strategy = OmegaConf.select(cfg, "trainer.strategy", default=None)
    if isinstance(strategy, str) and "spawn" in strategy:
        raise ConfigError(
            f"trainer.strategy={strategy} is not supported: a spawned process trains a copy of the "
            f"model that the test and summary never see; use trainer=ddp_cpu (CPUs) or trainer=ddp (GPUs)"
        )
    lr = check_finite_number("schedule.lr", OmegaConf.select(cfg, "schedule.lr"))
    if lr <= 0:
        raise ConfigError(f"schedule.lr must be positive, got {lr}")
    check_sampler_files(cfg.get("sampler") or {})
    loss = cfg.get("loss") or {}
    if "gamma" in loss:
        check_finite_number("loss.gamma", loss.gamma)
    data_dir = Path(str(OmegaConf.select(cfg, "paths.data_dir")))
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"paths.data_dir={data_dir} is a file, not a folder")
    if cfg.get("ckpt_path"):
        check_checkpoint_path(cfg.ckpt_path)
