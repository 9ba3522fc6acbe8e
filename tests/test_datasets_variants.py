"""The paper's dataset variants: sizes, class choices, one index per (image, policy) pair, files on disk."""

from __future__ import annotations

import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from conftest import FEW_BATCHES, compose_config, run_training
from sample_importance.dataset.class_subset import WithoutClasses
from sample_importance.dataset.datamodule import ImageDataModule
from sample_importance.dataset.digits import DigitsSource
from sample_importance.dataset.imagefolder import ImageFolderSource
from sample_importance.dataset.policies import PAPER_CIFAR_POLICIES, PAPER_IMAGENET_POLICIES, PolicySet
from sample_importance.dataset.sources import ImageSplits
from sample_importance.errors import ConfigError, DatasetUnavailable

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


pytestmark = pytest.mark.usefixtures("one_thread")


class TenClassSource:
    """In memory: 10 classes, ``per_class`` 3-channel 8x8 training images each, 2 test images each."""

    in_channels, image_size, num_classes = 3, 8, 10

    def __init__(self, per_class: int = 4) -> None:
        self.per_class = per_class

    def prepare(self):
        pass

    def load(self):
        generator = torch.Generator().manual_seed(0)
        labels = torch.arange(10 * self.per_class) % 10
        images = torch.randint(0, 256, (len(labels), 3, 8, 8), generator=generator, dtype=torch.uint8)
        return ImageSplits(
            images,
            labels,
            images[:20],
            labels[:20],
            [f"k{i}" for i in range(10)],
            mean=(0.5,) * 3,
            std=(0.25,) * 3,
            train_pad=1,
            train_flip=True,
        )


def setup(source=None, **kwargs) -> ImageDataModule:
    datamodule = ImageDataModule(source or TenClassSource(), batch_size=8, **kwargs)
    datamodule.setup("fit")
    return datamodule


def rows(datamodule) -> torch.Tensor:
    """(source image, policy, copy) of every sample: distinct rows = distinct samples."""
    return torch.stack([datamodule.train_origin, datamodule.train_policy, datamodule.train_copy], dim=1)


def test_multi_augmentation_gives_every_image_pair_its_own_index():
    datamodule = setup(augmentation_policies=list(PAPER_CIFAR_POLICIES))
    assert datamodule.num_train == 5 * 40 and datamodule.policy_names == list(PAPER_CIFAR_POLICIES)
    assert len(torch.unique(rows(datamodule), dim=0)) == datamodule.num_train
    # sample p * 40 + i is image i under policy p
    assert torch.equal(datamodule.train_origin, torch.arange(40).repeat(5))
    assert torch.equal(datamodule.train_policy, torch.arange(5).repeat_interleave(40))
    assert torch.equal(datamodule.train_set.labels, (torch.arange(200) % 40) % 10)
    assert torch.bincount(datamodule.test_set.labels).tolist() == [2] * 10
    # a whole epoch of the loader: every index once, labels carried with it
    seen, labels = [], []
    for _, batch_labels, index in datamodule.train_dataloader():
        seen.append(index)
        labels.append(batch_labels)
    seen = torch.cat(seen)
    assert sorted(seen.tolist()) == list(range(200))
    assert torch.equal(torch.cat(labels), datamodule.train_set.labels[seen])


def test_policies_are_drawn_when_sampled_and_fixed_for_scoring():
    datamodule = setup(augmentation_policies=list(PAPER_CIFAR_POLICIES), augment=False)
    index = torch.arange(200)
    plain = setup(augment=False).score_set.batch(torch.arange(40))[0]
    scored, again = datamodule.score_set.batch(index)[0], datamodule.score_set.batch(index)[0]
    assert torch.equal(scored, again)  # the scoring pass is repeatable
    # the two standard copies are the plain image when scored; the automatic policies change it
    assert torch.equal(scored[:40], plain) and torch.equal(scored[40:80], plain)
    for policy in (2, 3, 4):
        assert not torch.equal(scored[policy * 40 : (policy + 1) * 40], plain)
    # training draws of the AutoAugment copies differ from draw to draw
    first, second = datamodule.train_set.batch(index[80:120])[0], datamodule.train_set.batch(index[80:120])[0]
    assert not torch.equal(first, second)
    without = setup(augmentation_policies=list(PAPER_CIFAR_POLICIES), score_with_policies=False)
    assert torch.equal(without.score_set.batch(index)[0], plain.repeat(5, 1, 1, 1))


@pytest.mark.parametrize("replication", [5, 20])
def test_imbalance_with_policies_replicates_the_chosen_classes(replication):
    imbalance = {
        "class_fraction": 0.2,
        "replication": replication,
        "seed": 3,
        "policies": list(PAPER_CIFAR_POLICIES),
    }
    datamodule = setup(TenClassSource(per_class=6), imbalance=imbalance, seed=1)
    chosen = datamodule.augmented_classes
    assert len(chosen) == 2
    counts = torch.bincount(datamodule.train_set.labels, minlength=10).tolist()
    assert counts == [6 * replication if c in chosen else 6 for c in range(10)]
    assert datamodule.num_train == 8 * 6 + 2 * 6 * replication
    assert len(torch.unique(rows(datamodule), dim=0)) == datamodule.num_train
    # copies come from the chosen classes only; copy k uses policy k mod 5 (A=20: the set 4 times)
    copies = datamodule.train_copy > 0
    assert torch.isin(datamodule.train_set.labels[copies], torch.tensor(chosen)).all()
    assert torch.equal(datamodule.train_policy, datamodule.train_copy % 5)
    for image in datamodule.train_origin[copies].unique().tolist():
        policies = datamodule.train_policy[datamodule.train_origin == image]
        assert torch.bincount(policies, minlength=5).tolist() == [replication // 5] * 5
    # the same classes for every run seed (so a sweep over seeds shares them), others for another
    # imbalance seed
    assert setup(TenClassSource(per_class=6), imbalance=imbalance, seed=2).augmented_classes == chosen
    other = setup(TenClassSource(per_class=6), imbalance={**imbalance, "seed": 4}).augmented_classes
    assert other != chosen


def test_multi_augmentation_and_imbalance_do_not_combine():
    with pytest.raises(ConfigError, match="cannot be combined"):
        setup(
            augmentation_policies=["standard"], imbalance={"class_fraction": 0.2, "replication": 5, "seed": 0}
        )


def test_unknown_policy_is_a_config_error_naming_the_known_ones():
    with pytest.raises(ConfigError, match="unknown augmentation policy 'autoaugment'.*trivialaugment_wide"):
        setup(augmentation_policies=["standard", "autoaugment"])


def test_paper_policy_sets_run_on_grey_and_colour_images():
    for policies, channels in (
        (PAPER_CIFAR_POLICIES, 3),
        (PAPER_IMAGENET_POLICIES, 3),
        (PAPER_CIFAR_POLICIES, 1),
    ):
        images = torch.randint(0, 256, (len(policies), channels, 8, 8), dtype=torch.uint8)
        out = PolicySet(policies).apply(images, torch.arange(len(policies)))
        assert out.shape == images.shape and out.dtype == torch.uint8


def test_exclude_classes_drops_and_renumbers():
    datamodule = setup(exclude_classes=["k3", 7])  # a name, or a number in the source's numbering
    assert datamodule.num_classes == 8 and datamodule.excluded_class_names == ["k3", "k7"]
    assert datamodule.class_names == [f"k{i}" for i in (0, 1, 2, 4, 5, 6, 8, 9)]
    assert datamodule.summary() == {"excluded_classes": ["k3", "k7"]}
    train = datamodule.train_set
    assert torch.bincount(train.labels).tolist() == [4] * 8 and len(train.stored_images) == 32
    original = TenClassSource().load()
    kept = ~torch.isin(original.train_labels, torch.tensor([3, 7]))
    assert torch.equal(train.stored_images, original.train_images[kept])
    renumbered = torch.tensor([0, 1, 2, -1, 3, 4, 5, -1, 6, 7])
    assert torch.equal(train.labels, renumbered[original.train_labels[kept]])
    assert int(datamodule.test_set.labels.max()) == 7 and len(datamodule.test_set) == 16
    # the WithoutClasses source that runs made before the option was configured with: the same data
    old = setup(WithoutClasses(TenClassSource(), ["k3", 7]))
    assert old.num_classes == 8 and old.class_names == datamodule.class_names
    assert torch.equal(old.train_set.stored_images, train.stored_images)
    assert torch.equal(old.train_set.labels, train.labels)
    for nothing in (None, []):
        assert setup(exclude_classes=nothing).num_classes == 10 and setup().summary() == {}


@pytest.mark.parametrize(
    "exclude, message",
    [
        (
            ["dog"],
            "dataset.exclude_classes: no class 'dog'; the classes are k0, k1, k2, k3, k4, k5, k6, k7, k8, k9",
        ),
        ([10], "no class 10; the classes are k0, k1"),
        ([3, "k3"], "names one class twice"),
        ([f"k{i}" for i in range(9)], "leaves fewer than 2 of the 10 classes"),
        (1.5, "must be null or a list of class names or numbers, got 1.5"),
        ({"k3": 1}, "must be null or a list"),
        ([True], "must be null or a list"),
    ],
)
def test_exclude_classes_problems_are_one_line_config_errors(exclude, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        setup(exclude_classes=exclude)
    assert "\n" not in str(error.value)


def test_digits_without_8_trains_a_nine_class_network(tmp_path):
    """``dataset=digits dataset.exclude_classes=["8"]`` as a user runs it: 9 classes, labels 0..8, no '8'."""
    run = tmp_path / "run"
    summary = run_training(
        ['dataset.exclude_classes=["8"]', "sampler.burn_in_epochs=1", "schedule.max_epochs=2", FEW_BATCHES],
        run,
    )
    digits = DigitsSource(test_fraction=0.2, split_seed=0).load()
    not_eight, test_not_eight = digits.train_labels != 8, digits.test_labels != 8
    assert summary["excluded_classes"] == ["8"]
    assert summary["class_names"] == ["0", "1", "2", "3", "4", "5", "6", "7", "9"]
    assert summary["num_train"] == int(not_eight.sum()) and summary["num_test"] == int(test_not_eight.sum())
    (hparams,) = run.glob("**/hparams.yaml")
    assert OmegaConf.load(hparams)["dataset.exclude_classes"] == "8"
    # every training sample, scored at the switch: labels 0..8, all of them
    weights = torch.load(run / "sample_weights.pt", weights_only=True)
    assert sorted(set(weights["label"].tolist())) == list(range(9))
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    last_layer = [value for key, value in state.items() if key.endswith("weight")][-1]
    assert last_layer.shape[0] == 9
    # the data the run trained on, rebuilt from its own config: the digits other than 8, '9' now 8
    datamodule = instantiate(OmegaConf.load(run / ".hydra" / "config.yaml").dataset)
    datamodule.setup("fit")
    assert torch.equal(datamodule.train_set.stored_images, digits.train_images[not_eight])
    labels = digits.train_labels[not_eight]
    assert torch.equal(datamodule.train_set.labels, torch.where(labels == 9, 8, labels))


# -- on-disk formats ----------------------------------------------------------------------


def write_cifar10(root: Path, per_class: int = 3, test_per_class: int = 1) -> None:
    """A CIFAR-10 archive in torchvision's python-pickle layout, with the real class names."""
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)

    def batch(labels):
        return {"data": rng.integers(0, 256, (len(labels), 3072)).astype(np.uint8), "labels": labels}

    labels = [i % 10 for i in range(10 * per_class)]
    for i in range(5):  # five training batches of 2 * per_class images
        (folder / f"data_batch_{i + 1}").write_bytes(pickle.dumps(batch(labels[i::5])))
    (folder / "test_batch").write_bytes(pickle.dumps(batch([i % 10 for i in range(10 * test_per_class)])))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": CIFAR10_CLASSES}))


def write_cifar100(root: Path, per_class: int = 2) -> None:
    rng = np.random.default_rng(0)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for split, count in (("train", 100 * per_class), ("test", 100)):
        data = {
            "data": rng.integers(0, 256, (count, 3072)).astype(np.uint8),
            "fine_labels": [i % 100 for i in range(count)],
        }
        (folder / split).write_bytes(pickle.dumps(data))
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"c{i}" for i in range(100)]}))


def write_fashion_mnist(root: Path, per_class: int = 4) -> None:
    folder = root / "FashionMNIST" / "raw"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 10 * per_class), ("t10k", 20)):
        for kind, array in (
            ("images", rng.integers(0, 256, (count, 28, 28))),
            ("labels", np.arange(count) % 10),
        ):
            header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
            (folder / f"{prefix}-{kind}-idx{array.ndim}-ubyte").write_bytes(
                header + array.astype(np.uint8).tobytes()
            )


def write_image_tree(root: Path, classes=("cat", "dog", "fox"), train=4, test=2, channels=3) -> None:
    rng = np.random.default_rng(0)
    for split, count in (("train", train), ("val", test)):
        for name in classes:
            (root / split / name).mkdir(parents=True)
            for n in range(count):
                shape = (20 + n, 16, 3) if channels == 3 else (20 + n, 16)
                Image.fromarray(rng.integers(0, 256, shape).astype(np.uint8)).save(
                    root / split / name / f"{n}.png"
                )


def datamodule_from_config(dataset: str, tmp_path: Path, *overrides: str) -> ImageDataModule:
    """``dataset`` is a source and its options: ``cifar100 +dataset/imbalance=a5_cifar``."""
    source, *options = dataset.split()
    cfg = compose_config(
        [f"dataset={source}", *options, "dataset.num_workers=0", *overrides], tmp_path / "run"
    )
    datamodule = instantiate(cfg.dataset)
    datamodule.setup("fit")
    return datamodule


def test_cifar9_is_cifar10_without_dog(tmp_path):
    write_cifar10(tmp_path / "data")
    datamodule = datamodule_from_config("cifar10 dataset.exclude_classes=[dog]", tmp_path)
    assert datamodule.num_classes == 9 and datamodule.class_names == [
        c for c in CIFAR10_CLASSES if c != "dog"
    ]
    assert datamodule.num_train == 27 and torch.bincount(datamodule.train_set.labels).tolist() == [3] * 9
    assert len(datamodule.test_set) == 9 and int(datamodule.test_set.labels.max()) == 8


@pytest.mark.parametrize(
    "dataset,expected",
    [
        ("cifar10 +dataset/multiaug=cifar", 5 * 30),
        ("cifar100 +dataset/multiaug=cifar", 5 * 200),
        ("cifar100 +dataset/imbalance=a5_cifar", 200 + 20 * 2 * 4),
        ("cifar100 +dataset/imbalance=a20_cifar", 200 + 20 * 2 * 19),
    ],
)
def test_cifar_variant_configs(tmp_path, dataset, expected):
    (write_cifar10 if dataset.startswith("cifar10 ") else write_cifar100)(tmp_path / "data")
    datamodule = datamodule_from_config(dataset, tmp_path)
    assert datamodule.num_train == expected
    assert len(torch.unique(rows(datamodule), dim=0)) == expected
    assert datamodule.policy_names == list(PAPER_CIFAR_POLICIES)
    if "imbalance" in dataset:
        assert len(datamodule.augmented_classes) == 20  # 20% of CIFAR-100's classes


@pytest.mark.parametrize(
    "dataset,expected",
    [
        ("fashion_mnist dataset.exclude_classes=[Shirt]", 36),
        ("fashion_mnist +dataset/multiaug=cifar", 200),
        ("fashion_mnist +dataset/imbalance=a5_cifar", 40 + 2 * 4 * 4),
        ("fashion_mnist +dataset/imbalance=a20_cifar", 40 + 2 * 4 * 19),
    ],
)
def test_fashion_mnist_variant_configs(tmp_path, dataset, expected):
    write_fashion_mnist(tmp_path / "data")
    datamodule = datamodule_from_config(dataset, tmp_path, "dataset.train_samples_per_class=4")
    assert datamodule.num_train == expected
    if "Shirt" in dataset:
        assert "Shirt" not in datamodule.class_names and datamodule.num_classes == 9


@pytest.mark.parametrize(
    "dataset,expected",
    [
        ('digits dataset.exclude_classes=["8"]', None),
        ("digits +dataset/multiaug=cifar", 5 * 60),
        ("digits +dataset/imbalance=a5_cifar", 60 + 2 * 6 * 4),
        ("digits +dataset/imbalance=a20_cifar", 60 + 2 * 6 * 19),
    ],
)
def test_digits_variant_configs(tmp_path, dataset, expected):
    datamodule = datamodule_from_config(dataset, tmp_path, "dataset.train_samples_per_class=6")
    if "exclude_classes" in dataset:
        assert (
            datamodule.num_classes == 9 and "8" not in datamodule.class_names and datamodule.num_train == 54
        )
    else:
        assert datamodule.num_train == expected
        assert len(torch.unique(rows(datamodule), dim=0)) == expected


def test_image_folder_reads_files_with_the_imagenet_views(tmp_path):
    write_image_tree(tmp_path / "tree")
    source = ImageFolderSource(str(tmp_path / "tree"), num_classes=3, image_size=12, resize_size=14)
    datamodule = setup(source)
    assert datamodule.class_names == ["cat", "dog", "fox"] and datamodule.num_train == 12
    assert datamodule.train_set.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    image, label, index = datamodule.train_set[5]
    assert image.shape == (3, 12, 12) and image.dtype == torch.float32 and (label, index) == (1, 5)
    # evaluation views are deterministic (resize 14, centre crop 12); training crops are random
    assert torch.equal(datamodule.test_set[1][0], datamodule.test_set[1][0])
    assert torch.equal(datamodule.score_set[5][0], datamodule.score_set[5][0])
    assert not all(torch.equal(datamodule.train_set[5][0], datamodule.train_set[5][0]) for _ in range(3))
    expected = Image.open(tmp_path / "tree" / "val" / "cat" / "1.png").convert("RGB")
    # 21 x 16 pixels: the short side to 14 gives 18 x 14, then the centre 12 x 12
    pixels = (
        torch.from_numpy(np.array(expected.resize((14, 18), Image.BILINEAR))).permute(2, 0, 1).float() / 255
    )
    centre = pixels[:, 3:15, 1:13]
    normalised = (centre - torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]
    ).view(3, 1, 1)
    assert (datamodule.test_set[1][0] - normalised).abs().mean() < 0.1
    images, labels, indices = next(iter(datamodule.train_dataloader()))
    assert images.shape == (8, 3, 12, 12) and len(set(indices.tolist())) == 8
    assert torch.equal(labels, datamodule.train_set.labels[indices])


def test_image_folder_variants_imbalance_and_class_subset(tmp_path):
    write_image_tree(tmp_path / "tree", classes=[f"n{i:02d}" for i in range(10)], train=2, test=1)
    source = ImageFolderSource(str(tmp_path / "tree"), num_classes=10, image_size=12, resize_size=14)
    imbalance = {
        "class_fraction": 0.2,
        "replication": 20,
        "seed": 0,
        "policies": list(PAPER_IMAGENET_POLICIES),
    }
    datamodule = setup(source, imbalance=imbalance)
    assert datamodule.num_train == 20 + 2 * 2 * 19 and len(datamodule.augmented_classes) == 2
    assert len(torch.unique(rows(datamodule), dim=0)) == datamodule.num_train
    assert datamodule.train_set[datamodule.num_train - 1][0].shape == (3, 12, 12)
    nine = setup(source, exclude_classes=["n05"])
    assert nine.num_classes == 9 and nine.num_train == 18 and "n05" not in nine.class_names
    pruned = setup(source)
    pruned.keep_training_samples(torch.tensor([0, 3, 7]))
    assert pruned.num_train == 3 and pruned.train_set.labels.tolist() == [0, 1, 3]


def test_image_folder_problems_are_one_line(tmp_path):
    with pytest.raises(DatasetUnavailable, match="no ImageFolder tree") as error:
        ImageFolderSource(str(tmp_path / "nothing"), num_classes=3).load()
    assert "\n" not in str(error.value)
    write_image_tree(tmp_path / "tree")
    with pytest.raises(DatasetUnavailable, match="3 class folders, dataset.source.num_classes says 1000"):
        ImageFolderSource(str(tmp_path / "tree"), num_classes=1000).load()


def test_imagenet_configs_on_a_tiny_tree(tmp_path):
    write_image_tree(tmp_path / "data" / "imagenet", classes=[f"n{i:02d}" for i in range(5)], train=2, test=1)
    datamodule = datamodule_from_config("imagenet", tmp_path, "dataset.source.num_classes=5")
    assert datamodule.num_train == 10 and datamodule.train_set[0][0].shape == (3, 224, 224)
    imbalanced = datamodule_from_config(
        "imagenet +dataset/imbalance=a20_imagenet", tmp_path, "dataset.source.num_classes=5"
    )
    assert imbalanced.num_train == 10 + 1 * 2 * 19 and imbalanced.policy_names == list(
        PAPER_IMAGENET_POLICIES
    )


def test_an_in_memory_source_exported_as_png_files_reads_back(tmp_path):
    source = ImageFolderSource(
        str(tmp_path / "exported"),
        num_classes=10,
        image_size=8,
        resize_size=8,
        in_channels=3,
        mean=(0.5,) * 3,
        std=(0.25,) * 3,
        export_from=TenClassSource(),
    )
    datamodule = setup(source, augment=False)
    original = TenClassSource().load()
    assert datamodule.num_train == 40 and len(datamodule.test_set) == 20
    # PNG is lossless and the eval view at the stored size is the identity: the same pixels come back
    first = datamodule.score_set[0][0] * 0.25 + 0.5
    member = int((original.train_labels == datamodule.train_set.labels[0]).nonzero()[0])
    assert torch.allclose(first, original.train_images[member].float() / 255, atol=1e-6)
