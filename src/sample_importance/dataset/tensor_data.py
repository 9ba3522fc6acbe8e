"""In-memory image datasets with batched augmentation.

Small datasets (digits, Fashion-MNIST, CIFAR) live as one uint8 tensor. A
DataLoader asks ``__getitems__`` for a whole batch at once, so cropping,
flipping and normalising are a few tensor operations per batch instead of a
Python call per image: LeNet on CPU trains faster than a per-sample
transform pipeline can feed it. The tensors may live on the GPU
(``TensorImageDataset.to``): the batch is then gathered, augmented and
normalised there, and only the batch's indices cross the bus.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from sample_importance.sampler.index_sampler import Draw, augmentation_generator


@dataclass(frozen=True)
class RandomShift:
    """Zero-pad by ``pad`` pixels, crop back at a random offset, optionally flip left-right.

    The paper's CIFAR augmentation is ``RandomShift(pad=4, flip=True)``; Fashion-MNIST
    uses shifts of up to 2 pixels, ``RandomShift(pad=2)``.
    """

    pad: int
    flip: bool = False

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        count, _, height, width = images.shape
        device = images.device
        # Offsets are drawn where the generator is (a keyed CPU generator for training batches,
        # see ``Draw``), else where the images are (a GPU's own generator), then moved.
        drawn_on = device if generator is None else generator.device
        if self.pad:
            padded = torch.nn.functional.pad(images, (self.pad,) * 4)
            dy = torch.randint(0, 2 * self.pad + 1, (count,), generator=generator, device=drawn_on).to(device)
            dx = torch.randint(0, 2 * self.pad + 1, (count,), generator=generator, device=drawn_on).to(device)
            rows = (dy[:, None] + torch.arange(height, device=device))[:, :, None]  # (count, H, 1)
            cols = (dx[:, None] + torch.arange(width, device=device))[:, None, :]  # (count, 1, W)
            batch = torch.arange(count, device=device)[:, None, None]
            images = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)
        if self.flip:
            flip = (torch.rand(count, generator=generator, device=drawn_on) < 0.5).to(device)
            images = torch.where(flip[:, None, None, None], images.flip(-1), images)
        return images.contiguous()


class BatchedDataset(Dataset):
    """A dataset defined by ``batch(index, generator) -> (images, labels, index)``; single items are batches of one.

    The training loader asks for ``Draw`` tuples (``index_sampler.TrainingDraws``): the batch is
    then augmented from a generator seeded by its first draw's place in the run. Bare indices
    (other loaders, direct use) augment from the global random stream.
    """

    def batch(self, index: torch.Tensor, generator: torch.Generator | None = None):
        raise NotImplementedError

    def __getitem__(self, i: int):
        images, labels, index = self.__getitems__([i])
        return images[0], labels[0], index[0]

    def __getitems__(self, indices: list):
        if indices and isinstance(indices[0], Draw):
            index = torch.tensor([draw.index for draw in indices], dtype=torch.long)
            return self.batch(index, augmentation_generator(indices[0]))
        return self.batch(torch.as_tensor(indices, dtype=torch.long))


class TensorImageDataset(BatchedDataset):
    """``(image, label, index)`` from a uint8 tensor of shape (N, C, H, W).

    Args:
        images: uint8 images.
        labels: int64 class labels.
        mean, std: per-channel normalisation, in units of the 0-255 pixel scale divided by 255.
        augment: a batched augmentation applied to uint8 images, or None for the plain view.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean, std, augment=None) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError("images must be a uint8 tensor of shape (N, C, H, W)")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = labels.long()  # stays on the CPU: samplers, weights and logs read it there
        self.batch_labels = self.labels  # where batches take their labels from (see ``to``)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.labels)

    def view(self, augment) -> "TensorImageDataset":
        """The same samples (same indices) with another augmentation."""
        view = copy.copy(self)  # shares the tensors, wherever they are
        view.augment = augment
        return view

    @property
    def device(self) -> torch.device:
        return self.images.device

    def to(self, device) -> "TensorImageDataset":
        """Make batches on ``device`` (in place): images, normalisation and a copy of the labels move there."""
        self.images, self.batch_labels = self.images.to(device), self.labels.to(device)
        self.mean, self.std = self.mean.to(device), self.std.to(device)
        return self

    def batch(self, index: torch.Tensor, generator: torch.Generator | None = None):
        index = index.to(self.images.device, non_blocking=True)
        images = self.images[index]
        if self.augment is not None:
            images = self.augment(images, generator)
        images = (images.float() / 255 - self.mean) / self.std
        return images, self.batch_labels[index], index


def collate(batch):
    """Pass pre-collated batches from ``__getitems__`` through; stack anything else."""
    if isinstance(batch, tuple) and len(batch) == 3 and isinstance(batch[0], torch.Tensor):
        return batch
    return torch.utils.data.default_collate(batch)
