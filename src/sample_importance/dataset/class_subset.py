"""A source without some of its classes, labels renumbered: CIFAR-9 is CIFAR-10 without 'dog'.

Paper, Appendix B.3: the task dependency of sample importance, shown on CIFAR-10 without its
third most confused class (dog); 45,000 training images, so 351 iterations per epoch of 128.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from sample_importance.errors import ConfigError


class WithoutClasses:
    """Wraps a source and drops the classes named in ``exclude`` (names or numbers) from both splits.

    The remaining classes keep their order and are numbered 0..K-1.
    """

    def __init__(self, source, exclude) -> None:
        self.source = source
        self.exclude = [exclude] if isinstance(exclude, (str, int)) else list(exclude)
        if not self.exclude:
            raise ConfigError("dataset.source.exclude must name at least one class")
        self.in_channels, self.image_size = source.in_channels, source.image_size
        self.num_classes = source.num_classes - len(set(self.exclude))

    def prepare(self) -> None:
        self.source.prepare()

    def excluded_labels(self, class_names: list[str]) -> list[int]:
        labels = []
        for item in self.exclude:
            if isinstance(item, int) and not isinstance(item, bool) and 0 <= item < len(class_names):
                labels.append(item)
            elif str(item) in class_names:
                labels.append(class_names.index(str(item)))
            else:
                raise ConfigError(
                    f"dataset.source.exclude: no class {item!r}; the classes are {', '.join(class_names)}"
                )
        return sorted(set(labels))

    def load(self):
        splits = self.source.load()
        dropped = self.excluded_labels(splits.class_names)
        kept = [c for c in range(len(splits.class_names)) if c not in dropped]
        renumber = torch.full((len(splits.class_names),), -1, dtype=torch.long)
        renumber[kept] = torch.arange(len(kept))
        train_keep = renumber[splits.train_labels] >= 0
        test_keep = renumber[splits.test_labels] >= 0
        selected = splits.select(train_keep, test_keep)
        return replace(
            selected,
            train_labels=renumber[selected.train_labels],
            test_labels=renumber[selected.test_labels],
            class_names=[splits.class_names[c] for c in kept],
        )
