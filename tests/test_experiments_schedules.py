"""The schedules give the paper's iteration counts through the LightningModule's own logic."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from sample_importance.cli import CONFIG_DIR
from sample_importance.dataset.datamodule import ImageDataModule
from sample_importance.dataset.sources import ImageSplits
from sample_importance.loss.cross_entropy import CrossEntropy
from sample_importance.model.classifier import ImageClassifier


class CountSource:
    """``count`` 1x1 grey training images: only the number of samples matters here."""

    in_channels, image_size, num_classes = 1, 1, 10

    def __init__(self, count: int) -> None:
        self.count = count

    def prepare(self):
        pass

    def load(self):
        labels = torch.arange(self.count) % 10
        images = torch.zeros(self.count, 1, 1, 1, dtype=torch.uint8)
        return ImageSplits(
            images,
            labels,
            images[:10],
            labels[:10],
            [str(c) for c in range(10)],
            mean=(0.5,),
            std=(0.5,),
            train_pad=0,
            train_flip=False,
        )


def iterations(schedule_name: str, num_train: int):
    """(steps per epoch, total steps, milestones in steps) as a run of ``schedule_name`` sees them."""
    schedule = instantiate(OmegaConf.load(Path(CONFIG_DIR, "schedule", f"{schedule_name}.yaml")))
    datamodule = ImageDataModule(CountSource(num_train), batch_size=schedule.batch_size)
    datamodule.setup("fit")
    module = ImageClassifier(torch.nn.Linear(1, 10), CrossEntropy(), schedule, 10)
    module.trainer = SimpleNamespace(
        datamodule=datamodule, limit_train_batches=1.0
    )  # what Lightning attaches
    steps = module.steps_per_epoch()
    scheduler = module.configure_optimizers()["lr_scheduler"]["scheduler"]
    return steps, steps * schedule.max_epochs, sorted(scheduler.milestones)


@pytest.mark.parametrize(
    "schedule,num_train,expected",
    [
        # Appendix A.1.4: 390 iterations per epoch, 78,000 in all, decays at 23,400 / 46,800 / 62,400
        ("paper_cifar", 50_000, (390, 78_000, [23_400, 46_800, 62_400])),
        # Appendix B.3, CIFAR-9: 351 per epoch, 70,200 in all, decays at 21,060 / 42,120 / 56,160
        ("paper_cifar", 45_000, (351, 70_200, [21_060, 42_120, 56_160])),
        # Section 4.4: 250,000 (image, policy) samples in about the same 78,000 iterations
        ("paper_cifar_multiaug", 250_000, (1_953, 78_120, [23_436, 46_872, 62_496])),
        # Appendix C: ImageNet-1K's 1,281,167 images, batch 256, decays after epochs 30, 60, 75
        ("paper_imagenet", 1_281_167, (5_004, 450_360, [150_120, 300_240, 375_300])),
        ("cpu_paper_shape", 5_000, (39, 780, [234, 468, 624])),
    ],
)
def test_iteration_counts_match_the_paper(schedule, num_train, expected):
    assert iterations(schedule, num_train) == expected


def test_learning_rate_follows_the_paper_cifar_schedule():
    schedule = instantiate(OmegaConf.load(Path(CONFIG_DIR, "schedule", "paper_cifar.yaml")))
    optimizer, scheduler = schedule.configure([torch.nn.Parameter(torch.zeros(1))], steps_per_epoch=390)
    optimizer.step()  # once, so the scheduler does not warn; the rate only depends on its own steps
    rates = []
    for _ in range(78_000):
        rates.append(optimizer.param_groups[0]["lr"])
        scheduler.step()
    changes = [step for step in range(1, len(rates)) if rates[step] != rates[step - 1]]
    assert changes == [23_400, 46_800, 62_400]
    assert rates[0] == pytest.approx(0.1) and rates[-1] == pytest.approx(1e-4)
    group = optimizer.param_groups[0]
    assert (group["momentum"], group["nesterov"], group["weight_decay"]) == (0.9, True, 5e-5)
