"""The paper's ablations of the method, as weight sources and a loss weight for ``ImportanceSampling``.

The method scores every sample once after epoch E (``method.ScoringPassWeights``). Each
ablation replaces that source, and is chosen by the ``sampler`` keys of ``sampler=importance``:

==============================  ==================================================  ===========
keys                            the weights at the switch                           paper
==============================  ==================================================  ===========
``score=loss|el2n|grad_norm``   h^gamma, h another hardness, on the same pass       App. E.2
``score=random``                u^gamma, u ~ Uniform(0, 1), seeded by the run seed  App. C
``weights_file=F`` (or a list)  the (mean) weights of files, e.g. other runs'       App. B, E.4
``score_source=train_forward``  (1 - p)^gamma, p from epoch E's training steps      Sec. 3 cost
``unbiased=true``               the loss times 1 / (N P(i))                         App. E.3
==============================  ==================================================  ===========

``burn_in_epochs=auto`` (Fig. 9: E chosen by the weights' rank correlation) changes when, not
what: it is a burn-in rule (``burn_in.py``), which checks that the source here can serve it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from sample_importance.errors import ConfigError, UserError
from sample_importance.model.classifier import gather_from_ranks
from sample_importance.sampler.index_sampler import scaled_to_max
from sample_importance.sampler.method import Scores, ScoringPassWeights, p_true
from sample_importance.sampler.scores import SCORE_NAMES, random_hardness
from sample_importance.sampler.weights_file import check_file_order, mean_weights

log = logging.getLogger(__name__)

SCORE_SOURCES = ("eval_pass", "train_forward")


def weight_source(
    score: str = "p_true",
    weights_file: str | list[str] | None = None,
    weights_order: str | None = None,
    score_source: str = "eval_pass",
):
    """The weight source that the ``sampler`` keys ask for; checks them."""
    if score not in SCORE_NAMES:
        raise ConfigError(f"sampler.score must be one of {', '.join(SCORE_NAMES)}, got {score!r}")
    if score_source not in SCORE_SOURCES:
        raise ConfigError(
            f"sampler.score_source must be one of {', '.join(SCORE_SOURCES)}, got {score_source!r}"
        )
    if weights_file is not None and score != "p_true":
        raise ConfigError("sampler.weights_file replaces scoring: leave sampler.score at p_true")
    order = check_file_order("sampler.weights_order", weights_order)
    if score_source == "train_forward":
        if score != "p_true" or weights_file is not None:
            raise ConfigError(
                "sampler.score_source=train_forward records p_true: use it with "
                "sampler.score=p_true and no sampler.weights_file"
            )
        return TrainForwardWeights()
    if weights_file is not None:
        paths = [weights_file] if isinstance(weights_file, str) else [str(path) for path in weights_file]
        return FileWeights(paths, order)
    if score == "random":
        return RandomWeights()
    return ScoringPassWeights(score)


class RandomWeights(ScoringPassWeights):
    """The random-weights ablation: h_i ~ Uniform(0, 1), a pure function of (seed, N); no model runs."""

    needs_model = False

    def __init__(self) -> None:
        super().__init__("random")

    def scores(self, trainer: pl.Trainer, module) -> Scores:
        start = time.perf_counter()
        datamodule = trainer.datamodule
        labels, count = datamodule.train_set.labels.clone(), datamodule.num_train
        hardness = random_hardness(count, datamodule.seed)
        nan = torch.full((count,), float("nan"), dtype=torch.float64)
        return Scores("random", labels, nan, hardness, time.perf_counter() - start)


class FileWeights(ScoringPassWeights):
    """Weights read from files (``weights_file.py``: formats, order): their mean, gamma not applied."""

    needs_model = False

    def __init__(self, paths: list[str], order: str | None) -> None:
        super().__init__("p_true")  # sampler.score keeps its default: the files replace scoring
        for path in paths:
            if not Path(path).is_file():
                raise UserError(f"sampler.weights_file={path}: no such file")
        self.paths, self.order = paths, order

    def hparams(self) -> dict:
        return {"score": self.score, "weights_file": ",".join(self.paths)}

    def check(self, trainer: pl.Trainer) -> None:
        mean_weights(self.paths, trainer.datamodule.train_set.labels, order=self.order)

    def scores(self, trainer: pl.Trainer, module) -> Scores:
        labels = trainer.datamodule.train_set.labels
        weights, p = mean_weights(self.paths, labels, order=self.order)
        if p is None:
            p = torch.full((len(weights),), float("nan"), dtype=torch.float64)
        return Scores("weights_file", labels.clone(), p, weights.clone(), 0.0)  # reading is not scoring

    def weights(self, scores: Scores, gamma: float, weight_floor: float) -> tuple[torch.Tensor, str]:
        return scores.hardness, ""

    def record(self, scores: Scores) -> dict:
        return {"score": "weights_file", "weights_file": list(self.paths)}


class TrainForwardWeights(ScoringPassWeights):
    """``score_source=train_forward``: p_true of each sample from the training step that drew it in epoch E.

    Free (the logits exist already) but not the same numbers as the scoring pass: the images are
    the augmented views that were trained on, the model changes during the epoch (early batches
    are scored by an older model), and training-mode layers (batch norm batch statistics,
    dropout) are active. Samples epoch E did not draw (the last incomplete batch is dropped)
    get the mean of the recorded p_true. ``seconds`` counts the time spent recording.
    """

    def __init__(self) -> None:
        super().__init__("p_true")
        self.p_true: torch.Tensor | None = None  # NaN where epoch E has not drawn the sample yet
        self.seconds = 0.0

    def hparams(self) -> dict:
        return {"score": self.score, "score_source": "train_forward"}

    def epoch_starts(self, is_epoch_e: bool, trainer: pl.Trainer) -> None:
        if is_epoch_e:
            self.p_true = torch.full((trainer.datamodule.num_train,), float("nan"), dtype=torch.float64)
            self.seconds = 0.0

    @torch.no_grad()
    def batch_ends(self, outputs: dict) -> None:
        if self.p_true is None or not isinstance(outputs, dict) or "logits" not in outputs:
            return
        start = time.perf_counter()
        p = p_true(outputs["logits"], outputs["target"])
        index, p = gather_from_ranks(outputs["index"].to(p.device), p)
        self.p_true[index.cpu().long()] = p.cpu().double()
        self.seconds += time.perf_counter() - start

    def scores(self, trainer: pl.Trainer, module) -> Scores:
        if self.p_true is None:  # nothing recorded (a resume past epoch E's start): the scoring pass
            return super().scores(trainer, module)
        start = time.perf_counter()
        p, self.p_true = self.p_true, None
        missing = torch.isnan(p)
        if missing.all():
            raise RuntimeError("score_source=train_forward recorded no training step in epoch E")
        if missing.any():
            p[missing] = p[~missing].mean()
            log.info(
                "score_source=train_forward: %d samples not drawn in epoch E get the mean p_true",
                int(missing.sum()),
            )
        labels = trainer.datamodule.train_set.labels.clone()
        return Scores("p_true", labels, p, 1.0 - p, self.seconds + time.perf_counter() - start)


class UnbiasedLossWeight:
    """Appendix E.3: the loss of sample i times 1 / (N P(i)), P the sampler's current distribution.

    Reads the sampler's weights when called, so it is right before the switch (uniform: factor
    1), after it, and after a resume. Zero-weight samples are never drawn; their factor is 0.
    ``ImportanceSampling`` sets ``sampler`` (the run's IndexSampler) when training starts.
    """

    def __init__(self) -> None:
        self.sampler = None
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
