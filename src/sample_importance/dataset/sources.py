"""What an in-memory dataset source hands to the DataModule (image files: ``imagefolder.FileSplits``).

Both kinds of splits answer the same calls: ``select`` (a class subset) and ``datasets`` (the train,
scoring and test sets for a sample table); ``in_memory`` ones also make ``fixed_copies``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from sample_importance.dataset.policies import PolicySet
from sample_importance.dataset.policy_data import SampleTable, single_copies
from sample_importance.dataset.tensor_data import RandomShift, TensorImageDataset
from sample_importance.dataset.variants import Replicated, replicate_classes


@dataclass
class ImageSplits:
    """Train and test images (uint8, N x C x H x W) with int64 labels."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_pad: int  # training augmentation: random shift of up to `train_pad` pixels
    train_flip: bool  # ... and a random horizontal flip

    in_memory = True  # the images can move to the model's device (dataset.on_device)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def select(self, train_keep: torch.Tensor, test_keep: torch.Tensor) -> ImageSplits:
        """The images (and labels) where the boolean masks are true."""
        return replace(
            self,
            train_images=self.train_images[train_keep],
            train_labels=self.train_labels[train_keep],
            test_images=self.test_images[test_keep],
            test_labels=self.test_labels[test_keep],
        )

    def fixed_copies(
        self, keep: torch.Tensor, classes: list[int], replication: int, seed: int
    ) -> tuple[ImageSplits, Replicated]:
        """The kept training images with ``replication - 1`` fixed shifted copies of ``classes``' images
        (``variants.replicate_classes``) as the new training split."""
        copies = replicate_classes(
            self.train_images[keep],
            self.train_labels[keep],
            classes,
            replication,
            RandomShift(self.train_pad, self.train_flip),
            seed,
        )
        return replace(self, train_images=copies.images, train_labels=copies.labels), copies

    def datasets(
        self,
        keep: torch.Tensor,
        test_keep: torch.Tensor,
        table: SampleTable,
        policies: PolicySet,
        augment: bool = True,
        score_with_policies: bool = True,
    ):
        """(train, scoring, test) datasets; ``table`` refers to the kept training images by position."""
        standard = RandomShift(self.train_pad, self.train_flip) if augment else None
        train = TensorImageDataset(
            self.train_images[keep],
            self.train_labels[keep],
            table,
            policies,
            self.mean,
            self.std,
            standard,
            "train",
            score_with_policies,
        )
        test = TensorImageDataset(
            self.test_images[test_keep],
            self.test_labels[test_keep],
            single_copies(len(test_keep)),
            PolicySet(["standard"]),
            self.mean,
            self.std,
            None,
            "test",
        )
        return train, train.scoring_view(), test


def hwc_to_chw(images) -> torch.Tensor:
    images = torch.as_tensor(images)
    if images.ndim == 3:  # grayscale N x H x W
        return images.unsqueeze(1).contiguous()
    return images.permute(0, 3, 1, 2).contiguous()
