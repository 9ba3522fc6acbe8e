"""Datasets through their real on-disk formats, written small by the tests."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from sample_importance.dataset import fashion_mnist
from sample_importance.dataset.cifar import CIFARSource
from sample_importance.dataset.datamodule import ImageDataModule
from sample_importance.dataset.digits import DigitsSource
from sample_importance.dataset.fashion_mnist import FashionMNISTSource
from sample_importance.dataset.sources import ImageSplits
from sample_importance.dataset.tensor_data import RandomShift
from sample_importance.errors import DatasetUnavailable


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX format of (Fashion-)MNIST: magic, dimensions, big-endian, then uint8 data."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fashion_mnist(folder, n_train=40, n_test=20, gz=False):
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in files.items():
        data = idx_bytes(np.asarray(array))
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return files


def test_fashion_mnist_reads_files_already_on_disk(tmp_path):
    files = write_fashion_mnist(tmp_path / "FashionMNIST" / "raw")
    splits = FashionMNISTSource(str(tmp_path), download=False).load()
    assert splits.train_images.shape == (40, 1, 28, 28) and splits.train_images.dtype == torch.uint8
    assert torch.equal(
        splits.train_images[:, 0], torch.from_numpy(files["train-images-idx3-ubyte"]).to(torch.uint8)
    )
    assert splits.test_labels.tolist() == (np.arange(20) % 10).tolist()


def test_fashion_mnist_unpacks_the_debian_package_files(tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    write_fashion_mnist(debian, gz=True)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", debian)
    monkeypatch.setattr(fashion_mnist, "try_torchvision_download", lambda root: "no network (test)")
    raw = fashion_mnist.ensure_fashion_mnist(tmp_path / "data", download=True)
    assert sorted(p.name for p in raw.iterdir()) == sorted(fashion_mnist.FILES)
    assert len(FashionMNISTSource(str(tmp_path / "data"), download=False).load().train_labels) == 40


def test_missing_fashion_mnist_names_the_three_ways(tmp_path):
    with pytest.raises(DatasetUnavailable) as error:
        FashionMNISTSource(str(tmp_path), download=False).prepare()
    message = str(error.value)
    assert "\n" not in message
    for way in ("put the four files", "download", "dataset-fashion-mnist"):
        assert way in message


def write_cifar(root, variant, per_split=(30, 10)):
    rng = np.random.default_rng(1)
    num_classes = 10 if variant == 10 else 100
    # keys as latin-1 strings: how the original Python 2 pickles read in Python 3
    label_key = "labels" if variant == 10 else "fine_labels"

    def batch(count):
        return {
            "data": rng.integers(0, 256, (count, 3072)).astype(np.uint8),
            label_key: [int(i % num_classes) for i in range(count)],
        }

    if variant == 10:
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        train = [batch(per_split[0] // 5) for _ in range(5)]
        for i, part in enumerate(train, start=1):
            (folder / f"data_batch_{i}").write_bytes(pickle.dumps(part))
        test = batch(per_split[1])
        (folder / "test_batch").write_bytes(pickle.dumps(test))
        (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
        first = train[0]["data"][0]
    else:
        folder = root / "cifar-100-python"
        folder.mkdir(parents=True)
        train = batch(per_split[0])
        (folder / "train").write_bytes(pickle.dumps(train))
        (folder / "test").write_bytes(pickle.dumps(batch(per_split[1])))
        (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"c{i}" for i in range(100)]}))
        first = train["data"][0]
    return first


@pytest.mark.parametrize("variant", [10, 100])
def test_cifar_archive_in_the_real_format_loads_through_the_source(tmp_path, variant):
    first = write_cifar(tmp_path, variant)
    splits = CIFARSource(str(tmp_path), variant=variant, download=False).load()
    assert splits.train_images.shape == (30, 3, 32, 32) and splits.test_images.shape == (10, 3, 32, 32)
    # CIFAR rows are channel-major: R plane, G plane, B plane of 32x32
    assert torch.equal(splits.train_images[0], torch.from_numpy(first.reshape(3, 32, 32)))
    assert splits.num_classes == variant and (splits.train_pad, splits.train_flip) == (4, True)


def test_missing_cifar_with_download_off_is_one_line(tmp_path):
    with pytest.raises(DatasetUnavailable) as error:
        CIFARSource(str(tmp_path), variant=10, download=False).prepare()
    assert "\n" not in str(error.value) and "download=true" in str(error.value)


class TenClassSource:
    """In-memory source with 10 classes of 12 training and 3 test images each."""

    in_channels, image_size, num_classes = 1, 8, 10

    def prepare(self):
        pass

    def load(self):
        generator = torch.Generator().manual_seed(0)
        labels = torch.arange(120) % 10
        images = torch.randint(0, 256, (120, 1, 8, 8), generator=generator, dtype=torch.uint8)
        return ImageSplits(
            images,
            labels,
            images[:30],
            labels[:30],
            [f"k{i}" for i in range(10)],
            mean=(0.5,),
            std=(0.25,),
            train_pad=1,
            train_flip=False,
        )


def make_datamodule(**kwargs):
    datamodule = ImageDataModule(TenClassSource(), batch_size=8, **kwargs)
    datamodule.setup("fit")
    return datamodule


def test_items_carry_their_index_and_batches_come_collated():
    datamodule = make_datamodule()
    image, label, index = datamodule.train_set[7]
    assert index == 7 and label == datamodule.train_set.labels[7] and image.shape == (1, 8, 8)
    images, labels, indices = next(iter(datamodule.train_dataloader()))
    assert images.shape == (8, 1, 8, 8) and indices.dtype == torch.long
    assert torch.equal(labels, datamodule.train_set.labels[indices])


def test_balanced_subsets_are_seeded_and_balanced():
    datamodule = make_datamodule(train_samples_per_class=5, test_samples_per_class=2)
    assert torch.bincount(datamodule.train_set.labels).tolist() == [5] * 10
    assert torch.bincount(datamodule.test_set.labels).tolist() == [2] * 10
    again = make_datamodule(train_samples_per_class=5, test_samples_per_class=2)
    assert torch.equal(again.train_origin, datamodule.train_origin)
    other = make_datamodule(train_samples_per_class=5, subset_seed=1)
    assert not torch.equal(other.train_origin, datamodule.train_origin)


def test_imbalance_replicates_a_seeded_fifth_of_the_classes():
    imbalance = {"class_fraction": 0.2, "replication": 5, "seed": 0}
    datamodule = make_datamodule(train_samples_per_class=6, imbalance=imbalance, seed=1)
    chosen = datamodule.augmented_classes
    assert len(chosen) == 2
    counts = torch.bincount(datamodule.train_set.labels, minlength=10)
    assert [counts[c].item() for c in range(10)] == [30 if c in chosen else 6 for c in range(10)]
    assert datamodule.num_train == 8 * 6 + 2 * 6 * 5
    # the choice of classes does not depend on the run's seed
    assert make_datamodule(train_samples_per_class=6, imbalance=imbalance, seed=2).augmented_classes == chosen
    # copies come from images of the chosen classes, copy 0 is the original, others are shifted versions
    copies = datamodule.train_copy > 0
    assert torch.isin(datamodule.train_set.labels[copies], torch.tensor(chosen)).all()
    assert (datamodule.train_copy == 0).sum() == 60
    originals = datamodule.train_set.images[~copies]
    assert not torch.equal(datamodule.train_set.images[copies][:12], originals[:12])
    # the test set is untouched
    assert torch.bincount(datamodule.test_set.labels).tolist() == [3] * 10


def test_random_shift_moves_content_by_at_most_pad_pixels():
    image = torch.zeros(1, 1, 9, 9, dtype=torch.uint8)
    image[0, 0, 4, 4] = 255
    shifted = RandomShift(pad=2)(image.expand(200, 1, 9, 9), generator=torch.Generator().manual_seed(0))
    positions = [tuple((s[0] == 255).nonzero()[0].tolist()) for s in shifted]
    rows, cols = zip(*positions)
    assert set(rows) == set(range(2, 7)) and set(cols) == set(range(2, 7))  # every offset in [-2, 2] occurs


def test_digits_split_is_stratified_and_fixed():
    first, second = DigitsSource().load(), DigitsSource().load()
    assert len(first.train_labels) + len(first.test_labels) == 1797
    assert torch.equal(first.test_images, second.test_images)
    assert torch.bincount(first.test_labels).min() >= 35


def test_data_on_a_device_makes_its_batches_there_and_keeps_labels_on_the_cpu():
    # "meta" stands in for a GPU here: a device that is not the CPU, on any machine.
    datamodule = ImageDataModule(DigitsSource(), batch_size=16, on_device=True)
    datamodule.setup("fit")
    datamodule.place_on_device("meta")
    images, labels, index = datamodule.train_set.__getitems__(list(range(16)))
    assert images.device.type == labels.device.type == index.device.type == "meta"
    assert images.shape == (16, 1, 8, 8) and images.dtype == torch.float32
    assert datamodule.score_set.device.type == datamodule.test_set.device.type == "meta"
    assert datamodule.score_set.images is datamodule.train_set.images  # one copy on the device
    assert datamodule.train_set.labels.device.type == "cpu"  # samplers and weights read labels on the CPU


def test_data_on_device_auto_takes_the_device_path_where_it_works_and_the_loader_elsewhere():
    """trainer=gpu sets dataset.on_device=auto for every dataset: in-memory data goes to the device
    (no workers), data with augmentation policies keeps the CPU loader and its workers."""
    from sample_importance.errors import ConfigError

    in_memory = ImageDataModule(DigitsSource(), batch_size=16, on_device="auto", num_workers=2)
    in_memory.setup("fit")
    assert in_memory.on_device is True and in_memory.num_workers == 0
    in_memory.place_on_device("meta")
    assert in_memory.train_set.device.type == "meta"
    with_policies = ImageDataModule(
        DigitsSource(),
        batch_size=16,
        on_device="auto",
        num_workers=2,
        augmentation_policies=["standard", "trivialaugment_wide"],
    )
    with_policies.setup("fit")
    assert with_policies.on_device is False and with_policies.num_workers == 2
    assert with_policies.train_dataloader().num_workers == 2
    with pytest.raises(ConfigError, match="true, false or auto"):
        ImageDataModule(DigitsSource(), on_device="yes")


def test_training_with_the_data_on_the_device_matches_the_default_path(tmp_path):
    # On a CPU-only machine the device is the CPU: the same numbers must come out of both paths.
    from conftest import run_training

    common = ["sampler=importance", "sampler.burn_in_epochs=1", "schedule.max_epochs=2", "seed=3"]
    default = run_training(common, tmp_path / "default")
    on_device = run_training(common + ["dataset.on_device=true"], tmp_path / "on_device")
    assert on_device["test_acc_history"] == default["test_acc_history"]
    weights = [
        torch.load(tmp_path / name / "sample_weights.pt")["weight"] for name in ("default", "on_device")
    ]
    assert torch.equal(weights[0], weights[1])
