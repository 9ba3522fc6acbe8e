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

from sample_importance.dataset.policies import PolicySet
from sample_importance.dataset.policy_data import SampleImages, SampleTable
from sample_importance.sampler.index_sampler import Draw, augmentation_generator

VIEWS = ("train", "score", "test")


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
    """A dataset defined by ``batch(index, generator) -> (images, labels, index)``.

    Single items are batches of one.

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
    """``(image, label, index)`` from stored uint8 images; sample ``i`` is row ``i`` of ``table``.

    Every in-memory dataset is one of these: a plain dataset is the table of single copies under
    the ``standard`` policy, multi-augmentation and imbalance with policies are larger tables
    over the same stored images (``policy_data``).

    Args:
        images, labels: the stored images (uint8, N x C x H x W) and their int64 labels.
        table: which stored image and policy each sample is.
        policies: the policies the table refers to.
        mean, std: per-channel normalisation, in units of the 0-255 pixel scale divided by 255.
        standard: the batched standard augmentation of the training view (None: off).
        view: ``"train"`` (standard augmentation, then each sample's policy, drawn afresh),
            ``"score"`` (each sample's policy with a draw fixed by its index when
            ``score_with_policies``, no standard augmentation) or ``"test"`` (the plain image).
        score_with_policies: see ``view``.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        table: SampleTable,
        policies: PolicySet,
        mean,
        std,
        standard: RandomShift | None = None,
        view: str = "train",
        score_with_policies: bool = True,
    ) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError("images must be a uint8 tensor of shape (N, C, H, W)")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if view not in VIEWS:
            raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
        self.stored_images = images
        self.stored_labels = labels.long()
        self.table = table
        self.policies = policies
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.standard = standard
        self.view = view
        self.score_with_policies = score_with_policies
        self.labels = self.stored_labels[table.origin]  # stays on the CPU: samplers, weights and logs read it
        self.batch_labels = self.labels  # where batches take their labels from (see ``to``)
        self.origin = table.origin  # the table's image column, where the images are (see ``to``)
        self.images = SampleImages(images, self.origin)  # ``images[i]``: the stored image of sample ``i``

    def __len__(self) -> int:
        return len(self.table)

    def _like(self, **changes) -> TensorImageDataset:
        like = copy.copy(self)  # shares the tensors, wherever they are
        like.__dict__.update(changes)
        return like

    def scoring_view(self) -> TensorImageDataset:
        """The same samples (same indices) as the scoring pass sees them."""
        return self._like(view="score")

    def subset(self, positions: torch.Tensor) -> TensorImageDataset:
        """The samples at ``positions``, renumbered 0..len-1 (data pruning)."""
        positions = torch.as_tensor(positions, dtype=torch.long)
        table = self.table.rows(positions)
        origin, labels = table.origin.to(self.device), self.labels[positions]
        return self._like(
            table=table,
            labels=labels,
            batch_labels=labels.to(self.device),
            origin=origin,
            images=SampleImages(self.stored_images, origin),
        )

    @property
    def device(self) -> torch.device:
        return self.stored_images.device

    def to(self, device) -> TensorImageDataset:
        """Make batches on ``device`` (in place): images, normalisation and a copy of the labels go there."""
        self.stored_images, self.batch_labels = self.stored_images.to(device), self.labels.to(device)
        self.mean, self.std, self.origin = self.mean.to(device), self.std.to(device), self.origin.to(device)
        self.images = SampleImages(self.stored_images, self.origin)
        return self

    def batch(self, index: torch.Tensor, generator: torch.Generator | None = None):
        index = index.to(self.device, non_blocking=True)
        images = self.stored_images[self.origin[index]]
        if self.view == "train":
            if self.standard is not None:
                images = self.standard(images, generator)
            if self.policies.has_operations:
                # with a generator (a training batch), each sample's policy draw is seeded from it too
                seeds = (
                    None if generator is None else torch.randint(0, 2**62, (len(index),), generator=generator)
                )
                images = self.policies.apply(images, self.table.policy[index.cpu()], seeds=seeds)
        elif self.view == "score" and self.score_with_policies and self.policies.has_operations:
            images = self.policies.apply(images, self.table.policy[index.cpu()], seeds=index.cpu())
        images = (images.float() / 255 - self.mean) / self.std
        return images, self.batch_labels[index], index


def collate(batch):
    """Pass pre-collated batches from ``__getitems__`` through; stack anything else."""
    if isinstance(batch, tuple) and len(batch) == 3 and isinstance(batch[0], torch.Tensor):
        return batch
    return torch.utils.data.default_collate(batch)
