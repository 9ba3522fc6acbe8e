"""torchvision's GoogLeNet (Inception v1), with a stem for small images.

The paper (Appendix A.1.3) uses torchvision's GoogLeNet on CIFAR. Its ImageNet stem (7x7 stride-2
convolution, then a stride-2 max-pool) shrinks a 32x32 image to 8x8 before the first inception
block; the small-image stem keeps the resolution there (3x3 stride-1 convolution, no first
max-pool), so the inception blocks see 16x16, 8x8 and 4x4 maps, as a 224-pixel image gives
28, 14 and 7. Randomly initialised, without the auxiliary classifiers.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn
from torchvision.models.googlenet import BasicConv2d


def googlenet(
    in_channels: int, num_classes: int, image_size: int, cifar_stem: bool | None = None, dropout: float = 0.2
) -> nn.Module:
    """A randomly initialised GoogLeNet; ``cifar_stem`` defaults to on for images under 64 pixels."""
    net = torchvision.models.googlenet(
        weights=None, num_classes=num_classes, aux_logits=False, init_weights=True, dropout=dropout
    )
    if cifar_stem is None:
        cifar_stem = image_size < 64
    if cifar_stem:
        net.conv1 = BasicConv2d(in_channels, 64, kernel_size=3, stride=1, padding=1)
        net.maxpool1 = nn.Identity()
    elif in_channels != 3:
        net.conv1 = BasicConv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)
    # the replaced convolution gets the same initialisation as torchvision gives the others
    torch.nn.init.trunc_normal_(net.conv1.conv.weight, mean=0.0, std=0.01, a=-2, b=2)
    return net
