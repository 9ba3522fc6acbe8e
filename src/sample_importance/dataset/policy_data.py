"""Training sets where a sample is an (image, augmentation policy) pair.

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

from sample_importance.dataset.policies import PolicySet
from sample_importance.dataset.tensor_data import BatchedDataset, RandomShift


@dataclass
class SampleTable:
    """One row per training sample, in index order."""

    origin: torch.Tensor  # position of the sample's image among the (kept) training images
    policy: torch.Tensor  # position of its policy in the dataset's PolicySet
    copy: torch.Tensor  # 0 for an image's first appearance, 1.. for the others

    def __len__(self) -> int:
        return len(self.origin)

    def rows(self, positions: torch.Tensor) -> "SampleTable":
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


def replicated_classes(labels: torch.Tensor, classes: list[int], replication: int, num_policies: int) -> SampleTable:
    """Every image once (copy 0, policy 0), then copies 1..replication-1 of the chosen classes' images.

    Copy k uses policy ``k % num_policies``: with the paper's 5 policies, A=5 uses each once and
    A=20 repeats the set 4 times.
    """
    if replication < 1:
        raise ValueError(f"replication must be >= 1, got {replication}")
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


class PolicyImageDataset(BatchedDataset):
    """``(image, label, index)`` for in-memory uint8 images, sample ``i`` = row ``i`` of ``table``.

    Args:
        images, labels: the stored images (uint8, N x C x H x W) and their labels.
        table: which image and policy each sample is.
        policies: the policies the table refers to.
        mean, std: normalisation (0-1 pixel scale).
        standard: the batched standard augmentation (None: off).
        scoring: the scoring view (no standard augmentation; policies fixed per index or off).
        score_with_policies: in the scoring view, apply each sample's policy (fixed draw).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, table: SampleTable, policies: PolicySet,
                 mean, std, standard: RandomShift | None = None, scoring: bool = False,
                 score_with_policies: bool = True) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError("images must be a uint8 tensor of shape (N, C, H, W)")
        self.stored_images = images
        self.stored_labels = labels.long()
        self.table = table
        self.policies = policies
        self.mean_values, self.std_values = tuple(mean), tuple(std)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.standard = standard
        self.scoring = scoring
        self.score_with_policies = score_with_policies
        self.labels = self.stored_labels[table.origin]
        self.images = SampleImages(images, table.origin)

    def __len__(self) -> int:
        return len(self.table)

    def _like(self, table: SampleTable, scoring: bool) -> "PolicyImageDataset":
        return PolicyImageDataset(self.stored_images, self.stored_labels, table, self.policies, self.mean_values,
                                  self.std_values, self.standard, scoring, self.score_with_policies)

    def scoring_view(self) -> "PolicyImageDataset":
        """The same samples (same indices) as the scoring pass sees them."""
        return self._like(self.table, scoring=True)

    def subset(self, positions: torch.Tensor) -> "PolicyImageDataset":
        """The samples at ``positions``, renumbered 0..len-1 (data pruning)."""
        return self._like(self.table.rows(torch.as_tensor(positions, dtype=torch.long)), self.scoring)

    def batch(self, index: torch.Tensor, generator: torch.Generator | None = None):
        images = self.stored_images[self.table.origin[index]]
        policies = self.table.policy[index]
        if not self.scoring:
            if self.standard is not None:
                images = self.standard(images, generator)
            # with a generator (a training batch), each sample's policy draw is seeded from it too
            seeds = None if generator is None else torch.randint(0, 2**62, (len(index),), generator=generator)
            images = self.policies.apply(images, policies, seeds=seeds)
        elif self.score_with_policies:
            images = self.policies.apply(images, policies, seeds=index)
        images = (images.float() / 255 - self.mean) / self.std
        return images, self.labels[index], index


def build_sets(splits, keep: torch.Tensor, test_keep: torch.Tensor, table: SampleTable, policies: PolicySet,
               augment: bool = True, score_with_policies: bool = True):
    """(train, scoring, test) datasets for in-memory ``ImageSplits`` or on-disk ``FileSplits``.

    ``keep`` and ``test_keep`` select the training and test images; ``table`` refers to the kept
    training images by position.
    """
    from sample_importance.dataset.imagefolder import FileImageDataset, FileSplits
    from sample_importance.dataset.tensor_data import TensorImageDataset

    if isinstance(splits, FileSplits):
        train_files = [splits.train_files[i] for i in keep.tolist()]
        train = FileImageDataset(train_files, splits.train_labels[keep], table, policies, splits.views,
                                 "train" if augment else "train_centre", score_with_policies)
        test_files = [splits.test_files[i] for i in test_keep.tolist()]
        test = FileImageDataset(test_files, splits.test_labels[test_keep], single_copies(len(test_files)),
                                PolicySet(["standard"]), splits.views, "test")
        return train, train.scoring_view(), test
    standard = RandomShift(splits.train_pad, splits.train_flip) if augment else None
    train = PolicyImageDataset(splits.train_images[keep], splits.train_labels[keep], table, policies, splits.mean,
                               splits.std, standard, score_with_policies=score_with_policies)
    test = TensorImageDataset(splits.test_images[test_keep], splits.test_labels[test_keep], splits.mean, splits.std, None)
    return train, train.scoring_view(), test
