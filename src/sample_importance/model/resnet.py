"""torchvision ResNets, with the CIFAR stem the paper takes from Paul et al. (2021) for small images."""

from __future__ import annotations

import torchvision
from torch import nn

DEPTHS = {
    18: torchvision.models.resnet18,
    34: torchvision.models.resnet34,
    50: torchvision.models.resnet50,
    101: torchvision.models.resnet101,
}


def resnet(
    depth: int, in_channels: int, num_classes: int, image_size: int, cifar_stem: bool | None = None
) -> nn.Module:
    """A randomly initialised ResNet-``depth``.

    ``cifar_stem`` (default: on for images under 64 pixels) replaces the 7x7 stride-2 convolution
    and the max-pool with one 3x3 stride-1 convolution.
    """
    if depth not in DEPTHS:
        raise ValueError(f"ResNet depth must be one of {sorted(DEPTHS)}, got {depth}")
    net = DEPTHS[depth](weights=None, num_classes=num_classes)
    if cifar_stem is None:
        cifar_stem = image_size < 64
    if cifar_stem:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return net
