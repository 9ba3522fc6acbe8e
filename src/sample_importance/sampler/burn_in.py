"""When ``sampler=importance`` switches: a burn-in rule says after which epoch, given the weights.

``ImportanceSampling`` asks its rule at the start of training (0 epochs done) and at the end of
every epoch until the switch; the rule computes the weights (``weigh()``, a scoring pass) only
when it needs them and returns them when it is time to switch:

- ``FixedBurnIn(E)``: ``sampler.burn_in_epochs=E``, weights once, after epoch E (E = 0: at the
  start of training, before the first epoch's draws);
- ``AutoBurnIn``: ``sampler.burn_in_epochs=auto``, weights before training and after every
  epoch; the switch at the first epoch E whose weights have a Spearman rank correlation with
  epoch E-1's of at least ``threshold`` (the paper's Figure 9 measures the same correlation
  between consecutive E), or at ``max_epochs`` if none does.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import pytorch_lightning as pl
import torch

from sample_importance.config_checks import check_burn_in, check_finite_number, check_int_at_least
from sample_importance.errors import ConfigError
from sample_importance.report.metrics import spearman
from sample_importance.sampler import diagnostics
from sample_importance.sampler.ablations import FileWeights, TrainForwardWeights

log = logging.getLogger(__name__)

Weigh = Callable[[], tuple]  # () -> (scores, weights, fallback): every sample's, from the weight source


class BurnInRule:
    """What a rule answers; the defaults are those of a rule that has nothing to add."""

    def hparams(self) -> dict:
        """Settings beyond ``burn_in_epochs`` (the sampler records that one)."""
        return {}

    def validate(self, max_epochs: int) -> None:
        """Check the rule against the schedule; raise a one-line ``ConfigError``."""

    def weights_at(self, epochs_done: int, weigh: Weigh, trainer: pl.Trainer) -> tuple | None:
        """The weights to switch to after ``epochs_done`` epochs, or None to stay uniform."""
        raise NotImplementedError

    def is_last_burn_in_epoch(self, epoch_index: int) -> bool:
        """Whether epoch ``epoch_index`` (from 0) is the last uniform one, the one whose steps a
        weight source may record (``score_source=train_forward``)."""
        return False

    def chosen(self, switched_after_epoch: int | None) -> int | None:
        """The E this rule chose (None: E was given)."""
        return None

    def state_dict(self) -> dict:
        """The rule's entries in the sampler's checkpoint state."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore from the sampler's checkpoint state."""

    def summary(self, switched_after_epoch: int | None) -> dict:
        """The rule's entries in ``summary.json``'s ``sampler_settings``."""
        return {}


class FixedBurnIn(BurnInRule):
    """``sampler.burn_in_epochs=E``: the switch after epoch E."""

    def __init__(self, epochs: int) -> None:
        self.epochs = check_int_at_least("sampler.burn_in_epochs", epochs, 0)

    def validate(self, max_epochs: int) -> None:
        check_burn_in("sampler.burn_in_epochs", self.epochs, max_epochs)

    def weights_at(self, epochs_done: int, weigh: Weigh, trainer: pl.Trainer) -> tuple | None:
        return weigh() if epochs_done == self.epochs else None

    def is_last_burn_in_epoch(self, epoch_index: int) -> bool:
        return epoch_index + 1 == self.epochs


class AutoBurnIn(BurnInRule):
    """``sampler.burn_in_epochs=auto``: the switch once consecutive epochs' weights agree.

    Args:
        threshold: ``sampler.auto_spearman_threshold``, the rho in [-1, 1] that ends the burn-in.
        max_epochs: ``sampler.auto_max_burn_in_epochs``, the latest E (``validate`` caps it at the
            run's max_epochs - 1).
    """

    def __init__(self, threshold: float, max_epochs: int) -> None:
        self.threshold = check_finite_number("sampler.auto_spearman_threshold", threshold)
        if not -1 <= self.threshold <= 1:
            raise ConfigError(f"sampler.auto_spearman_threshold must be in [-1, 1], got {threshold}")
        self.max_burn_in = check_int_at_least("sampler.auto_max_burn_in_epochs", max_epochs, 1)
        self.max_epochs = self.max_burn_in  # the latest E in this run
        self.previous: torch.Tensor | None = None  # the last weights seen
        self.history: list[tuple[int, float]] = []  # (epochs done, rho with the epoch before)

    def hparams(self) -> dict:
        return {"auto_spearman_threshold": self.threshold, "auto_max_burn_in_epochs": self.max_burn_in}

    def validate(self, max_epochs: int) -> None:
        if max_epochs < 2:
            raise ConfigError(f"sampler.burn_in_epochs=auto needs schedule.max_epochs >= 2, got {max_epochs}")
        self.max_epochs = min(self.max_burn_in, max_epochs - 1)

    def weights_at(self, epochs_done: int, weigh: Weigh, trainer: pl.Trainer) -> tuple | None:
        if epochs_done <= self.last_seen():
            return None  # a resumed run: these weights are in the history already
        scored = weigh()
        rho = self.observe(epochs_done, scored[1])
        if rho is not None:
            log.info(
                "burn_in_epochs=auto: Spearman rho between the weights of epochs %d and %d is %.4f",
                epochs_done - 1,
                epochs_done,
                rho,
            )
            for writer in diagnostics.tensorboard_writers(trainer):
                writer.add_scalar("importance/auto_burn_in_spearman", rho, trainer.global_step)
        return scored if self.should_switch(epochs_done) else None

    def chosen(self, switched_after_epoch: int | None) -> int | None:
        return switched_after_epoch

    def last_seen(self) -> int:
        """The epochs done when the last weights were seen (-1: none yet)."""
        if self.history:
            return self.history[-1][0]
        return 0 if self.previous is not None else -1

    def observe(self, epochs_done: int, weights: torch.Tensor) -> float | None:
        """Record epoch ``epochs_done``'s weights; the correlation with the last (None the first time)."""
        weights = weights.detach().double().cpu().clone()
        rho = None
        if self.previous is not None:
            rho = spearman(self.previous.numpy(), weights.numpy())
            self.history.append((int(epochs_done), rho))
        self.previous = weights
        return rho

    def should_switch(self, epochs_done: int) -> bool:
        if epochs_done >= self.max_epochs:
            return True
        if not self.history or self.history[-1][0] != epochs_done:
            return False
        rho = self.history[-1][1]
        return not math.isnan(rho) and rho >= self.threshold

    # Under "auto" in the sampler's state, as in every checkpoint written since auto exists.
    def state_dict(self) -> dict:
        return {"auto": {"previous": self.previous, "history": [list(item) for item in self.history]}}

    def load_state_dict(self, state: dict) -> None:
        auto = state.get("auto")
        if auto:
            self.previous = auto.get("previous")
            self.history = [(int(e), float(r)) for e, r in auto.get("history", [])]

    def summary(self, switched_after_epoch: int | None) -> dict:
        return {
            "burn_in_epochs_chosen": switched_after_epoch,
            "auto_spearman_history": [list(item) for item in self.history],
        }


def burn_in_rule(
    burn_in_epochs: int | str, source, auto_spearman_threshold: float, auto_max_burn_in_epochs: int
) -> BurnInRule:
    """The rule that ``sampler.burn_in_epochs`` asks for, checked against the weight source."""
    rule = FixedBurnIn(burn_in_epochs) if burn_in_epochs != "auto" else None
    if isinstance(source, TrainForwardWeights) and (rule is None or rule.epochs == 0):
        raise ConfigError(
            "sampler.score_source=train_forward needs a fixed sampler.burn_in_epochs >= 1 "
            "(it reads epoch E's training steps)"
        )
    if rule is not None:
        return rule
    if isinstance(source, FileWeights):
        raise ConfigError(
            "sampler.burn_in_epochs=auto needs scoring; it cannot be combined with sampler.weights_file"
        )
    if not source.needs_model:
        raise ConfigError("sampler.burn_in_epochs=auto needs a model-based score, not sampler.score=random")
    return AutoBurnIn(auto_spearman_threshold, auto_max_burn_in_epochs)
