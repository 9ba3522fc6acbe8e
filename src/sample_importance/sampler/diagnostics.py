"""What a weighted sampler is doing, in TensorBoard: at the switch and after every epoch.

A sampler that collapses onto a few samples (easy data, most p_true near 1) shows up as a low
effective sample size, a small fraction of samples drawn, and a large top share.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from sample_importance.errors import UserError
from sample_importance.report.metrics import class_importance
from sample_importance.sampler.base import SamplerCallback
from sample_importance.sampler.index_sampler import scaled_to_max
from sample_importance.torch_files import read_torch_file


def tensorboard_writers(trainer: pl.Trainer) -> list:
    if not trainer.is_global_zero:
        return []
    return [lg.experiment for lg in trainer.loggers if hasattr(lg.experiment, "add_histogram")]


def sampling_phase(trainer: pl.Trainer) -> tuple[int, str]:
    """(0 uniform or 1 weighted, a label) for the epoch the sampler is drawing now.

    The label counts the burn-in of a sampler that has one: ``burn-in 2/5`` (``2/auto`` while
    ``burn_in_epochs=auto`` has not chosen), then ``weighted``; ``uniform, pruned`` is an epoch
    drawn from a subset (InfoBatch's pruned epochs).
    """
    datamodule = getattr(trainer, "datamodule", None)
    sampler = datamodule.train_sampler() if hasattr(datamodule, "train_sampler") else None
    if sampler is None:
        return 0, "uniform"
    if sampler.weights is not None:
        return 1, "weighted"
    if sampler.subset is not None:
        return 0, "uniform, pruned"
    burn_in = next((cb.burn_in_epochs for cb in trainer.callbacks if isinstance(cb, SamplerCallback)), None)
    if burn_in is None or burn_in == 0:
        return 0, "uniform"
    return 0, f"burn-in {trainer.current_epoch + 1}/{burn_in}"


def log_class_shares(
    writer, tag: str, weights: torch.Tensor, labels: torch.Tensor, datamodule, step: int
) -> None:
    """One scalar per class, ``TAG/007_name``: the class's share of the weights (its class importance)."""
    shares = class_importance(weights.numpy(), labels.numpy(), datamodule.num_classes)
    for c, share in enumerate(shares.tolist()):
        writer.add_scalar(f"{tag}/{c:03d}_{datamodule.class_names[c]}", share, step)


def sampling_stats(weights: torch.Tensor, drawn: torch.Tensor | None = None) -> dict[str, float]:
    weights = scaled_to_max(weights)
    stats = {
        "effective_sample_fraction": float(weights.sum() ** 2 / (weights.pow(2).sum() * len(weights))),
        "max_sample_share": float(weights.max() / weights.sum()),
    }
    if drawn is not None:
        seen = torch.zeros(len(weights), dtype=torch.bool)
        seen[drawn] = True
        stats["fraction_drawn"] = float(seen.float().mean())
    return stats


def extreme_images_grid(datamodule, weights: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Row 1: the lowest-weight (easiest) sample per class; row 2: the highest-weight (hardest)."""
    from torchvision.utils import make_grid

    images = datamodule.score_set.images
    easiest, hardest = [], []
    for c in range(datamodule.num_classes):
        members = (labels == c).nonzero().flatten()
        if len(members) == 0:
            continue
        order = weights[members].argsort()
        easiest.append(images[members[order[0]]])
        hardest.append(images[members[order[-1]]])
    grid = make_grid(torch.stack(easiest + hardest), nrow=len(easiest), padding=1)
    return grid


def log_switch(
    trainer: pl.Trainer, scores, weights: torch.Tensor, seconds: float, chosen_burn_in: int | None = None
) -> None:
    """The switch in TensorBoard: weights, class shares, p_true and the easiest and hardest images
    (where a model ran), the hardness of another ``score``, the E that ``burn_in_epochs=auto`` chose."""
    datamodule, step = trainer.datamodule, trainer.global_step
    weights = scaled_to_max(weights)  # float32 holds the histogram: weights from a file may exceed its range
    model_ran = bool(torch.isfinite(scores.p_true).all())
    for writer in tensorboard_writers(trainer):
        writer.add_histogram("importance/weight", weights.float(), step)
        log_class_shares(writer, "importance/class_share", weights, scores.label, datamodule, step)
        if model_ran:
            writer.add_histogram("importance/p_true", scores.p_true.float(), step)
            writer.add_scalar("importance/scoring_time_s", seconds, step)
            if hasattr(getattr(datamodule, "score_set", None), "images"):
                grid = extreme_images_grid(datamodule, weights, scores.label)
                writer.add_image("importance/easiest_top_hardest_bottom", grid, step)
        if scores.score not in ("p_true", "weights_file"):
            writer.add_histogram(f"importance/hardness_{scores.score}", scores.hardness.float(), step)
            writer.add_scalar(f"importance/scoring_time_s/{scores.score}", seconds, step)
        if chosen_burn_in is not None:
            writer.add_scalar("importance/burn_in_epochs_chosen", chosen_burn_in, step)
        writer.flush()


def log_switch_again(trainer: pl.Trainer, seconds: float, chosen_burn_in: int | None) -> None:
    """``log_switch`` from the run's ``sample_weights.pt`` (a resume from the switch's checkpoint)."""
    path = Path(trainer.default_root_dir) / "sample_weights.pt"
    if not path.is_file():
        return
    try:
        record = read_torch_file(path)
    except UserError as error:
        raise UserError(
            f"{error}; the checkpoint holds the weights, this file only the switch's record: "
            f"delete it to resume without it"
        ) from error
    p_true = record["p_true"]
    scores = SimpleNamespace(
        score=record.get("score", "p_true"),
        label=record["label"],
        p_true=p_true,
        hardness=record.get("hardness", 1.0 - p_true),
    )
    log_switch(trainer, scores, record["weight"], seconds, chosen_burn_in)


class SamplingDiagnostics(Callback):
    """Every epoch: ``sampler/phase`` (0 uniform, 1 weighted, so the switch shows beside every curve);
    every epoch the sampler draws by weight: ESS/N, fraction drawn at least once, top share, class shares."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        datamodule = trainer.datamodule
        sampler = datamodule.train_sampler()
        writers = tensorboard_writers(trainer)
        for writer in writers:
            writer.add_scalar("sampler/phase", sampling_phase(trainer)[0], trainer.global_step)
        if sampler.weights is None or not writers:
            return
        stats = sampling_stats(sampler.weights, sampler.global_sequence(trainer.current_epoch))
        for writer in writers:
            for name, value in stats.items():
                writer.add_scalar(f"sampling/{name}", value, trainer.global_step)
            log_class_shares(
                writer,
                "sampling/class_share",
                sampler.weights,
                datamodule.train_set.labels,
                datamodule,
                trainer.global_step,
            )
