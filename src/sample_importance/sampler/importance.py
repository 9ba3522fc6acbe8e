"""The paper's method: after E uniform epochs, draw samples in proportion to (1 - p_true)^gamma.

Eq. (4): w_i = (1 - f_E(x_i)_{y_i})^gamma, P(i) = w_i / sum_j w_j, with replacement, N draws
per epoch (so iterations per epoch and the learning-rate schedule do not change).
gamma > 0 favours hard samples, gamma < 0 easy ones, gamma = 0 is uniform with replacement.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from sample_importance.config_checks import check_burn_in, check_finite_number, check_int_at_least
from sample_importance.errors import ConfigError
from sample_importance.sampler import diagnostics
from sample_importance.sampler.scoring import Scores, score_training_set

log = logging.getLogger(__name__)

# For gamma < 0 a sample with p_true = 1 would get an infinite weight; its hardness 1 - p is
# raised to this value first (float32 softmax cannot resolve 1 - p below ~6e-8 anyway).
MIN_HARDNESS = 1e-7


def importance_weights(p_true: torch.Tensor, gamma: float, weight_floor: float = 0.0) -> tuple[torch.Tensor, str]:
    """w = max((1 - p)^gamma, weight_floor) in float64, and what was done about degenerate weights.

    Returns ``(weights, fallback)``: ``fallback`` is ``""`` normally and ``"uniform"`` when every
    weight is zero (every sample learned perfectly with gamma > 0): the draw then stays uniform
    with replacement instead of failing, and the fallback is logged and recorded.
    """
    hardness = (1.0 - p_true.double()).clamp(min=0.0, max=1.0)
    if gamma < 0:
        hardness = hardness.clamp(min=MIN_HARDNESS)
    weights = hardness.pow(gamma)
    if weight_floor > 0:
        weights = weights.clamp(min=weight_floor)
    if not weights.sum() > 0:
        return torch.ones_like(weights), "uniform"
    return weights, ""


def save_sample_weights(path: Path, epoch: int, gamma: float, scores: Scores, weights: torch.Tensor, **extra) -> None:
    """Write ``sample_weights.pt`` (the format the report and ``score`` share)."""
    record = {
        "epoch": int(epoch),
        "gamma": float(gamma),
        "index": torch.arange(len(weights)),
        "label": scores.label.clone(),
        "p_true": scores.p_true.double().clone(),
        "weight": weights.double().clone(),
        **extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(record, path)


class ImportanceSampling(Callback):
    """Scores the training set once, at the end of epoch E, and switches the sampler to w_i.

    Args:
        burn_in_epochs: E, uniform epochs before the switch (0: weights from the untrained model).
        gamma: the focusing parameter.
        weight_floor: lower bound for every weight (0 reproduces the paper; a small floor keeps
            learned samples in play on easy data where most p_true reach 1).
    """

    name = "importance"

    def __init__(self, burn_in_epochs: int = 5, gamma: float = 0.5, weight_floor: float = 0.0) -> None:
        check_finite_number("sampler.gamma", gamma)
        check_int_at_least("sampler.burn_in_epochs", burn_in_epochs, 0)
        if check_finite_number("sampler.weight_floor", weight_floor) < 0:
            raise ConfigError(f"sampler.weight_floor must be >= 0, got {weight_floor}")
        self.burn_in_epochs = burn_in_epochs
        self.gamma = float(gamma)
        self.weight_floor = float(weight_floor)
        self.switched_after_epoch: int | None = None  # restored from checkpoints: never score twice
        self.scoring_seconds = 0.0
        self.fallback = ""

    def hparams(self) -> dict:
        return {"burn_in_epochs": self.burn_in_epochs, "gamma": self.gamma, "weight_floor": self.weight_floor}

    def validate(self, max_epochs: int) -> None:
        check_burn_in("sampler.burn_in_epochs", self.burn_in_epochs, max_epochs)

    # -- hooks --------------------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.validate(trainer.max_epochs)
        if self.burn_in_epochs == 0 and self.switched_after_epoch is None:
            self.switch(trainer, pl_module)  # before the first epoch's iterator is made

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch + 1 == self.burn_in_epochs and self.switched_after_epoch is None:
            self.switch(trainer, pl_module)

    def switch(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        datamodule = trainer.datamodule
        scores = score_training_set(pl_module, datamodule)
        weights, self.fallback = importance_weights(scores.p_true, self.gamma, self.weight_floor)
        if self.fallback:
            log.warning(
                "every importance weight is zero (all p_true = 1 with gamma=%s): drawing uniformly with "
                "replacement instead; set sampler.weight_floor > 0 to keep a floor", self.gamma,
            )
        datamodule.train_sampler().set_weights(weights)
        self.switched_after_epoch = self.burn_in_epochs
        self.scoring_seconds = scores.seconds
        output_dir = Path(trainer.default_root_dir)
        if trainer.is_global_zero:
            save_sample_weights(output_dir / "sample_weights.pt", self.burn_in_epochs, self.gamma, scores, weights,
                                fallback=self.fallback, weight_floor=self.weight_floor)
        diagnostics.log_switch(trainer, datamodule, scores, weights, scores.seconds)
        log.info("sampler switched to importance weights after epoch %d (scoring took %.2f s)",
                 self.burn_in_epochs, scores.seconds)
        if self.burn_in_epochs > 0:
            trainer.save_checkpoint(output_dir / "checkpoints" / f"burn_in_end_epoch{self.burn_in_epochs}.ckpt")

    # -- checkpoint ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"switched_after_epoch": self.switched_after_epoch, "scoring_seconds": self.scoring_seconds,
                "fallback": self.fallback}

    def load_state_dict(self, state: dict) -> None:
        self.switched_after_epoch = state["switched_after_epoch"]
        self.scoring_seconds = state.get("scoring_seconds", 0.0)
        self.fallback = state.get("fallback", "")

    def summary(self) -> dict:
        return {**self.hparams(), "switched_after_epoch": self.switched_after_epoch,
                "scoring_time_s": self.scoring_seconds, "weights_fallback": self.fallback or None}
