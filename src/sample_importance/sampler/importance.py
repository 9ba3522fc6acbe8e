"""``sampler=importance``: uniform epochs until E, then draws by the method's weights (``method.py``).

When comes from a burn-in rule (``burn_in.py``): at the end of epoch E (before the first epoch for
E = 0), or once consecutive weights agree (``burn_in_epochs=auto``). What is drawn comes from a
weight source: the method's scoring pass (``method.ScoringPassWeights``) or one of the
paper's ablations (``ablations.py``). SGD-SCI (``class_importance.py``) builds on this callback.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
import torch

from sample_importance.sampler import diagnostics
from sample_importance.sampler.ablations import UnbiasedLossWeight, weight_source
from sample_importance.sampler.base import SamplerCallback
from sample_importance.sampler.burn_in import burn_in_rule
from sample_importance.sampler.method import Scores, check_weight_settings, save_sample_weights

log = logging.getLogger(__name__)


class ImportanceSampling(SamplerCallback):
    """Uniform epochs until E, then one scoring pass and draws by w_i = (1 - p_i)^gamma.

    Args:
        burn_in_epochs: E, uniform epochs before the switch (0: weights from the untrained model),
            or ``"auto"`` (``burn_in.py``: switch once consecutive weights agree).
        gamma: the focusing parameter.
        weight_floor: lower bound for every weight (0 reproduces the paper; a small floor keeps
            learned samples in play on easy data where most p_true reach 1).
        unbiased: weight each sample's loss by 1 / (N P(i)) (Appendix E.3).
        auto_spearman_threshold, auto_max_burn_in_epochs: ``burn_in_epochs=auto``'s settings.
        **ablations: where the weights come from instead of the method's scoring pass (``score``,
            ``weights_file``, ``weights_order``, ``score_source``); ``ablations.py`` documents and
            checks them.
    """

    name = "importance"

    def __init__(
        self,
        burn_in_epochs: int | str = 5,
        gamma: float = 0.5,
        weight_floor: float = 0.0,
        unbiased: bool = False,
        auto_spearman_threshold: float = 0.9,
        auto_max_burn_in_epochs: int = 10,
        **ablations,
    ) -> None:
        self.gamma, self.weight_floor = check_weight_settings(gamma, weight_floor)
        self.burn_in_epochs = burn_in_epochs
        self.source = weight_source(**ablations)
        self.burn_in = burn_in_rule(
            burn_in_epochs, self.source, auto_spearman_threshold, auto_max_burn_in_epochs
        )
        self.unbiased = bool(unbiased)
        self.sample_loss_weight = UnbiasedLossWeight() if self.unbiased else None
        self.switched_after_epoch: int | None = None  # restored from checkpoints: never score twice
        self.scoring_seconds = 0.0
        self.fallback = ""

    def hparams(self) -> dict:
        source = self.source.hparams()
        return {
            "burn_in_epochs": self.burn_in_epochs,
            "gamma": self.gamma,
            "weight_floor": self.weight_floor,
            "score": source.pop("score"),
            "unbiased": self.unbiased,
            **source,
            **self.burn_in.hparams(),
        }

    def validate(self, max_epochs: int) -> None:
        self.burn_in.validate(max_epochs)

    # -- when: the burn-in rule, asked before the first epoch and after each until the switch --
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.validate(trainer.max_epochs)
        if self.unbiased:
            self.sample_loss_weight.sampler = trainer.datamodule.train_sampler()
        if self.switched_after_epoch is not None:
            return
        self.source.check(trainer)  # a wrong weights file fails now, not after E epochs
        self.ask_burn_in(trainer, pl_module, 0)  # E = 0 switches before the first epoch's iterator is made

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.switched_after_epoch is None:
            self.source.epoch_starts(self.burn_in.is_last_burn_in_epoch(trainer.current_epoch), trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.source.batch_ends(outputs)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.switched_after_epoch is None:
            self.ask_burn_in(trainer, pl_module, trainer.current_epoch + 1)

    def ask_burn_in(self, trainer: pl.Trainer, pl_module: pl.LightningModule, epochs_done: int) -> None:
        scored = self.burn_in.weights_at(epochs_done, lambda: self.weigh(trainer, pl_module), trainer)
        if scored is not None:
            self.switch(trainer, pl_module, epochs_done, scored)

    # -- what: scores, weights, the switch -------------------------------------------------
    def weigh(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> tuple[Scores, torch.Tensor, str]:
        """Every sample's scores, weights and fallback from the source (collective), timed."""
        scores = self.source.scores(trainer, pl_module)
        self.scoring_seconds += scores.seconds
        return scores, *self.source.weights(scores, self.gamma, self.weight_floor)

    def final_weights(
        self, weights: torch.Tensor, labels: torch.Tensor, num_classes: int
    ) -> tuple[torch.Tensor, dict]:
        """The weights the sampler draws by, extra fields for ``sample_weights.pt`` (SGD-SCI changes them)."""
        return weights, {}

    def switch(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        epochs_done: int,
        scored: tuple[Scores, torch.Tensor, str],
    ) -> None:
        scores, weights, self.fallback = scored
        if self.fallback:
            log.warning(
                "every importance weight is zero (all hardness 0 with gamma=%s): drawing uniformly "
                "with replacement instead; set sampler.weight_floor > 0 to keep a floor",
                self.gamma,
            )
        weights, extra = self.final_weights(weights, scores.label, trainer.datamodule.num_classes)
        trainer.datamodule.train_sampler().set_weights(weights)
        self.switched_after_epoch = epochs_done
        output_dir = Path(trainer.default_root_dir)
        if trainer.is_global_zero:
            save_sample_weights(
                output_dir / "sample_weights.pt",
                epochs_done,
                self.gamma,
                scores,
                weights,
                fallback=self.fallback,
                unbiased=self.unbiased,
                weight_floor=self.weight_floor,
                **self.source.record(scores),
                **extra,
            )
        diagnostics.log_switch(trainer, scores, weights, self.scoring_seconds, self.chosen_burn_in())
        log.info(
            "sampler switched to importance weights (%s) after epoch %d (scoring took %.2f s in all)",
            scores.score,
            epochs_done,
            self.scoring_seconds,
        )
        if epochs_done > 0:
            trainer.save_checkpoint(output_dir / "checkpoints" / f"burn_in_end_epoch{epochs_done}.ckpt")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Resuming from the checkpoint written at the switch purges TensorBoard from that step on
        # (train.py): the switch is logged again, from sample_weights.pt.
        if not trainer.ckpt_path or not self.switched_after_epoch:
            return
        if trainer.global_step == self.switched_after_epoch * pl_module.steps_per_epoch():
            diagnostics.log_switch_again(trainer, self.scoring_seconds, self.chosen_burn_in())

    def chosen_burn_in(self) -> int | None:
        """The E that the burn-in rule chose (None: E was given, or not chosen yet)."""
        return self.burn_in.chosen(self.switched_after_epoch)

    # -- checkpoint and summary ----------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "switched_after_epoch": self.switched_after_epoch,
            "scoring_seconds": self.scoring_seconds,
            "fallback": self.fallback,
            **self.burn_in.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.switched_after_epoch = state["switched_after_epoch"]
        self.scoring_seconds = state.get("scoring_seconds", 0.0)
        self.fallback = state.get("fallback", "")
        self.burn_in.load_state_dict(state)

    def summary(self) -> dict:
        return {
            **self.hparams(),
            "switched_after_epoch": self.switched_after_epoch,
            "scoring_time_s": self.scoring_seconds,
            "weights_fallback": self.fallback or None,
            **self.burn_in.summary(self.switched_after_epoch),
        }
