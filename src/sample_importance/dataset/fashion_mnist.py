"""Fashion-MNIST (60,000 + 10,000 images, 28x28, MIT licence), the default dataset.

The files are looked for, in order:
1. already on disk, in torchvision's layout ``<root>/FashionMNIST/raw/``;
2. torchvision's own download (needs internet);
3. Debian's package ``dataset-fashion-mnist`` (installed with apt-get when it is usable),
   whose gzip files are unpacked into the same folder.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import socket
import subprocess
from pathlib import Path

from sample_importance.dataset.sources import ImageSplits, hwc_to_chw
from sample_importance.errors import DatasetUnavailable

log = logging.getLogger(__name__)

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


def raw_folder(root: Path) -> Path:
    return Path(root) / "FashionMNIST" / "raw"


def have_files(root: Path) -> bool:
    return all((raw_folder(root) / name).is_file() for name in FILES)


def try_torchvision_download(root: Path) -> str | None:
    from torchvision.datasets import FashionMNIST

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)  # a blackholed network must not hang the run
    try:
        FashionMNIST(str(root), train=True, download=True)
        return None
    except Exception as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"
    finally:
        socket.setdefaulttimeout(previous)


def try_debian_package(root: Path) -> str | None:
    if not all((DEBIAN_DIR / f"{name}.gz").is_file() for name in FILES):
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            return "apt-get is not usable here (not found, or not root)"
        install = ["apt-get", "install", "-y", "-q", DEBIAN_PACKAGE]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        result = subprocess.run(install, capture_output=True, text=True, env=env)
        if result.returncode != 0:  # the package lists may be missing on a fresh machine
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
            result = subprocess.run(install, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            return f"apt-get install {DEBIAN_PACKAGE} failed: {result.stderr.strip().splitlines()[-1:]}"
    target = raw_folder(root)
    target.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        with (
            gzip.open(DEBIAN_DIR / f"{name}.gz", "rb") as source,
            open(target / f"{name}.part", "wb") as sink,
        ):
            shutil.copyfileobj(source, sink)
        (target / f"{name}.part").rename(target / name)
    return None


def ensure_fashion_mnist(root: str | Path, download: bool = True) -> Path:
    """Make sure the four files are in ``<root>/FashionMNIST/raw``; return that folder."""
    root = Path(root)
    if have_files(root):
        return raw_folder(root)
    failures = []
    if download:
        failures.append(f"torchvision download: {try_torchvision_download(root)}")
        if have_files(root):
            return raw_folder(root)
        failures.append(f"Debian package: {try_debian_package(root)}")
        if have_files(root):
            log.info("Fashion-MNIST taken from Debian's %s package", DEBIAN_PACKAGE)
            return raw_folder(root)
    raise DatasetUnavailable(
        f"Fashion-MNIST not found in {raw_folder(root)}. Either put the four files {', '.join(FILES)} there "
        f"(or set paths.data_dir to a folder that has FashionMNIST/raw), or allow the download "
        f"(dataset.source.download=true, needs internet), or install Debian's {DEBIAN_PACKAGE} as root. "
        + ("; ".join(failures) if failures else "Downloads are off (dataset.source.download=false).")
    )


class FashionMNISTSource:
    in_channels, image_size, num_classes = 1, 28, 10

    def __init__(self, root: str, download: bool = True) -> None:
        self.root = Path(root)
        self.download = download

    def prepare(self) -> None:
        ensure_fashion_mnist(self.root, self.download)

    def load(self) -> ImageSplits:
        from torchvision.datasets import FashionMNIST

        self.prepare()
        train = FashionMNIST(str(self.root), train=True, download=False)
        test = FashionMNIST(str(self.root), train=False, download=False)
        return ImageSplits(
            hwc_to_chw(train.data),
            train.targets.long(),
            hwc_to_chw(test.data),
            test.targets.long(),
            class_names=list(train.classes),
            mean=(0.2860,),
            std=(0.3530,),
            train_pad=2,
            train_flip=False,
        )


def main() -> None:
    """``python -m sample_importance.dataset.fashion_mnist [ROOT]``: fetch the files (for ``make train``)."""
    import sys

    root = sys.argv[1] if len(sys.argv) > 1 else "data"
    try:
        print(f"Fashion-MNIST ready in {ensure_fashion_mnist(root)}")
    except DatasetUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
