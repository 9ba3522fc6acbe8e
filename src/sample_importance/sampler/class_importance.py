"""SGD-SCI (Section 4.3, Figure 5): sample classes by their importance, samples uniformly within a class.

The method's weights w_i at epoch E give each class its importance W_c = sum_{y_i=c} w_i / sum_j w_j
(the class shares of Figure 3). Drawing a class c with probability W_c and then one of its n_c
samples uniformly is the same as drawing sample i with probability W_{y_i} / n_{y_i}, so the one
IndexSampler draws by those per-sample weights.
"""

from __future__ import annotations

import torch

from sample_importance.report.metrics import class_importance
from sample_importance.sampler.importance import ImportanceSampling


def class_level_weights(
    weights: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-sample W_{y_i} / n_{y_i}, the class importances W_c)."""
    shares = torch.from_numpy(class_importance(weights.numpy(), labels.numpy(), num_classes))
    counts = torch.bincount(labels.long(), minlength=num_classes).double()
    per_sample = (shares / counts.clamp(min=1))[labels.long()]
    return per_sample, shares


class ClassImportanceSampling(ImportanceSampling):
    """The method's switch and every option of ``sampler=importance``, with class-level weights."""

    name = "class_importance"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.class_weights: list[float] | None = None

    def final_weights(
        self, weights: torch.Tensor, labels: torch.Tensor, num_classes: int
    ) -> tuple[torch.Tensor, dict]:
        per_sample, shares = class_level_weights(weights, labels, num_classes)
        self.class_weights = shares.tolist()
        return per_sample, {"class_weight": shares, "sample_importance_weight": weights.double().clone()}

    def state_dict(self) -> dict:
        return {**super().state_dict(), "class_weights": self.class_weights}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.class_weights = state.get("class_weights")

    def summary(self) -> dict:
        return {**super().summary(), "class_weights": self.class_weights}
