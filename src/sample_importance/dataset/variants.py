"""Dataset variants built from a source's splits: class-balanced subsets and class imbalance.

The imbalance is the paper's Section 4.3 construction: a seeded fraction of the
classes has every training sample replicated ``replication`` times. Copy 0 is the
original image; copies 1.. are the original with the dataset's training
augmentation drawn once and then fixed, so each copy is a distinct sample with
its own index (and its own importance weight). The choice of classes depends on
``seed`` alone, not on the run's seed, so all seeds of a sweep share it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sample_importance.dataset.tensor_data import RandomShift


def balanced_subset(labels: torch.Tensor, per_class: int | None, seed: int) -> torch.Tensor:
    """Indices of a seeded subset with ``per_class`` samples of every class (all if None), sorted."""
    if per_class is None:
        return torch.arange(len(labels))
    generator = torch.Generator().manual_seed(seed)
    keep = []
    for label in labels.unique(sorted=True):
        members = (labels == label).nonzero().flatten()
        keep.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return torch.cat(keep).sort().values


def choose_classes(num_classes: int, fraction: float, seed: int) -> list[int]:
    """``round(fraction * num_classes)`` classes (at least one), drawn by ``seed``, sorted."""
    count = max(1, round(fraction * num_classes))
    generator = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(num_classes, generator=generator)[:count].tolist())


@dataclass
class Replicated:
    images: torch.Tensor
    labels: torch.Tensor
    origin: torch.Tensor  # index of the original image in the split the copies came from
    copy: torch.Tensor  # 0 for the original, 1.. for the fixed augmented copies


def replicate_classes(
    images: torch.Tensor,
    labels: torch.Tensor,
    classes: list[int],
    replication: int,
    augment: RandomShift,
    seed: int,
) -> Replicated:
    """Replicate every sample of ``classes`` ``replication`` times; other samples stay single.

    The values are checked where they are set (``datamodule.check_dataset_settings``)."""
    origin = torch.arange(len(labels))
    chosen = torch.isin(labels, torch.tensor(classes))
    parts_images, parts_origin, parts_copy = [images], [origin], [torch.zeros(len(labels), dtype=torch.long)]
    generator = torch.Generator().manual_seed(seed)
    for copy in range(1, replication):
        members = origin[chosen]
        parts_images.append(augment(images[members], generator=generator))
        parts_origin.append(members)
        parts_copy.append(torch.full((len(members),), copy, dtype=torch.long))
    all_origin = torch.cat(parts_origin)
    return Replicated(torch.cat(parts_images), labels[all_origin], all_origin, torch.cat(parts_copy))
