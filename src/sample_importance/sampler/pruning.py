"""Data pruning (Paul et al. 2021; the paper's EL2N baseline): drop the lowest-scoring fraction, then SGD-Scan.

The scores file holds one score per sample of the full training set, in training-set index
order (``python -m sample_importance.el2n`` writes one; an external ``.npy``/``.pt`` works too).
The ``round(prune_fraction * N)`` samples with the lowest scores are removed (ties: the lower
index goes first) before the sampler is made, and a new model trains on the rest with
uniform scans without replacement (Eq. 1).

Indices: after pruning the training set is renumbered 0..M-1 in the original order, so
batches, diagnostics and checkpoints refer to kept samples; ``pruned_samples.pt`` in the run
folder maps them back (``kept_from_full[i]`` = the unpruned index of kept sample i).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
import torch

from sample_importance.atomic import torch_save
from sample_importance.config_checks import check_finite_number
from sample_importance.errors import ConfigError, UserError
from sample_importance.sampler.base import SamplerCallback
from sample_importance.sampler.weights_file import align_to_training_set, check_file_order, load_values

log = logging.getLogger(__name__)

# Paul et al.'s best pruning fractions, which the paper uses (Section 4): 30% on CIFAR-10,
# 10% on CIFAR-100; other datasets get the CIFAR-10 value.
DEFAULT_PRUNE_FRACTION = {100: 0.1}
FALLBACK_PRUNE_FRACTION = 0.3


def lowest_scoring(scores: torch.Tensor, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept, pruned) indices, each sorted: the ``round(fraction * N)`` lowest scores are pruned."""
    count = round(fraction * len(scores))
    order = torch.sort(scores.double(), stable=True).indices  # equal scores: lower index pruned first
    return order[count:].sort().values, order[:count].sort().values


class PrunedScan(SamplerCallback):
    """Prunes the training set by a scores file at setup, then leaves the sampler uniform (SGD-Scan).

    Args:
        scores_file: ``.npy`` or ``.pt`` with one score per training sample (higher = keep).
        prune_fraction: fraction of samples to drop, in [0, 1); None: 0.1 on 100-class data
            (CIFAR-100), 0.3 otherwise (CIFAR-10), Paul et al.'s best values.
        extra_iterations: training iterations the scores cost, when the file does not say
            (an external file); recorded for the report, which adds them to t_n.
        scores_order: ``"index"`` states that a file without labels or index map (a bare
            ``.npy``) is in training-set index order; None refuses such a file.
    """

    name = "el2n_pruning"

    def __init__(self, scores_file: str, prune_fraction: float | None = None, extra_iterations: int | None = None,
                 scores_order: str | None = None) -> None:
        if not scores_file or str(scores_file) == "???":
            raise ConfigError("sampler.scores_file is required: a .npy or .pt with one score per training sample")
        if prune_fraction is not None:
            fraction = check_finite_number("sampler.prune_fraction", prune_fraction)
            if not 0 <= fraction < 1:
                raise ConfigError(f"sampler.prune_fraction must be in [0, 1), got {prune_fraction}")
        if extra_iterations is not None and (isinstance(extra_iterations, bool) or not isinstance(extra_iterations, int)
                                             or extra_iterations < 0):
            raise ConfigError(f"sampler.extra_iterations must be null or an integer >= 0, got {extra_iterations!r}")
        self.scores_file = str(scores_file)
        self.scores_order = check_file_order("sampler.scores_order", scores_order)
        self.prune_fraction = prune_fraction
        self.extra_iterations = extra_iterations
        self.scores_record: dict = {}
        self.num_full: int | None = None
        self.num_pruned: int | None = None
        self.kept_from_full: torch.Tensor | None = None  # checked against the checkpoint's on resume

    def hparams(self) -> dict:
        return {"scores_file": self.scores_file, "prune_fraction": self.prune_fraction}

    def validate(self, max_epochs: int) -> None:
        """Nothing to check before the data exists."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        datamodule = trainer.datamodule
        if getattr(datamodule, "kept_from_full", None) is not None:
            return  # already pruned (setup runs again for the test stage)
        scores, record = align_to_training_set(*load_values(self.scores_file, "sampler.scores_file"),
                                               datamodule.train_set.labels, self.scores_file, "sampler.scores_file",
                                               self.scores_order)
        if self.prune_fraction is None:
            self.prune_fraction = DEFAULT_PRUNE_FRACTION.get(datamodule.num_classes, FALLBACK_PRUNE_FRACTION)
        kept, pruned = lowest_scoring(scores, self.prune_fraction)
        if len(kept) == 0:
            raise UserError(f"sampler.prune_fraction={self.prune_fraction} leaves no training sample")
        self.num_full, self.num_pruned = len(scores), len(pruned)
        self.scores_record = {k: v for k, v in record.items() if isinstance(v, (int, float, str))}
        if self.extra_iterations is None and "extra_iterations" in record:
            self.extra_iterations = int(record["extra_iterations"])
        datamodule.keep_training_samples(kept)
        self.kept_from_full = kept
        if trainer.is_global_zero:
            path = Path(trainer.default_root_dir) / "pruned_samples.pt"
            path.parent.mkdir(parents=True, exist_ok=True)
            torch_save({"kept_from_full": kept, "pruned": pruned, "score": scores, "prune_fraction": self.prune_fraction,
                        "scores_file": str(Path(self.scores_file).resolve())}, path)
        log.info("pruned %d of %d training samples (the lowest %.0f%% by %s); training on %d",
                 len(pruned), len(scores), 100 * self.prune_fraction, self.scores_file, len(kept))
        if self.extra_iterations is None:
            log.warning("the scores file does not say how many training iterations it cost; set "
                        "sampler.extra_iterations=... so the report can count them")

    def state_dict(self) -> dict:
        return {"kept_from_full": self.kept_from_full}

    def load_state_dict(self, state: dict) -> None:
        saved = state.get("kept_from_full")
        if saved is not None and self.kept_from_full is not None and not torch.equal(saved, self.kept_from_full):
            raise UserError(f"sampler.scores_file={self.scores_file} prunes other samples than the checkpoint's run: "
                            f"resume with the same scores file and prune_fraction")

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.datamodule.train_sampler().weights is not None:
            raise UserError("sampler=el2n_pruning cannot resume a checkpoint whose sampler draws by weight")

    def summary(self) -> dict:
        return {**self.hparams(), "num_full": self.num_full, "num_pruned": self.num_pruned,
                "extra_iterations": self.extra_iterations,
                "scores": {k: v for k, v in self.scores_record.items() if k != "extra_iterations"}}
