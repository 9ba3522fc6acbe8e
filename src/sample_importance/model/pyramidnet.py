"""Additive PyramidNet (Han, Kim and Kim, CVPR 2017) for small images.

Instead of doubling the width at each downsampling, every residual unit widens the network by
alpha / (number of units), so the last unit of a network with width 16 at the start ends at
16 + alpha channels (times 4 with bottleneck units). Units are pre-activation without the
first ReLU (BN - conv - BN - ReLU - conv - BN); the shortcut is the identity, average-pooled
where the unit downsamples and zero-padded to the unit's wider output.

Published sizes (Han et al. 2017; the authors' table at github.com/jhkim89/PyramidNet) that
``tests/test_models.py`` checks against:
- PyramidNet-110, alpha=48, basic units: 1.7M parameters, output feature dimension 64;
- PyramidNet-164, alpha=270, bottleneck units: 27.0M parameters, output feature dimension 1144.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class PyramidUnit(nn.Module):
    """One pyramidal residual unit: ``in_channels`` to ``width * expansion`` channels."""

    def __init__(self, in_channels: int, width: int, stride: int, bottleneck: bool) -> None:
        super().__init__()
        self.expansion = 4 if bottleneck else 1
        self.out_channels = width * self.expansion
        if bottleneck:
            layers = [
                nn.BatchNorm2d(in_channels),
                nn.Conv2d(in_channels, width, 1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.Conv2d(width, self.out_channels, 1, bias=False),
                nn.BatchNorm2d(self.out_channels),
            ]
        else:
            layers = [
                nn.BatchNorm2d(in_channels),
                nn.Conv2d(in_channels, width, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.Conv2d(width, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
            ]
        self.residual = nn.Sequential(*layers)
        # ceil_mode keeps the shortcut the same size as a stride-2 convolution on odd sizes
        self.shortcut_pool = nn.AvgPool2d(2, ceil_mode=True) if stride > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.residual(x)
        shortcut = self.shortcut_pool(x)
        missing = out.shape[1] - shortcut.shape[1]
        if missing > 0:  # the extra channels of the wider unit get a zero shortcut
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, missing))
        return out + shortcut


class PyramidNet(nn.Module):
    """Additive PyramidNet for CIFAR-size inputs (any size and channel count works).

    Args:
        depth: 6n+2 layers with basic units, 9n+2 with bottleneck units (n units per stage).
        alpha: total widening over all units.
        bottleneck: bottleneck units (1x1 - 3x3 - 1x1, 4x expansion) instead of basic ones.
        in_channels, num_classes, image_size: from the dataset.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        image_size: int,
        depth: int = 110,
        alpha: float = 48,
        bottleneck: bool = False,
        base_width: int = 16,
    ) -> None:
        super().__init__()
        layers_per_unit = 9 if bottleneck else 6
        if depth < layers_per_unit + 2 or (depth - 2) % layers_per_unit:
            raise ValueError(
                f"PyramidNet depth must be {layers_per_unit}n+2 with "
                f"{'bottleneck' if bottleneck else 'basic'} units, got {depth}"
            )
        units_per_stage = (depth - 2) // layers_per_unit
        step = alpha / (3 * units_per_stage)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, base_width, 3, padding=1, bias=False), nn.BatchNorm2d(base_width)
        )
        units, channels, width = [], base_width, float(base_width)
        for stage in range(3):
            for unit in range(units_per_stage):
                width += step
                stride = 2 if stage > 0 and unit == 0 else 1
                block = PyramidUnit(channels, int(round(width)), stride, bottleneck)
                units.append(block)
                channels = block.out_channels
        self.units = nn.Sequential(*units)
        self.feature_dim = channels
        self.head = nn.Sequential(
            nn.BatchNorm2d(channels), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.fc = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.head(self.units(self.stem(x))))
