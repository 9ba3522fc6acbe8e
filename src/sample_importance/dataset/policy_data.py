"""Training sets as sample tables: a sample is an (image, augmentation policy) pair.

A plain dataset is every image once under the ``standard`` policy (``single_copies``).

Multi-augmentation (paper, Section 4.4): every training image appears once per policy, so with
5 policies CIFAR-10 has 250,000 samples, each with its own index and importance weight.
Imbalance with policies (Section 4.3, Appendix A.1.1): the images of the chosen classes appear
``replication`` times, copy k under policy k modulo the number of policies; the other images
appear once, under the first policy. A policy is applied when the sample is drawn, so every
draw of an AutoAugment copy is a new AutoAugment image.

Scoring view: the standard crop and flip are left out (as for the plain datasets), but each
sample's own policy operation is applied with a draw fixed by the sample index, so the scores
tell the policies apart (with ``score_with_policies=false`` the view is the plain image and all
copies of an image get the same score). A fixed draw makes the scoring pass repeatable.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SampleTable:
    """One row per training sample, in index order."""

    origin: torch.Tensor  # position of the sample's image among the (kept) training images
    policy: torch.Tensor  # position of its policy in the dataset's PolicySet
    copy: torch.Tensor  # 0 for an image's first appearance, 1.. for the others

    def __len__(self) -> int:
        return len(self.origin)

    def rows(self, positions: torch.Tensor) -> SampleTable:
        return SampleTable(self.origin[positions], self.policy[positions], self.copy[positions])


def single_copies(num_images: int) -> SampleTable:
    """Every image once, under policy 0 (a plain dataset in table form)."""
    zeros = torch.zeros(num_images, dtype=torch.long)
    return SampleTable(torch.arange(num_images), zeros, zeros.clone())


def every_image_under_every_policy(num_images: int, num_policies: int) -> SampleTable:
    """Sample ``p * num_images + i`` is image ``i`` under policy ``p``."""
    origin = torch.arange(num_images).repeat(num_policies)
    policy = torch.arange(num_policies).repeat_interleave(num_images)
    return SampleTable(origin, policy, policy.clone())


def replicated_classes(
    labels: torch.Tensor, classes: list[int], replication: int, num_policies: int
) -> SampleTable:
    """Every image once (copy 0, policy 0), then copies 1..replication-1 of the chosen classes' images.

    Copy k uses policy ``k % num_policies``: with the paper's 5 policies, A=5 uses each once and
    A=20 repeats the set 4 times.
    """
    members = torch.isin(labels, torch.tensor(classes, dtype=labels.dtype)).nonzero().flatten()
    origins, copies = [torch.arange(len(labels))], [torch.zeros(len(labels), dtype=torch.long)]
    for copy in range(1, replication):
        origins.append(members)
        copies.append(torch.full((len(members),), copy, dtype=torch.long))
    copy = torch.cat(copies)
    return SampleTable(torch.cat(origins), copy % num_policies, copy)


class SampleImages:
    """``images[i]``: the stored image of sample ``i`` (what TensorBoard's easiest/hardest grid shows)."""

    def __init__(self, images: torch.Tensor, origin: torch.Tensor) -> None:
        self.stored, self.origin = images, origin

    def __len__(self) -> int:
        return len(self.origin)

    def __getitem__(self, i):
        return self.stored[self.origin[i]]
