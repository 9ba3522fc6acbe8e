"""The method computed online (paper Appendix E.1): importance weights updated after every batch.

Like ``sampler=importance``: ``burn_in_epochs`` uniform epochs, then the whole training set is
scored once (eval mode, the same pass and the same Eq. (4) weights w_i = (1 - p_i)^gamma).
From then on every batch's p_true, read from the training forward pass's softmax (train mode,
augmented, as trained), replaces the stored p_i of the samples in it, and the weights are
recomputed after every ``refresh_every_n_batches`` batches. The sampler draws one global batch
at a time, so batch t is drawn from the weights as batch t - 1 left them (with loader workers,
``prefetch_factor x num_workers`` batches later; see ``updating.py``). The paper reports that
this online variant does worse than computing the weights once. ``sample_weights.pt`` records
the weights of the scoring pass, as ``sampler=importance`` does (the report's class importance).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
import torch

from sample_importance.sampler import diagnostics
from sample_importance.sampler.method import (
    check_weight_settings,
    importance_weights,
    save_sample_weights,
    scoring_pass,
)
from sample_importance.sampler.updating import LatestValues, UpdatingSampling, p_true_of

log = logging.getLogger(__name__)


class OnlineImportanceSampling(UpdatingSampling):
    """Eq. (4) weights, scored at the end of epoch E, then updated from every batch's p_true.

    Args:
        burn_in_epochs: E, uniform epochs before the scoring pass.
        gamma: the focusing parameter, as in ``sampler=importance``.
        weight_floor: lower bound for every weight, as in ``sampler=importance``.
        refresh_every_n_batches: recompute the weights after every n-th batch (1 = every batch,
            the paper's "after every iteration"; 0 = at epoch ends only).
    """

    name = "importance_online"
    store_class = LatestValues

    def __init__(
        self,
        burn_in_epochs: int = 5,
        gamma: float = 0.5,
        weight_floor: float = 0.0,
        refresh_every_n_batches: int = 1,
    ) -> None:
        super().__init__(burn_in_epochs, refresh_every_n_batches)
        self.gamma, self.weight_floor = check_weight_settings(gamma, weight_floor)
        self.scoring_seconds = 0.0
        self.fallback_refreshes = 0  # refreshes where every weight was zero (drawn uniformly)

    def hparams(self) -> dict:
        return {**super().hparams(), "gamma": self.gamma, "weight_floor": self.weight_floor}

    def batch_values(self, outputs: dict) -> torch.Tensor:
        return p_true_of(outputs)

    def start_weighting(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        scores = scoring_pass(pl_module, trainer.datamodule)  # collective: every rank
        self.store.value = scores.p_true.double().clone()
        self.store.seen.fill_(True)
        self.scoring_seconds = scores.seconds
        super().start_weighting(trainer, pl_module)
        weights = trainer.datamodule.train_sampler().weights
        if trainer.is_global_zero:  # the weights at the switch, as sampler=importance records them
            fallback = "uniform" if self.fallback_refreshes else ""
            save_sample_weights(
                Path(trainer.default_root_dir) / "sample_weights.pt",
                self.burn_in_epochs,
                self.gamma,
                scores,
                weights,
                fallback=fallback,
                unbiased=False,
                weight_floor=self.weight_floor,
                score="p_true",
            )
        diagnostics.log_switch(trainer, scores, weights, scores.seconds)
        log.info(
            "sampler switched to online importance weights after epoch %d (scoring took %.2f s)",
            self.burn_in_epochs,
            scores.seconds,
        )

    def compute_weights(self) -> torch.Tensor:
        weights, fallback = importance_weights(self.store.value, self.gamma, self.weight_floor)
        if fallback:
            if not self.fallback_refreshes:
                log.warning(
                    "every online importance weight is zero (all p_true = 1): drawing uniformly with "
                    "replacement until some sample is missed again; sampler.weight_floor > 0 avoids it"
                )
            self.fallback_refreshes += 1
        return weights

    def state_dict(self) -> dict:
        return {
            **super().state_dict(),
            "scoring_seconds": self.scoring_seconds,
            "fallback_refreshes": self.fallback_refreshes,
        }

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.scoring_seconds = float(state.get("scoring_seconds", 0.0))
        self.fallback_refreshes = int(state.get("fallback_refreshes", 0))

    def summary(self) -> dict:
        return {
            **super().summary(),
            "scoring_time_s": self.scoring_seconds,
            "fallback_refreshes": self.fallback_refreshes,
        }
