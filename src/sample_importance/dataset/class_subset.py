"""A data set without some of its classes, labels renumbered: CIFAR-9 is CIFAR-10 without 'dog'.

Paper, Appendix B.3: the task dependency of sample importance, shown on CIFAR-10 without its
third most confused class (dog); 45,000 training images, so 351 iterations per epoch of 128.

Any source takes it as the dataset option ``dataset.exclude_classes`` (``ImageDataModule``).
Runs configured before that option existed wrapped their source in ``WithoutClasses`` (the
``cifar9``, ``fashion_mnist9`` and ``digits9`` dataset configs); their saved configs still
instantiate it, and ``as_exclude_classes`` reads their settings as today's form, so their
resumes and the report treat them as the same experiment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sample_importance.errors import ConfigError

OPTION = "dataset.exclude_classes"
# The dataset configs that were a source wrapped in WithoutClasses: choice -> (source, excluded).
OLD_CHOICES = {
    "cifar9": ("cifar10", ("dog",)),
    "fashion_mnist9": ("fashion_mnist", ("Shirt",)),
    "digits9": ("digits", ("8",)),
}


def class_list(exclude, setting: str) -> list:
    """``exclude`` (null, a class name or number, or a list of them) as a list; anything else is an error."""
    if exclude is None:
        return []
    items = [exclude] if isinstance(exclude, (str, int)) else exclude
    if (
        isinstance(items, (str, bytes))
        or not isinstance(items, Sequence)
        or any(isinstance(item, bool) or not isinstance(item, (str, int)) for item in items)
    ):
        raise ConfigError(f"{setting} must be null or a list of class names or numbers, got {exclude!r}")
    return list(items)


def excluded_labels(exclude: list, class_names: list[str], setting: str) -> list[int]:
    """The labels of the classes ``exclude`` names (a class name, or its number 0..K-1)."""
    labels = []
    for item in exclude:
        if isinstance(item, int) and 0 <= item < len(class_names):
            labels.append(item)
        elif str(item) in class_names:
            labels.append(class_names.index(str(item)))
        else:
            raise ConfigError(f"{setting}: no class {item!r}; the classes are {', '.join(class_names)}")
    if len(set(labels)) < len(set(exclude)):
        raise ConfigError(f"{setting} names one class twice (by name and by number): {exclude}")
    if len(class_names) - len(set(labels)) < 2:
        raise ConfigError(f"{setting} leaves fewer than 2 of the {len(class_names)} classes: {exclude}")
    return sorted(set(labels))


def without_classes(splits, exclude: list, setting: str = OPTION):
    """``splits`` (in memory or files) without the classes ``exclude`` names, in both splits; the
    other classes keep their order and are numbered 0..K-1."""
    import torch  # here, not at the top: the report reads this module's settings helpers without torch

    dropped = excluded_labels(exclude, splits.class_names, setting)
    kept = [c for c in range(len(splits.class_names)) if c not in dropped]
    renumber = torch.full((len(splits.class_names),), -1, dtype=torch.long)
    renumber[kept] = torch.arange(len(kept))
    selected = splits.select(renumber[splits.train_labels] >= 0, renumber[splits.test_labels] >= 0)
    return replace(
        selected,
        train_labels=renumber[selected.train_labels],
        test_labels=renumber[selected.test_labels],
        class_names=[splits.class_names[c] for c in kept],
    )


def as_exclude_classes(settings: dict) -> dict:
    """A run's settings as dotted keys (``dataset.source._target_``: ...) in today's form: a
    ``WithoutClasses`` source becomes its inner source plus ``dataset.exclude_classes``, and
    ``dataset.exclude_classes`` that excludes nothing (null, []) is left out, as runs from before
    the option lack it."""
    if OPTION in settings and not settings[OPTION]:
        settings = {key: value for key, value in settings.items() if key != OPTION}
    if str(settings.get("dataset.source._target_", "")).endswith(".WithoutClasses"):
        inner = "dataset.source.source."
        rewritten = {}
        for key, value in settings.items():
            if key.startswith(inner):
                rewritten["dataset.source." + key[len(inner) :]] = value
            elif key == "dataset.source.exclude":
                rewritten[OPTION] = value
            elif key != "dataset.source._target_":
                rewritten[key] = value
        settings = rewritten
    return settings


class WithoutClasses:
    """A source without the classes named in ``exclude`` (names or numbers), in both splits; how
    runs made before ``dataset.exclude_classes`` existed were configured (their saved configs)."""

    def __init__(self, source, exclude) -> None:
        self.source = source
        self.exclude = class_list(exclude, "dataset.source.exclude")
        if not self.exclude:
            raise ConfigError("dataset.source.exclude must name at least one class")
        self.in_channels, self.image_size = source.in_channels, source.image_size
        self.num_classes = source.num_classes - len(set(self.exclude))

    def prepare(self) -> None:
        self.source.prepare()

    def load(self):
        return without_classes(self.source.load(), self.exclude, "dataset.source.exclude")
