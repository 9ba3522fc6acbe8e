"""What every dataset source hands to the DataModule."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


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
    extra: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def hwc_to_chw(images) -> torch.Tensor:
    images = torch.as_tensor(images)
    if images.ndim == 3:  # grayscale N x H x W
        return images.unsqueeze(1).contiguous()
    return images.permute(0, 3, 1, 2).contiguous()
