"""A stand-in for the trainer with just what the updating strategies read, and batch outputs for them."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from sample_importance.sampler.index_sampler import IndexSampler


class FakeDataModule:
    def __init__(self, num_samples: int, batch_size: int, world: int = 1, rank: int = 0) -> None:
        self.num_train = num_samples
        self.batch_size = batch_size
        self.world = world
        self.sampler = IndexSampler(num_samples, num_replicas=world, rank=rank, seed=5)

    def train_sampler(self) -> IndexSampler:
        return self.sampler

    def per_device_batch_size(self) -> int:
        return self.batch_size // self.world


def fake_trainer(num_samples: int, batch_size: int = 8, max_epochs: int = 10):
    datamodule = FakeDataModule(num_samples, batch_size)
    return SimpleNamespace(
        datamodule=datamodule,
        world_size=1,
        max_epochs=max_epochs,
        current_epoch=0,
        is_global_zero=True,
        loggers=[],
    )


def loss_outputs(index: list[int], losses: list[float]) -> dict:
    return {"index": torch.tensor(index), "sample_loss": torch.tensor(losses)}


def p_outputs(index: list[int], p_true: list[float]) -> dict:
    """Logits whose softmax gives p_true to class 0 (the target) out of two classes."""
    p = torch.tensor(p_true, dtype=torch.float64)
    logits = torch.stack([torch.log(p), torch.log1p(-p)], dim=1).float()
    return {
        "index": torch.tensor(index),
        "logits": logits,
        "target": torch.zeros(len(index), dtype=torch.long),
    }
