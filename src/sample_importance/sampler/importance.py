"""``sampler=importance``: uniform epochs until E, then draws by the method's weights (``method.py``).

The callback decides when: at the end of epoch E (before the first epoch for E = 0, or once
consecutive weights agree with ``burn_in_epochs=auto``: ``auto_burn_in.py``). What is drawn comes
from a weight source: the method's scoring pass (``method.ScoringPassWeights``) or one of the
paper's ablations (``ablations.py``). SGD-SCI (``class_importance.py``) builds on this callback.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
import torch

from sample_importance.config_checks import check_burn_in
from sample_importance.sampler import diagnostics
from sample_importance.sampler.ablations import UnbiasedLossWeight, weight_source
from sample_importance.sampler.base import SamplerCallback
from sample_importance.sampler.method import Scores, check_weight_settings, save_sample_weights

log = logging.getLogger(__name__)


class ImportanceSampling(SamplerCallback):
    """Uniform epochs until E, then one scoring pass and draws by w_i = (1 - p_i)^gamma.

    Args:
        burn_in_epochs: E, uniform epochs before the switch (0: weights from the untrained model),
            or ``"auto"`` (``auto_burn_in.py``: switch once consecutive weights agree).
        gamma: the focusing parameter.
        weight_floor: lower bound for every weight (0 reproduces the paper; a small floor keeps
            learned samples in play on easy data where most p_true reach 1).
        unbiased: weight each sample's loss by 1 / (N P(i)) (Appendix E.3).
        **ablations: where the weights come from instead of the method's scoring pass (``score``,
            ``weights_file``, ``weights_order``, ``score_source``) and the ``auto_*`` settings;
            ``ablations.py`` documents and checks them.
    """

    name = "importance"

    def __init__(
        self,
        burn_in_epochs: int | str = 5,
        gamma: float = 0.5,
        weight_floor: float = 0.0,
        unbiased: bool = False,
        **ablations,
    ) -> None:
        self.gamma, self.weight_floor = check_weight_settings(gamma, weight_floor)
        self.burn_in_epochs = burn_in_epochs
        self.source, self.auto = weight_source(burn_in_epochs, **ablations)
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
            **(self.auto.hparams() if self.auto else {}),
        }

    def validate(self, max_epochs: int) -> None:
        if self.auto is None:
            check_burn_in("sampler.burn_in_epochs", self.burn_in_epochs, max_epochs)
        else:
            self.auto.validate(max_epochs)

    # -- when: at the end of epoch E (before the first epoch for E = 0) ----------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.validate(trainer.max_epochs)
        if self.unbiased:
            self.sample_loss_weight.sampler = trainer.datamodule.train_sampler()
        if self.switched_after_epoch is not None:
            return
        self.source.check(trainer)  # a wrong weights file fails now, not after E epochs
        if self.auto is not None and not self.auto.started:
            self.observe_for_auto(trainer, pl_module, 0)  # the untrained model's weights, E = 0
        elif self.auto is None and self.burn_in_epochs == 0:
            self.switch(trainer, pl_module, 0)  # before the first epoch's iterator is made

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.switched_after_epoch is None:
            self.source.epoch_starts(trainer.current_epoch + 1 == self.burn_in_epochs, trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.source.batch_ends(outputs)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.switched_after_epoch is not None:
            return
        epochs_done = trainer.current_epoch + 1
        if self.auto is not None:
            self.observe_for_auto(trainer, pl_module, epochs_done)
        elif epochs_done == self.burn_in_epochs:
            self.switch(trainer, pl_module, epochs_done)

    def observe_for_auto(self, trainer: pl.Trainer, pl_module: pl.LightningModule, epochs_done: int) -> None:
        scored = self.weigh(trainer, pl_module)
        rho = self.auto.observe(epochs_done, scored[1])
        if rho is not None:
            log.info(
                "burn_in_epochs=auto: Spearman rho between the weights of epochs %d and %d is %.4f",
                epochs_done - 1,
                epochs_done,
                rho,
            )
            for writer in diagnostics.tensorboard_writers(trainer):
                writer.add_scalar("importance/auto_burn_in_spearman", rho, trainer.global_step)
        if self.auto.should_switch(epochs_done):
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
        scored: tuple[Scores, torch.Tensor, str] | None = None,
    ) -> None:
        scores, weights, self.fallback = scored or self.weigh(trainer, pl_module)
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
        """The E that ``burn_in_epochs=auto`` chose (None: E was fixed, or not chosen yet)."""
        return self.switched_after_epoch if self.auto is not None else None

    # -- checkpoint and summary ----------------------------------------------------------
    def state_dict(self) -> dict:
        state = {
            "switched_after_epoch": self.switched_after_epoch,
            "scoring_seconds": self.scoring_seconds,
            "fallback": self.fallback,
        }
        return {**state, "auto": self.auto.state_dict()} if self.auto is not None else state

    def load_state_dict(self, state: dict) -> None:
        self.switched_after_epoch = state["switched_after_epoch"]
        self.scoring_seconds = state.get("scoring_seconds", 0.0)
        self.fallback = state.get("fallback", "")
        if self.auto is not None and state.get("auto"):
            self.auto.load_state_dict(state["auto"])

    def summary(self) -> dict:
        record = {
            **self.hparams(),
            "switched_after_epoch": self.switched_after_epoch,
            "scoring_time_s": self.scoring_seconds,
            "weights_fallback": self.fallback or None,
        }
        if self.auto is not None:
            record["burn_in_epochs_chosen"] = self.switched_after_epoch
            record["auto_spearman_history"] = [list(item) for item in self.auto.history]
        return record
