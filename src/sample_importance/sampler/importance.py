"""The paper's method: after E uniform epochs, draw samples in proportion to (1 - p_true)^gamma.

Eq. (4): w_i = (1 - f_E(x_i)_{y_i})^gamma, P(i) = w_i / sum_j w_j, with replacement, N draws
per epoch (so iterations per epoch and the learning-rate schedule do not change).
gamma > 0 favours hard samples, gamma < 0 easy ones, gamma = 0 is uniform with replacement.

The ablations of the paper are options of the same callback: another hardness than 1 - p_true
(``score``, Appendix E.2, see ``scores.py``), weights read from files instead of scored
(``weights_file``, Appendix B and E.4), the loss reweighted by 1 / (N P(i)) (``unbiased``,
Appendix E.3), E chosen by the weights' rank correlation (``burn_in_epochs=auto``), and
class-level weights (``class_importance.py``, SGD-SCI).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from types import SimpleNamespace

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from sample_importance.atomic import torch_save
from sample_importance.config_checks import check_burn_in, check_finite_number, check_int_at_least
from sample_importance.errors import ConfigError, UserError
from sample_importance.sampler import diagnostics
from sample_importance.sampler.auto_burn_in import AutoBurnIn
from sample_importance.sampler.index_sampler import scaled_to_max
from sample_importance.sampler.scores import SCORE_NAMES, Hardness, score_hardness
from sample_importance.sampler.scoring import Scores, gather_from_ranks
from sample_importance.sampler.weights_file import check_file_order, mean_weights
from sample_importance.torch_files import read_torch_file

log = logging.getLogger(__name__)

# For gamma < 0 a sample with p_true = 1 would get an infinite weight; its hardness 1 - p is
# raised to this value first (float32 softmax cannot resolve 1 - p below ~6e-8 anyway).
MIN_HARDNESS = 1e-7


def hardness_weights(hardness: torch.Tensor, gamma: float, weight_floor: float = 0.0) -> tuple[torch.Tensor, str]:
    """w = max(h^gamma, weight_floor) in float64, and what was done about degenerate weights.

    Only the ratios of the weights matter for the draw (P(i) = w_i / sum_j w_j). For large |gamma|
    h^gamma leaves float64 (0.01^-200 is infinite, 0.5^2000 is 0 for every sample): the weights
    are then the same ones times a common factor, computed in log space so that the largest is 1,
    finite for any finite gamma.

    Returns ``(weights, fallback)``: ``fallback`` is ``""`` normally and ``"uniform"`` when every
    weight is zero (every sample learned perfectly with gamma > 0): the draw then stays uniform
    with replacement instead of failing, and the fallback is logged and recorded.
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


def importance_weights(p_true: torch.Tensor, gamma: float, weight_floor: float = 0.0) -> tuple[torch.Tensor, str]:
    """Eq. (4): w = max((1 - p)^gamma, weight_floor); see ``hardness_weights``."""
    return hardness_weights((1.0 - p_true.double()).clamp(min=0.0, max=1.0), gamma, weight_floor)


def save_sample_weights(path: Path, epoch: int, gamma: float, scores: Scores, weights: torch.Tensor, **extra) -> None:
    """Write ``sample_weights.pt`` (the format the report and ``score`` share)."""
    if not torch.isfinite(weights).all():  # hardness_weights keeps them finite; a file must never say otherwise
        raise UserError(f"{int((~torch.isfinite(weights)).sum())} weights are NaN or infinite; {path} not written")
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


class UnbiasedLossWeight:
    """Appendix E.3: the loss of sample i times 1 / (N P(i)), P the sampler's current distribution.

    Reads the sampler's weights when called, so it is right before the switch (uniform: factor
    1), after it, and after a resume. Zero-weight samples are never drawn; their factor is 0.
    """

    def __init__(self, sampler) -> None:
        self.sampler = sampler
        self._for_weights: torch.Tensor | None = None
        self._factors: torch.Tensor | None = None

    def factors(self) -> torch.Tensor | None:
        weights = self.sampler.weights
        if weights is None:
            return None
        if self._for_weights is not weights:
            scaled = scaled_to_max(weights)
            probability = scaled / scaled.sum()
            factors = torch.zeros_like(weights)
            drawable = probability > 0
            factors[drawable] = 1.0 / (len(weights) * probability[drawable])
            self._for_weights, self._factors = weights, factors
        return self._factors

    def __call__(self, index: torch.Tensor) -> torch.Tensor:
        factors = self.factors()
        if factors is None:
            return torch.ones(len(index))
        return factors[index.cpu().long()].float()


class ImportanceSampling(Callback):
    """Scores the training set once, at the end of epoch E, and switches the sampler to w_i.

    Args:
        burn_in_epochs: E, uniform epochs before the switch (0: weights from the untrained model),
            or ``"auto"``: score after every epoch and switch when the weights' Spearman rank
            correlation with the previous epoch's reaches ``auto_spearman_threshold``, at the
            latest after ``auto_max_burn_in_epochs`` (capped at max_epochs - 1).
        gamma: the focusing parameter: w_i = h_i^gamma.
        weight_floor: lower bound for every weight (0 reproduces the paper; a small floor keeps
            learned samples in play on easy data where most p_true reach 1).
        score: the hardness h_i (``scores.SCORE_NAMES``): ``p_true`` (1 - p_true, Eq. 4), ``loss``,
            ``el2n``, ``grad_norm`` (Appendix E.2), ``random`` (the random-weights ablation).
        unbiased: weight each sample's loss by 1 / (N P(i)) (Appendix E.3).
        weights_file: a file or a list of files (``weights_file.py``) whose (mean) values become
            the weights at the switch instead of scoring; gamma and score are then not used.
        weights_order: ``"index"`` states that files without labels or index map (a bare ``.npy``)
            are in training-set index order; None refuses such files.
    """

    name = "importance"

    def __init__(
        self,
        burn_in_epochs: int | str = 5,
        gamma: float = 0.5,
        weight_floor: float = 0.0,
        score: str = "p_true",
        unbiased: bool = False,
        weights_file: str | list[str] | None = None,
        weights_order: str | None = None,
        auto_spearman_threshold: float = 0.9,
        auto_max_burn_in_epochs: int = 10,
        score_source: str = "eval_pass",
    ) -> None:
        check_finite_number("sampler.gamma", gamma)
        if burn_in_epochs != "auto":
            check_int_at_least("sampler.burn_in_epochs", burn_in_epochs, 0)
        if check_finite_number("sampler.weight_floor", weight_floor) < 0:
            raise ConfigError(f"sampler.weight_floor must be >= 0, got {weight_floor}")
        check_score_options(score, weights_file, burn_in_epochs, auto_spearman_threshold, auto_max_burn_in_epochs)
        check_score_source(score_source, score, weights_file, burn_in_epochs)
        self.score_source = score_source
        self.weights_order = check_file_order("sampler.weights_order", weights_order)
        self.recorded: TrainForwardRecord | None = None  # p_true from epoch E's training steps
        self.burn_in_epochs = burn_in_epochs
        self.gamma = float(gamma)
        self.weight_floor = float(weight_floor)
        self.score = score
        self.unbiased = bool(unbiased)
        if weights_file is None or isinstance(weights_file, str):
            self.weights_files = [] if weights_file is None else [weights_file]
        else:
            self.weights_files = [str(path) for path in weights_file]
        self.auto_max_burn_in_epochs = int(auto_max_burn_in_epochs)
        self.auto = AutoBurnIn(auto_spearman_threshold, auto_max_burn_in_epochs) if burn_in_epochs == "auto" else None
        self.switched_after_epoch: int | None = None  # restored from checkpoints: never score twice
        self.scoring_seconds = 0.0
        self.fallback = ""

    def hparams(self) -> dict:
        settings = {"burn_in_epochs": self.burn_in_epochs, "gamma": self.gamma, "weight_floor": self.weight_floor,
                    "score": self.score, "unbiased": self.unbiased}
        if self.score_source != "eval_pass":
            settings["score_source"] = self.score_source
        if self.weights_files:
            settings["weights_file"] = ",".join(self.weights_files)
        if self.auto is not None:
            settings["auto_spearman_threshold"] = self.auto.threshold
            settings["auto_max_burn_in_epochs"] = self.auto_max_burn_in_epochs
        return settings

    def validate(self, max_epochs: int) -> None:
        if self.auto is None:
            check_burn_in("sampler.burn_in_epochs", self.burn_in_epochs, max_epochs)
        elif max_epochs < 2:
            raise ConfigError(f"sampler.burn_in_epochs=auto needs schedule.max_epochs >= 2, got {max_epochs}")
        else:
            self.auto.max_epochs = min(self.auto_max_burn_in_epochs, max_epochs - 1)

    # -- hooks --------------------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.validate(trainer.max_epochs)
        if self.unbiased:
            pl_module.sample_loss_weight = UnbiasedLossWeight(trainer.datamodule.train_sampler())
        if self.switched_after_epoch is not None:
            return
        if self.weights_files:  # a wrong file fails now, not after E epochs
            mean_weights(self.weights_files, trainer.datamodule.train_set.labels, order=self.weights_order)
        if self.auto is not None and not self.auto.started:
            self.observe_for_auto(trainer, pl_module, 0)  # the untrained model's weights, E = 0
        elif self.auto is None and self.burn_in_epochs == 0:
            self.switch(trainer, pl_module, 0)  # before the first epoch's iterator is made

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Resuming from the checkpoint written at the switch purges TensorBoard from that step on
        # (train.py); show the switch's histograms and class shares again, from sample_weights.pt.
        if not trainer.ckpt_path or not self.switched_after_epoch:
            return
        record_path = Path(trainer.default_root_dir) / "sample_weights.pt"
        if trainer.global_step != self.switched_after_epoch * pl_module.steps_per_epoch() or not record_path.is_file():
            return
        try:
            record = read_torch_file(record_path)
        except UserError as error:
            raise UserError(f"{error}; the checkpoint holds the weights, this file only the switch's record: "
                            f"delete it to resume without it") from error
        if torch.isfinite(record["p_true"]).all():
            scores = SimpleNamespace(label=record["label"], p_true=record["p_true"])
            diagnostics.log_switch(trainer, trainer.datamodule, scores, record["weight"], self.scoring_seconds)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if (self.score_source == "train_forward" and self.switched_after_epoch is None
                and trainer.current_epoch + 1 == self.burn_in_epochs):
            self.recorded = TrainForwardRecord(trainer.datamodule.num_train)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.recorded is not None and isinstance(outputs, dict) and "logits" in outputs:
            self.recorded.add(outputs["index"], outputs["target"], outputs["logits"])

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.switched_after_epoch is not None:
            return
        epochs_done = trainer.current_epoch + 1
        if self.auto is not None:
            self.observe_for_auto(trainer, pl_module, epochs_done)
        elif epochs_done == self.burn_in_epochs:
            self.switch(trainer, pl_module, epochs_done)

    # -- weights ------------------------------------------------------------------------
    def score_samples(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Hardness:
        """h_i for every training sample (collective), timed into ``scoring_seconds``."""
        if self.recorded is not None:
            hardness, self.recorded = self.recorded.hardness(trainer.datamodule.train_set.labels), None
            self.scoring_seconds += hardness.seconds
            return hardness
        hardness = score_hardness(pl_module, trainer.datamodule, self.score, seed=trainer.datamodule.seed)
        self.scoring_seconds += hardness.seconds
        return hardness

    def weights_from(self, hardness: Hardness) -> tuple[torch.Tensor, str]:
        if hardness.score == "p_true":
            return importance_weights(hardness.p_true, self.gamma, self.weight_floor)
        return hardness_weights(hardness.hardness, self.gamma, self.weight_floor)

    def final_weights(self, weights: torch.Tensor, labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, dict]:
        """The per-sample weights the sampler draws by, and extra fields for ``sample_weights.pt``.

        The method draws by its weights as they are; SGD-SCI (``class_importance.py``) spreads
        each class's share evenly over the class.
        """
        return weights, {}

    def observe_for_auto(self, trainer: pl.Trainer, pl_module: pl.LightningModule, epochs_done: int) -> None:
        hardness = self.score_samples(trainer, pl_module)
        weights, _ = self.weights_from(hardness)
        rho = self.auto.observe(epochs_done, weights)
        if rho is not None:
            log.info("burn_in_epochs=auto: Spearman rho between the weights of epochs %d and %d is %.4f",
                     epochs_done - 1, epochs_done, rho)
            for writer in diagnostics.tensorboard_writers(trainer):
                writer.add_scalar("importance/auto_burn_in_spearman", rho, trainer.global_step)
        if self.auto.should_switch(epochs_done):
            self.switch(trainer, pl_module, epochs_done, hardness)

    def switch(self, trainer: pl.Trainer, pl_module: pl.LightningModule, epochs_done: int,
               hardness: Hardness | None = None) -> None:
        datamodule = trainer.datamodule
        labels = datamodule.train_set.labels
        extra = {"score": self.score, "weight_floor": self.weight_floor}
        if self.weights_files:
            start = time.perf_counter()
            weights, p_true = mean_weights(self.weights_files, labels, order=self.weights_order)
            self.fallback = ""
            if p_true is None:
                p_true = torch.full((len(weights),), float("nan"), dtype=torch.float64)
            hardness = Hardness("weights_file", labels.clone(), p_true, weights.clone(), time.perf_counter() - start)
            extra.update(score="weights_file", weights_file=list(self.weights_files))
        else:
            if hardness is None:
                hardness = self.score_samples(trainer, pl_module)
            weights, self.fallback = self.weights_from(hardness)
            if self.fallback:
                log.warning(
                    "every importance weight is zero (all hardness 0 with gamma=%s): drawing uniformly with "
                    "replacement instead; set sampler.weight_floor > 0 to keep a floor", self.gamma,
                )
            if hardness.score != "p_true":
                extra["hardness"] = hardness.hardness.clone()
        weights, more = self.final_weights(weights, hardness.label, datamodule.num_classes)
        extra.update(more)
        datamodule.train_sampler().set_weights(weights)
        self.switched_after_epoch = epochs_done
        output_dir = Path(trainer.default_root_dir)
        if trainer.is_global_zero:
            save_sample_weights(output_dir / "sample_weights.pt", epochs_done, self.gamma, hardness, weights,
                                fallback=self.fallback, unbiased=self.unbiased, **extra)
        self.log_switch(trainer, hardness, weights)
        log.info("sampler switched to importance weights (%s) after epoch %d (scoring took %.2f s in all)",
                 extra["score"], epochs_done, self.scoring_seconds)
        if epochs_done > 0:
            trainer.save_checkpoint(output_dir / "checkpoints" / f"burn_in_end_epoch{epochs_done}.ckpt")

    def log_switch(self, trainer: pl.Trainer, hardness: Hardness, weights: torch.Tensor) -> None:
        datamodule = trainer.datamodule
        if torch.isfinite(hardness.p_true).all():
            diagnostics.log_switch(trainer, datamodule, hardness, weights, self.scoring_seconds)
        step = trainer.global_step
        for writer in diagnostics.tensorboard_writers(trainer):
            if not torch.isfinite(hardness.p_true).all():  # no model ran: weights and shares only
                writer.add_histogram("importance/weight", scaled_to_max(weights).float(), step)  # float32-safe
                shares = diagnostics.class_shares(weights, hardness.label, datamodule.num_classes)
                for c, share in enumerate(shares.tolist()):
                    writer.add_scalar(f"importance/class_share/{c:03d}_{datamodule.class_names[c]}", share, step)
            if hardness.score not in ("p_true", "weights_file"):
                writer.add_histogram(f"importance/hardness_{hardness.score}", hardness.hardness.float(), step)
                writer.add_scalar(f"importance/scoring_time_s/{hardness.score}", self.scoring_seconds, step)
            if self.auto is not None:
                writer.add_scalar("importance/burn_in_epochs_chosen", self.switched_after_epoch, step)
            writer.flush()

    # -- checkpoint ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        state = {"switched_after_epoch": self.switched_after_epoch, "scoring_seconds": self.scoring_seconds,
                 "fallback": self.fallback}
        if self.auto is not None:
            state["auto"] = self.auto.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.switched_after_epoch = state["switched_after_epoch"]
        self.scoring_seconds = state.get("scoring_seconds", 0.0)
        self.fallback = state.get("fallback", "")
        if self.auto is not None and state.get("auto"):
            self.auto.load_state_dict(state["auto"])

    def summary(self) -> dict:
        record = {**self.hparams(), "switched_after_epoch": self.switched_after_epoch,
                  "scoring_time_s": self.scoring_seconds, "weights_fallback": self.fallback or None}
        if self.auto is not None:
            record["burn_in_epochs_chosen"] = self.switched_after_epoch
            record["auto_spearman_history"] = [list(item) for item in self.auto.history]
        return record


class TrainForwardRecord:
    """``score_source=train_forward``: p_true of each sample from the training step that drew it in epoch E.

    Free (the logits exist already) but not the same numbers as the scoring pass: the images are
    the augmented views that were trained on, the model changes during the epoch (early batches
    are scored by an older model), and training-mode layers (batch norm batch statistics,
    dropout) are active. Samples epoch E did not draw (the last incomplete batch is dropped)
    get the mean of the recorded p_true. ``seconds`` counts the time spent recording.
    """

    def __init__(self, num_samples: int) -> None:
        self.p_true = torch.full((num_samples,), float("nan"), dtype=torch.float64)
        self.seconds = 0.0

    @torch.no_grad()
    def add(self, index: torch.Tensor, target: torch.Tensor, logits: torch.Tensor) -> None:
        start = time.perf_counter()
        p = torch.softmax(logits.float(), dim=1).gather(1, target[:, None].long()).squeeze(1)
        index, p = gather_from_ranks(index.to(p.device), p)
        self.p_true[index.cpu().long()] = p.cpu().double()
        self.seconds += time.perf_counter() - start

    def hardness(self, labels: torch.Tensor) -> Hardness:
        start = time.perf_counter()
        p_true = self.p_true.clone()
        missing = torch.isnan(p_true)
        if missing.all():
            raise RuntimeError("score_source=train_forward recorded no training step in epoch E")
        if missing.any():
            p_true[missing] = p_true[~missing].mean()
            log.info("score_source=train_forward: %d samples not drawn in epoch E get the mean p_true",
                     int(missing.sum()))
        seconds = self.seconds + time.perf_counter() - start
        return Hardness("p_true", labels.clone(), p_true, 1.0 - p_true, seconds)


SCORE_SOURCES = ("eval_pass", "train_forward")


def check_score_source(score_source, score, weights_file, burn_in_epochs) -> None:
    if score_source not in SCORE_SOURCES:
        raise ConfigError(f"sampler.score_source must be one of {', '.join(SCORE_SOURCES)}, got {score_source!r}")
    if score_source == "train_forward":
        if score != "p_true" or weights_file is not None:
            raise ConfigError("sampler.score_source=train_forward records p_true: use it with sampler.score=p_true "
                              "and no sampler.weights_file")
        if burn_in_epochs == "auto" or burn_in_epochs == 0:
            raise ConfigError("sampler.score_source=train_forward needs a fixed sampler.burn_in_epochs >= 1 "
                              "(it reads epoch E's training steps)")


def check_score_options(score, weights_file, burn_in_epochs, threshold, max_burn_in) -> None:
    if score not in SCORE_NAMES:
        raise ConfigError(f"sampler.score must be one of {', '.join(SCORE_NAMES)}, got {score!r}")
    if weights_file is not None and score != "p_true":
        raise ConfigError("sampler.weights_file replaces scoring: leave sampler.score at p_true")
    if burn_in_epochs == "auto":
        if weights_file is not None:
            raise ConfigError("sampler.burn_in_epochs=auto needs scoring; it cannot be combined with sampler.weights_file")
        if score == "random":
            raise ConfigError("sampler.burn_in_epochs=auto needs a model-based score, not sampler.score=random")
        rho = check_finite_number("sampler.auto_spearman_threshold", threshold)
        if not -1 <= rho <= 1:
            raise ConfigError(f"sampler.auto_spearman_threshold must be in [-1, 1], got {threshold}")
        check_int_at_least("sampler.auto_max_burn_in_epochs", max_burn_in, 1)
