"""The paper's method: after E uniform epochs, draw samples in proportion to (1 - p_true)^gamma.

Eq. (4): w_i = (1 - f_E(x_i)_{y_i})^gamma, P(i) = w_i / sum_j w_j, with replacement, N draws
per epoch (so iterations per epoch and the learning-rate schedule do not change).
gamma > 0 favours hard samples, gamma < 0 easy ones, gamma = 0 is uniform with replacement.

Top to bottom: the pure functions (``p_true``, the weights), the one scoring pass, the one
writer of ``sample_weights.pt``, and the callback that switches the run's IndexSampler at the
end of epoch E. The paper's ablations (another hardness, weights from files, random weights,
p_true from the training steps, the unbiased loss) are weight sources in ``ablations.py`` that
this callback draws from; ``burn_in_epochs=auto`` is ``auto_burn_in.py``; SGD-SCI is
``class_importance.py``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch

from sample_importance.atomic import torch_save
from sample_importance.config_checks import check_burn_in, check_finite_number
from sample_importance.errors import ConfigError, TrainingDiverged, UserError
from sample_importance.model.classifier import gather_from_ranks
from sample_importance.sampler import diagnostics
from sample_importance.sampler.base import SamplerCallback

log = logging.getLogger(__name__)

# For gamma < 0 a sample with p_true = 1 would get an infinite weight; its hardness 1 - p is
# raised to this value first (float32 softmax cannot resolve 1 - p below ~6e-8 anyway).
MIN_HARDNESS = 1e-7


def p_true(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """softmax(logits)_{label} for every row, in float32 (half-precision logits are upcast first)."""
    return torch.softmax(logits.float(), dim=1).gather(1, labels[:, None].long()).squeeze(1)


def hardness_weights(
    hardness: torch.Tensor, gamma: float, weight_floor: float = 0.0
) -> tuple[torch.Tensor, str]:
    """w = max(h^gamma, weight_floor) in float64, and what was done about degenerate weights.

    Only the ratios of the weights matter for the draw. For large |gamma| h^gamma leaves float64
    (0.01^-200 is infinite, 0.5^2000 is 0 for every sample): the weights are then the same ones
    times a common factor, computed in log space so that the largest is 1, finite for any gamma.
    Returns ``(weights, fallback)``: ``fallback`` is ``"uniform"`` when every weight is zero
    (every sample learned perfectly with gamma > 0; the draw is then uniform with replacement).
    """
    hardness = hardness.double().clamp(min=0.0)
    if gamma < 0:
        hardness = hardness.clamp(min=MIN_HARDNESS)
    weights = hardness.pow(gamma).clamp(min=weight_floor)
    if torch.isfinite(weights).all() and (weights > 0).any():
        return weights, ""
    log_weights = torch.xlogy(torch.tensor(float(gamma), dtype=torch.float64), hardness)  # 0 log 0 = 0
    if weight_floor > 0:
        log_weights = log_weights.clamp(min=math.log(weight_floor))
    largest = log_weights.max()
    if not torch.isfinite(largest):  # every h = 0 with gamma > 0: no sample is preferred
        return torch.ones_like(hardness), "uniform"
    return torch.exp(log_weights - largest), ""


def check_weight_settings(gamma, weight_floor) -> tuple[float, float]:
    """``sampler.gamma`` and ``sampler.weight_floor`` as floats, or a one-line ``ConfigError``."""
    gamma = check_finite_number("sampler.gamma", gamma)
    if check_finite_number("sampler.weight_floor", weight_floor) < 0:
        raise ConfigError(f"sampler.weight_floor must be >= 0, got {weight_floor}")
    return gamma, float(weight_floor)


def importance_weights(p: torch.Tensor, gamma: float, weight_floor: float = 0.0) -> tuple[torch.Tensor, str]:
    """Eq. (4): w = max((1 - p)^gamma, weight_floor); see ``hardness_weights``."""
    return hardness_weights((1.0 - p.double()).clamp(min=0.0, max=1.0), gamma, weight_floor)


@dataclass
class Scores:
    """Every training sample's values, in index order 0..N-1 (float64 on the CPU).

    ``score`` names the hardness (``p_true``: 1 - p_true; ``scores.py`` lists the others);
    ``p_true`` is NaN where no model ran (random weights, a file without p_true).
    """

    score: str
    label: torch.Tensor
    p_true: torch.Tensor
    hardness: torch.Tensor
    seconds: float


def scatter_by_index(index: torch.Tensor, values: torch.Tensor, num_samples: int) -> torch.Tensor:
    """``values`` placed at ``index`` in a full-length float64 vector (NaN where no index came)."""
    full = torch.full((num_samples,), float("nan"), dtype=torch.float64)
    full[index.cpu().long()] = values.cpu().double()
    return full


def scoring_pass(module, datamodule, score: str = "p_true") -> Scores:
    """The model over the un-augmented training set in eval mode, every rank its shard, gathered by index.

    ``score="p_true"`` is the method's pass; the metrics of ``scores.py`` (Appendix E.2) ride on
    the same pass. Collective: call it on all ranks. NaN or infinite values raise ``TrainingDiverged``.
    """
    from sample_importance.sampler.scores import METRICS

    metric = METRICS.get(score)  # None: the hardness is 1 - p_true
    start = time.perf_counter()
    was_training = module.training
    module.eval()
    net = module.scoring_network()
    indices, labels, probabilities, values = [], [], [], []
    try:
        for images, targets, index in datamodule.scoring_dataloader():
            images, targets = images.to(module.device, non_blocking=True), targets.to(module.device)
            with torch.no_grad():
                logits = net(images)
            indices.append(index.to(module.device))
            labels.append(targets)
            probabilities.append(p_true(logits, targets))
            if metric is not None:
                values.append(metric(module, logits, images, targets).double())
    finally:
        module.train(was_training)
    index, label, p = gather_from_ranks(torch.cat(indices), torch.cat(labels), torch.cat(probabilities))
    num_samples = datamodule.num_train
    labels = scatter_by_index(index, label, num_samples)
    if torch.isnan(labels).any():
        raise RuntimeError(f"scoring pass missed {int(torch.isnan(labels).sum())} training samples")
    p = scatter_by_index(index, p, num_samples)
    if metric is None:
        hardness = 1.0 - p
    else:
        hardness = scatter_by_index(index, *gather_from_ranks(torch.cat(values)), num_samples)
    bad = int((~torch.isfinite(hardness)).sum())
    if bad:
        raise TrainingDiverged(
            f"the scoring pass gives NaN or infinite {score} for {bad} of {num_samples} training samples "
            f"(the model diverged: lower schedule.lr); the last good checkpoint is checkpoints/last.ckpt"
        )
    return Scores(score, labels.long(), p, hardness, time.perf_counter() - start)


def save_sample_weights(path: Path, epoch: int, gamma: float, scores, weights: torch.Tensor, **extra) -> None:
    """Write ``sample_weights.pt``, the record of a switch that the report, ``score`` and
    ``sampler.weights_file`` read: ``epoch gamma index label p_true weight`` and ``extra``."""
    bad = int((~torch.isfinite(weights)).sum())  # hardness_weights keeps them finite; so must the file
    if bad:
        raise UserError(f"{bad} weights are NaN or infinite; {path} not written")
    record = {
        "epoch": int(epoch),
        "gamma": float(gamma),
        "index": torch.arange(len(weights)),
        "label": scores.label.clone(),
        "p_true": scores.p_true.double().clone(),
        "weight": weights.double().clone(),
        **extra,
    }
    torch_save(record, path)


class ScoringPassWeights:
    """The method's weight source: the scoring pass after epoch E and w = h^gamma, h = 1 - p_true
    (or another ``score`` of ``scores.py``). The ablations in ``ablations.py`` replace it."""

    needs_model = True  # burn_in_epochs=auto compares the weights a model gives after each epoch

    def __init__(self, score: str = "p_true") -> None:
        self.score = score

    def hparams(self) -> dict:
        return {"score": self.score}

    def check(self, trainer: pl.Trainer) -> None:
        """Fail at the start of training, not at the switch, if the source cannot work."""

    def epoch_starts(self, is_epoch_e: bool, trainer: pl.Trainer) -> None:
        """Called at every burn-in epoch's start; ``is_epoch_e``: the last one before the switch."""

    def batch_ends(self, outputs: dict) -> None:
        """Called with every training step's outputs (``index``, ``target``, ``logits``, ``sample_loss``)."""

    def scores(self, trainer: pl.Trainer, module) -> Scores:
        return scoring_pass(module, trainer.datamodule, self.score)

    def weights(self, scores: Scores, gamma: float, weight_floor: float) -> tuple[torch.Tensor, str]:
        if scores.score == "p_true":
            return importance_weights(scores.p_true, gamma, weight_floor)
        return hardness_weights(scores.hardness, gamma, weight_floor)

    def record(self, scores: Scores) -> dict:
        """The source's fields of ``sample_weights.pt``."""
        if scores.score == "p_true":
            return {"score": "p_true"}
        return {"score": scores.score, "hardness": scores.hardness.clone()}


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
        from sample_importance.sampler import ablations as options  # the ablations build on this module

        self.gamma, self.weight_floor = check_weight_settings(gamma, weight_floor)
        self.burn_in_epochs = burn_in_epochs
        self.source, self.auto = options.weight_source(burn_in_epochs, **ablations)
        self.unbiased = bool(unbiased)
        self.sample_loss_weight = options.UnbiasedLossWeight() if self.unbiased else None
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
