"""scikit-learn's bundled 8x8 digits: 1,797 real images, no download. For tests and smoke runs."""

from __future__ import annotations

import torch

from sample_importance.dataset.sources import ImageSplits


class DigitsSource:
    """A seeded stratified split of the digits into train and test (default 1,437 / 360)."""

    in_channels, image_size, num_classes = 1, 8, 10

    def __init__(self, test_fraction: float = 0.2, split_seed: int = 0) -> None:
        self.test_fraction = test_fraction
        self.split_seed = split_seed

    def prepare(self) -> None:
        """Nothing to fetch: the images ship inside the scikit-learn wheel."""

    def load(self) -> ImageSplits:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.from_numpy(digits.images * (255.0 / 16.0)).round().to(torch.uint8).unsqueeze(1)
        labels = torch.from_numpy(digits.target).long()
        generator = torch.Generator().manual_seed(self.split_seed)
        test_mask = torch.zeros(len(labels), dtype=torch.bool)
        for label in labels.unique():
            members = (labels == label).nonzero().flatten()
            members = members[torch.randperm(len(members), generator=generator)]
            test_mask[members[: round(len(members) * self.test_fraction)]] = True
        return ImageSplits(
            images[~test_mask],
            labels[~test_mask],
            images[test_mask],
            labels[test_mask],
            class_names=[str(d) for d in range(10)],
            mean=(0.3,),
            std=(0.38,),
            train_pad=1,
            train_flip=False,
        )
