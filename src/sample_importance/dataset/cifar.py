"""CIFAR-10 and CIFAR-100 through torchvision's reader (its on-disk python-pickle format)."""

from __future__ import annotations

from pathlib import Path

import torch

from sample_importance.dataset.sources import ImageSplits, hwc_to_chw
from sample_importance.errors import DatasetUnavailable


class CIFARSource:
    """``variant`` is 10 or 100. With ``download=False`` a missing dataset is a one-line error."""

    in_channels, image_size = 3, 32

    def __init__(self, root: str, variant: int = 10, download: bool = False) -> None:
        if variant not in (10, 100):
            raise ValueError(f"CIFAR variant must be 10 or 100, got {variant}")
        self.root = Path(root)
        self.variant = variant
        self.download = download
        self.num_classes = variant

    def _reader(self):
        from torchvision.datasets import CIFAR10, CIFAR100

        base = CIFAR10 if self.variant == 10 else CIFAR100

        class PresentFiles(base):
            # torchvision checks md5 sums of the unpacked files on every load; the download's
            # archive is still verified, local copies (and the tests' small archives) need only exist.
            train_list = [[name, None] for name, _ in base.train_list]
            test_list = [[name, None] for name, _ in base.test_list]
            meta = {**base.meta, "md5": None}

        PresentFiles.__name__ = base.__name__
        return PresentFiles

    def prepare(self) -> None:
        reader = self._reader()
        probe = reader.__new__(reader)
        probe.root = str(self.root)
        if probe._check_integrity():
            return
        if not self.download:
            raise DatasetUnavailable(
                f"CIFAR-{self.variant} not found under {self.root / reader.base_folder}: "
                f"set dataset.source.download=true or point paths.data_dir at a folder that has it"
            )
        try:
            reader(str(self.root), train=True, download=True)
        except Exception as error:  # no network, a broken mirror
            raise DatasetUnavailable(
                f"CIFAR-{self.variant} download into {self.root} failed: {error}"
            ) from error

    def load(self) -> ImageSplits:
        self.prepare()
        reader = self._reader()
        train = reader(str(self.root), train=True, download=False)
        test = reader(str(self.root), train=False, download=False)
        if self.variant == 10:
            mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
        else:
            mean, std = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
        return ImageSplits(
            hwc_to_chw(train.data),
            torch.tensor(train.targets),
            hwc_to_chw(test.data),
            torch.tensor(test.targets),
            class_names=list(train.classes),
            mean=mean,
            std=std,
            train_pad=4,
            train_flip=True,
        )
