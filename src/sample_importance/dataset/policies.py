"""Augmentation policies by name, for the multi-augmentation and imbalance experiments.

Every policy is the dataset's standard training augmentation (pad-and-crop plus flip for the
small datasets, RandomResizedCrop plus flip for ImageNet) followed by the policy's own
operation, drawn afresh each time a sample is drawn. The paper says so for ImageNet ("all sets
are preceded by RandomResizeCrop", Appendix C); for CIFAR it does not say, and the same rule is
used.

The paper's sets:
- CIFAR (Appendix A.1.1): the standard augmentation twice, AutoAugment with the CIFAR-10
  policy, RandAugment and TrivialAugmentWide with default parameters.
- ImageNet (Appendix C): flip, flip with colour jitter, AutoAugment, RandAugment with the
  parameters of Wightman et al.'s procedure A3 (timm's rand-m6-mstd0.5-inc1; torchvision has no
  magnitude noise, so magnitude 6 with two operations), TrivialAugmentWide.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

PAPER_CIFAR_POLICIES = ("standard", "standard", "autoaugment_cifar10", "randaugment", "trivialaugment_wide")
PAPER_IMAGENET_POLICIES = (
    "standard",
    "colorjitter",
    "autoaugment_imagenet",
    "randaugment_a3",
    "trivialaugment_wide",
)


def _extra_operations() -> dict[str, Callable[[], Callable | None]]:
    from torchvision.transforms import v2

    return {
        "standard": lambda: None,
        "autoaugment_cifar10": lambda: v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10),
        "autoaugment_imagenet": lambda: v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET),
        "randaugment": lambda: v2.RandAugment(),
        "randaugment_a3": lambda: v2.RandAugment(num_ops=2, magnitude=6),
        "trivialaugment_wide": lambda: v2.TrivialAugmentWide(),
        "colorjitter": lambda: v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4),
    }


def policy_names() -> list[str]:
    return sorted(_extra_operations())


def check_policies(names: Sequence[str], key: str) -> list[str]:
    """The names as a list; an unknown name is a ``ConfigError`` listing the known ones."""
    from sample_importance.errors import ConfigError

    names = [str(name) for name in names]
    if not names:
        raise ConfigError(f"{key} must name at least one augmentation policy")
    unknown = [name for name in names if name not in _extra_operations()]
    if unknown:
        raise ConfigError(
            f"{key}: unknown augmentation policy {unknown[0]!r}; known: {', '.join(policy_names())}"
        )
    return names


class single_thread:
    """Per-image torchvision operations on tiny images run many times slower with several threads."""

    def __init__(self) -> None:
        self.threads = 1  # the caller's thread count, kept from __enter__ to __exit__

    def __enter__(self):
        self.threads = torch.get_num_threads()
        if self.threads != 1:
            torch.set_num_threads(1)

    def __exit__(self, *exc):
        if self.threads != 1:
            torch.set_num_threads(self.threads)


class PolicySet:
    """The policies of a dataset, by position; ``apply`` runs each sample's extra operation.

    Args:
        names: policy names; sample tables refer to them by position.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = check_policies(names, "augmentation policies")
        factories = _extra_operations()
        self.operations = [factories[name]() for name in self.names]

    def __len__(self) -> int:
        return len(self.names)

    @property
    def has_operations(self) -> bool:
        """Whether any policy adds an operation to the standard augmentation."""
        return any(operation is not None for operation in self.operations)

    def apply_one(self, image: torch.Tensor, policy: int, seed: int | None = None) -> torch.Tensor:
        """``image`` (uint8, C x H x W) under the policy's extra operation; ``seed`` fixes its draw."""
        operation = self.operations[policy]
        if operation is None:
            return image
        if seed is None:
            return operation(image)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return operation(image)

    def apply(
        self, images: torch.Tensor, policies: torch.Tensor, seeds: torch.Tensor | None = None
    ) -> torch.Tensor:
        """A batch (uint8, N x C x H x W) with every sample's extra operation; ``seeds`` fix the draws."""
        needs = [j for j, p in enumerate(policies.tolist()) if self.operations[p] is not None]
        if not needs:
            return images
        images = images.clone()
        with single_thread():
            for j in needs:
                seed = None if seeds is None else int(seeds[j])
                images[j] = self.apply_one(images[j], int(policies[j]), seed)
        return images
