"""Image files in an ImageFolder layout (ImageNet-1K), read from disk when drawn.

Layout: ``<root>/<train_dir>/<class>/<image>`` and ``<root>/<test_dir>/<class>/<image>`` with
the same class folders in both (for ImageNet, the validation images sorted into their class
folders, as torchvision's and timm's ImageNet readers expect). Classes are numbered in sorted
folder order. Training view: RandomResizedCrop to ``image_size`` and a horizontal flip (then
the sample's augmentation policy); test and scoring views: resize the short side to
``resize_size`` and crop the centre ``image_size`` square (paper, Appendix C: the PyTorch
ImageNet procedure, 224 from 256).

``export_from`` (CPU runs and tests): a source with in-memory images (digits, Fashion-MNIST)
whose splits are written once as PNG files into ``root`` by ``prepare()``, so the file path of
the ImageNet experiments can run here at a small scale.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.utils.data import Dataset

from sample_importance.dataset.policies import PolicySet, single_thread
from sample_importance.dataset.policy_data import SampleTable, single_copies
from sample_importance.errors import DatasetUnavailable
from sample_importance.sampler.index_sampler import Draw, augmentation_seed

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass
class FileViews:
    """How the files of a split become tensors."""

    in_channels: int
    image_size: int  # side of the square the network sees
    resize_size: int  # short side before the centre crop (test and scoring views)
    crop_scale: tuple[float, float]  # area range of RandomResizedCrop
    flip: bool
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass
class FileSplits:
    """What an ImageFolder source hands to the DataModule: file paths and int64 labels."""

    train_files: list[str]
    train_labels: torch.Tensor
    test_files: list[str]
    test_labels: torch.Tensor
    class_names: list[str]
    views: FileViews

    # Files are read when drawn: the data cannot move to the model's device, and the imbalance's
    # copies are drawn under their policies (``standard`` when none is given), not stored.
    in_memory = False

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def select(self, train_keep: torch.Tensor, test_keep: torch.Tensor) -> FileSplits:
        """The files (and labels) where the boolean masks are true."""
        return replace(
            self,
            train_files=[f for f, k in zip(self.train_files, train_keep.tolist()) if k],
            train_labels=self.train_labels[train_keep],
            test_files=[f for f, k in zip(self.test_files, test_keep.tolist()) if k],
            test_labels=self.test_labels[test_keep],
        )

    def datasets(
        self,
        keep: torch.Tensor,
        test_keep: torch.Tensor,
        table: SampleTable,
        policies: PolicySet,
        augment: bool = True,
        score_with_policies: bool = True,
    ):
        """(train, scoring, test) datasets; ``table`` refers to the kept training files by position."""
        train_files = [self.train_files[i] for i in keep.tolist()]
        train = FileImageDataset(
            train_files,
            self.train_labels[keep],
            table,
            policies,
            self.views,
            "train" if augment else "train_centre",
            score_with_policies,
        )
        test_files = [self.test_files[i] for i in test_keep.tolist()]
        test = FileImageDataset(
            test_files,
            self.test_labels[test_keep],
            single_copies(len(test_files)),
            PolicySet(["standard"]),
            self.views,
            "test",
        )
        return train, train.scoring_view(), test


def list_split(
    folder: Path, class_names: list[str] | None = None
) -> tuple[list[str], torch.Tensor, list[str]]:
    """Files and labels of one split folder; ``class_names`` fixes the numbering (the training split's)."""
    found = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    if class_names is None:
        class_names = found
    elif set(found) - set(class_names):
        raise DatasetUnavailable(
            f"{folder} has class folders the training split lacks: "
            f"{sorted(set(found) - set(class_names))[:3]}"
        )
    files, labels = [], []
    for label, name in enumerate(class_names):
        if not (folder / name).is_dir():
            continue
        for entry in sorted(os.scandir(folder / name), key=lambda e: e.name):
            if entry.is_file() and entry.name.lower().endswith(IMAGE_SUFFIXES):
                files.append(entry.path)
                labels.append(label)
    return files, torch.tensor(labels, dtype=torch.long), class_names


class ImageFolderSource:
    """ImageNet-1K or any ImageFolder tree.

    Args:
        root: the folder holding ``train_dir`` and ``test_dir``.
        num_classes: expected number of class folders (checked at load; the network is built
            before the files are listed).
        image_size, resize_size, crop_scale, flip: the views (see the module docstring).
        in_channels: 3 (RGB) or 1 (grey); files are converted on reading.
        mean, std: normalisation on the 0-1 scale (default: ImageNet's).
        export_from: an in-memory source to write into ``root`` when it is empty.
    """

    def __init__(
        self,
        root: str,
        num_classes: int,
        train_dir: str = "train",
        test_dir: str = "val",
        image_size: int = 224,
        resize_size: int = 256,
        crop_scale=(0.08, 1.0),
        flip: bool = True,
        in_channels: int = 3,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        export_from=None,
    ) -> None:
        self.root = Path(root)
        self.train_dir, self.test_dir = train_dir, test_dir
        self.num_classes = int(num_classes)
        self.in_channels = int(in_channels)
        self.image_size = int(image_size)
        self.views = FileViews(
            self.in_channels,
            self.image_size,
            int(resize_size),
            (float(crop_scale[0]), float(crop_scale[1])),
            bool(flip),
            tuple(mean),
            tuple(std),
        )
        if len(self.views.mean) != self.in_channels or len(self.views.std) != self.in_channels:
            raise ValueError(f"mean and std need {self.in_channels} values, got {list(mean)} and {list(std)}")
        self.export_from = export_from

    def _present(self) -> bool:
        return (self.root / self.train_dir).is_dir() and (self.root / self.test_dir).is_dir()

    def prepare(self) -> None:
        if self._present():
            return
        if self.export_from is None:
            raise DatasetUnavailable(
                f"no ImageFolder tree at {self.root}: it needs {self.train_dir}/<class>/<images> and "
                f"{self.test_dir}/<class>/<images> (set dataset.source.root or paths.data_dir)"
            )
        export_png_tree(self.export_from.load(), self.root, self.train_dir, self.test_dir)

    def load(self) -> FileSplits:
        self.prepare()
        train_files, train_labels, class_names = list_split(self.root / self.train_dir)
        test_files, test_labels, _ = list_split(self.root / self.test_dir, class_names)
        if len(class_names) != self.num_classes:
            raise DatasetUnavailable(
                f"{self.root / self.train_dir} has {len(class_names)} class folders, "
                f"dataset.source.num_classes says {self.num_classes}"
            )
        if not train_files or not test_files:
            raise DatasetUnavailable(
                f"no image files under {self.root / self.train_dir} or {self.root / self.test_dir}"
            )
        return FileSplits(train_files, train_labels, test_files, test_labels, class_names, self.views)


def export_png_tree(splits, root: Path, train_dir: str, test_dir: str) -> None:
    """Write in-memory splits as ``root/<split>/<class>/<n>.png``, all at once.

    A half-written tree never shows."""
    from PIL import Image

    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        for split, images, labels in (
            (train_dir, splits.train_images, splits.train_labels),
            (test_dir, splits.test_images, splits.test_labels),
        ):
            for n, (image, label) in enumerate(zip(images, labels.tolist())):
                folder = staging / split / splits.class_names[label]
                folder.mkdir(parents=True, exist_ok=True)
                array = image.permute(1, 2, 0).numpy()
                Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(
                    folder / f"{n:06d}.png"
                )
        staging.rename(root)
        log.info(
            "wrote an ImageFolder tree of %d + %d images to %s",
            len(splits.train_labels),
            len(splits.test_labels),
            root,
        )
    except OSError:
        if not (root / train_dir).is_dir():  # another process finished first: keep its tree
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class FileImageDataset(Dataset):
    """``(image, label, index)`` read from files; sample ``i`` is row ``i`` of ``table``.

    Args:
        files, labels: the split's files and labels.
        table: image and policy of every sample.
        policies: the policies the table refers to.
        views: sizes, crops and normalisation.
        view: "train" (random crop, flip, policy), "train_centre" (centre crop, policy: training
            with ``augment=false``), "score" (centre crop, the policy with a draw fixed by the
            index when ``score_with_policies``) or "test" (centre crop only).
    """

    def __init__(
        self,
        files: list[str],
        labels: torch.Tensor,
        table: SampleTable,
        policies: PolicySet,
        views: FileViews,
        view: str = "train",
        score_with_policies: bool = True,
    ) -> None:
        if view not in ("train", "train_centre", "score", "test"):
            raise ValueError(f"view must be train, train_centre, score or test, got {view!r}")
        self.files = files
        self.stored_labels = labels.long()
        self.table = table
        self.policies = policies
        self.views = views
        self.view = view
        self.score_with_policies = score_with_policies
        self.labels = self.stored_labels[table.origin]
        self.mean = torch.tensor(views.mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(views.std, dtype=torch.float32).view(-1, 1, 1)
        self._geometry = None

    def __len__(self) -> int:
        return len(self.table)

    def _like(self, table: SampleTable, view: str) -> FileImageDataset:
        return FileImageDataset(
            self.files, self.stored_labels, table, self.policies, self.views, view, self.score_with_policies
        )

    def scoring_view(self) -> FileImageDataset:
        return self._like(self.table, "score")

    def subset(self, positions: torch.Tensor) -> FileImageDataset:
        return self._like(self.table.rows(torch.as_tensor(positions, dtype=torch.long)), self.view)

    def geometry(self):
        if self._geometry is None:  # built lazily: the dataset is pickled into worker processes
            from torchvision.transforms import v2

            v = self.views
            if self.view == "train":
                steps = [v2.RandomResizedCrop(v.image_size, scale=v.crop_scale, antialias=True)]
                steps += [v2.RandomHorizontalFlip()] if v.flip else []
            else:
                steps = [v2.Resize(v.resize_size, antialias=True), v2.CenterCrop(v.image_size)]
            self._geometry = v2.Compose(steps)
        return self._geometry

    def read(self, path: str) -> torch.Tensor:
        from PIL import Image
        from torchvision.transforms.v2.functional import pil_to_tensor

        with Image.open(path) as image:
            return pil_to_tensor(image.convert("RGB" if self.views.in_channels == 3 else "L"))

    def __getitem__(self, i):
        if isinstance(i, Draw):  # a training draw: crop, flip and policy seeded by its place in the run
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(augmentation_seed(i))
                return self._item(i.index)
        return self._item(int(i))

    def _item(self, i: int):
        with single_thread():
            image = self.geometry()(self.read(self.files[int(self.table.origin[i])]))
        policy = int(self.table.policy[i])
        if self.view.startswith("train"):
            with single_thread():
                image = self.policies.apply_one(image, policy)
        elif self.view == "score" and self.score_with_policies:
            with single_thread():
                image = self.policies.apply_one(image, policy, seed=i)
        image = (image.float() / 255 - self.mean) / self.std
        return image, self.labels[i], torch.tensor(i)
