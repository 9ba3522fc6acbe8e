"""Item 6: images/s of the training DataLoader alone, of the in-memory batched path (the dataset's
own batch indexing with batched augmentation, no DataLoader), and of training (plain loop); on a
machine with a GPU also of the ``dataset.on_device=true`` loader with the data on the GPU (batches
cut, augmented and normalised there) against the CPU loader delivering to the GPU."""

from __future__ import annotations

import time

import torch

from benchmarks.common import build_plain, median, train_epoch


def loader_images_per_s(datamodule, epoch: int, device: str | None = None) -> float:
    """Images/s of an epoch of the training loader; with ``device``, delivered there (as training would)."""
    datamodule.train_sampler().set_epoch(epoch)
    count, start = 0, time.perf_counter()
    for images, _, _ in datamodule.train_dataloader():
        if device is not None:
            images = images.to(device, non_blocking=True)
        count += len(images)
    if device is not None and device.startswith("cuda"):
        torch.cuda.synchronize()
    return count / (time.perf_counter() - start)


def gpu_rows(overrides: list[str], repeats: int) -> dict:
    """The CPU loader, each batch copied to the GPU, against the on-device loader."""
    if not torch.cuda.is_available():
        return {
            "gpu": "unmeasured: no GPU on this machine (target: on-device path >= 5x the CPU DataLoader path)"
        }
    cpu_loader, _, _, _ = build_plain(overrides)
    on_device, _, _, _ = build_plain(
        [o for o in overrides if "num_workers" not in o] + ["dataset.on_device=true", "dataset.num_workers=0"]
    )
    on_device.place_on_device("cuda")
    loader_images_per_s(on_device, 0, "cuda")  # warm-up (CUDA context, kernels)
    cpu, gpu = [], []
    for r in range(repeats):  # interleaved
        cpu.append(loader_images_per_s(cpu_loader, r, "cuda"))
        gpu.append(loader_images_per_s(on_device, r, "cuda"))
    return {
        "gpu": torch.cuda.get_device_name(),
        "cpu_loader_to_gpu_images_per_s": cpu,
        "on_device_loader_images_per_s": gpu,
        "on_device_vs_cpu_loader": median(gpu) / median(cpu),
        "target": "on_device_vs_cpu_loader >= 5",
    }


def batched_images_per_s(datamodule, epoch: int) -> float:
    dataset = datamodule.train_set
    if not hasattr(dataset, "__getitems__"):
        return float("nan")
    sampler = datamodule.train_sampler()
    order = sampler.global_sequence(epoch)
    batch = datamodule.per_device_batch_size()
    count, start = 0, time.perf_counter()
    for first in range(0, len(order) - batch + 1, batch):
        images, _, _ = dataset.__getitems__(order[first : first + batch].tolist())
        count += len(images)
    return count / (time.perf_counter() - start)


def run(quick: bool = False) -> dict:
    overrides = (
        ["dataset=digits", "model=lenet"] if quick else ["dataset=fashion_mnist_imbalanced", "model=lenet"]
    )
    repeats = 1 if quick else 3
    datamodule, module, optimizer, cfg = build_plain(overrides)
    train_epoch(datamodule, module, optimizer, 0)
    loader, batched, training = [], [], []
    for r in range(repeats):  # interleaved
        loader.append(loader_images_per_s(datamodule, r))
        batched.append(batched_images_per_s(datamodule, r))
        seconds, steps = train_epoch(datamodule, module, optimizer, r)
        training.append(steps * datamodule.per_device_batch_size() / seconds)
    return {
        "overrides": overrides,
        "repeats": repeats,
        "train_set": type(datamodule.train_set).__name__,
        "num_workers": datamodule.num_workers,
        "loader_images_per_s": loader,
        "in_memory_batched_images_per_s": batched,
        "training_images_per_s": training,
        "loader_vs_training": median(loader) / median(training),
        "in_memory_batched_vs_loader": median(batched) / median(loader),
        "torch_threads": torch.get_num_threads(),
        **gpu_rows(overrides, repeats),
    }
