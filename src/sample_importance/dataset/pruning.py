"""Data pruning (Paul et al. 2021; the paper's EL2N baseline): train on the highest-scoring samples only.

A dataset option (``dataset.prune_scores_file``), not a sampler: the lowest-scoring fraction of
the training set is removed when the data is set up, and whatever sampler the run uses (SGD-Scan
for the EL2N baseline, ``method=el2n``) draws from the rest.

The scores file holds one score per sample of the full training set, in training-set index
order (``python -m sample_importance.el2n`` writes one; an external ``.npy``/``.pt`` works too).
The ``round(fraction * N)`` samples with the lowest scores are removed (ties: the lower index
goes first).

Indices: after pruning the training set is renumbered 0..M-1 in the original order, so batches,
diagnostics and checkpoints refer to kept samples; ``pruned_samples.pt`` in the run folder maps
them back (``kept_from_full[i]`` = the unpruned index of kept sample i).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from sample_importance.config_checks import is_number
from sample_importance.errors import ConfigError, UserError

# Paul et al.'s best pruning fractions, which the paper uses (Section 4): 30% on CIFAR-10,
# 10% on CIFAR-100; other datasets get the CIFAR-10 value.
DEFAULT_PRUNE_FRACTION = {100: 0.1}
FALLBACK_PRUNE_FRACTION = 0.3
# What `method=el2n` puts in dataset.prune_scores_file when no experiment names a scores file
# (Hydra's "???" would fail the run with a traceback instead of this module's one-line error).
REQUIRED = ("required", "???")


def lowest_scoring(scores: torch.Tensor, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept, pruned) indices, each sorted: the ``round(fraction * N)`` lowest scores are pruned."""
    count = round(fraction * len(scores))
    order = torch.sort(scores.double(), stable=True).indices  # equal scores: lower index pruned first
    return order[count:].sort().values, order[:count].sort().values


@dataclass
class Pruning:
    """The ``dataset.prune_*`` settings, checked here, and what pruning did (after ``apply``).

    Args:
        scores_file: ``.npy`` or ``.pt`` with one score per training sample (higher = keep).
        fraction: fraction of samples to drop, in [0, 1); None: 0.1 on 100-class data
            (CIFAR-100), 0.3 otherwise (CIFAR-10), Paul et al.'s best values.
        scores_order: ``"index"`` states that a file without labels or index map (a bare
            ``.npy``) is in training-set index order; None refuses such a file.
        extra_iterations: training iterations the scores cost, when the file does not say
            (an external file); recorded for the report, which adds them to t_n.
    """

    scores_file: str
    fraction: float | None = None
    scores_order: str | None = None
    extra_iterations: int | None = None
    # what ``choose`` found
    num_full: int | None = field(default=None, init=False)
    kept_from_full: torch.Tensor | None = field(default=None, init=False)
    pruned: torch.Tensor | None = field(default=None, init=False)
    scores: torch.Tensor | None = field(default=None, init=False)
    scores_record: dict = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        from sample_importance.sampler.weights_file import check_file_order

        if not self.scores_file or str(self.scores_file) in REQUIRED:
            raise ConfigError(
                "dataset.prune_scores_file is required: a .npy or .pt with one score per training sample"
            )
        self.scores_file = str(self.scores_file)
        if self.fraction is not None and (not is_number(self.fraction) or not 0 <= self.fraction < 1):
            raise ConfigError(
                f"dataset.prune_fraction must be null or a number in [0, 1), got {self.fraction!r}"
            )
        if self.extra_iterations is not None and (
            not isinstance(self.extra_iterations, int)
            or isinstance(self.extra_iterations, bool)
            or self.extra_iterations < 0
        ):
            raise ConfigError(
                f"dataset.prune_extra_iterations must be null or an integer >= 0, "
                f"got {self.extra_iterations!r}"
            )
        self.scores_order = check_file_order("dataset.prune_scores_order", self.scores_order)

    def choose(self, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
        """The positions of the training samples to keep (sorted), from the scores of ``labels``' samples."""
        from sample_importance.sampler.weights_file import align_to_training_set, load_values

        key = "dataset.prune_scores_file"
        values, record = load_values(self.scores_file, key)
        scores, record = align_to_training_set(
            values, record, labels, self.scores_file, key, self.scores_order
        )
        if self.fraction is None:
            self.fraction = DEFAULT_PRUNE_FRACTION.get(num_classes, FALLBACK_PRUNE_FRACTION)
        kept, pruned = lowest_scoring(scores, self.fraction)
        if len(kept) == 0:
            raise UserError(f"dataset.prune_fraction={self.fraction} leaves no training sample")
        self.num_full, self.kept_from_full, self.pruned, self.scores = len(scores), kept, pruned, scores
        self.scores_record = {k: v for k, v in record.items() if isinstance(v, (int, float, str))}
        if self.extra_iterations is None and "extra_iterations" in record:
            self.extra_iterations = int(record["extra_iterations"])
        return kept

    def record(self) -> dict:
        """What ``pruned_samples.pt`` holds."""
        return {
            "kept_from_full": self.kept_from_full,
            "pruned": self.pruned,
            "score": self.scores,
            "prune_fraction": self.fraction,
            "scores_file": str(Path(self.scores_file).resolve()),
        }

    def summary(self) -> dict:
        return {
            "scores_file": self.scores_file,
            "prune_fraction": self.fraction,
            "num_full": self.num_full,
            "num_pruned": None if self.pruned is None else len(self.pruned),
            "extra_iterations": self.extra_iterations,
            "scores": {k: v for k, v in self.scores_record.items() if k != "extra_iterations"},
        }
