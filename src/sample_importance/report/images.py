"""Fig. 18-19: the easiest and hardest training image per class and seed.

``sample_weights.pt`` holds indices, not pixels: the training set is rebuilt from the run's
``.hydra/config.yaml`` (the dataset group only, ``setup()`` without any download). When the data
is not on disk, the grids the run logged to TensorBoard at the switch are used instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sample_importance.report.runs import Run


class ImagesUnavailable(Exception):
    """The training images cannot be rebuilt (no config, data not on disk, different samples)."""


def data_dir_candidates(run: Run, configured: str) -> list[str]:
    """The configured folder, and for a relative one, the same folder beside the ``logs/`` the run is in."""
    candidates = [configured]
    if not Path(configured).is_absolute():
        for parent in run.folder.parents:
            if parent.name == "logs":
                candidates.append(str(parent.parent / configured))
                break
    return candidates


def training_images(run: Run, data_dir: str | None = None):
    """(images, labels (N,)) of the run's training set in sample-index order; ``images[i]`` is sample
    i's stored uint8 (C, H, W) image (read on demand: a multi-augmentation set is never copied whole)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    if run.config is None or "dataset" not in run.config:
        raise ImagesUnavailable(f"{run.folder} has no .hydra/config.yaml")
    cfg = OmegaConf.create(run.config)
    cfg.paths = cfg.get("paths") or {}
    cfg.paths.output_dir = str(run.folder)  # ${hydra:runtime.output_dir} needs a running Hydra app
    configured = data_dir or str(OmegaConf.select(cfg, "paths.data_dir", default="data"))
    errors = []
    for candidate in dict.fromkeys(data_dir_candidates(run, configured)):
        cfg.paths.data_dir = candidate
        try:
            datamodule = instantiate(cfg.dataset)
            datamodule.setup("fit")
            return datamodule.score_set.images, datamodule.score_set.labels.numpy()
        except Exception as error:  # any failure means: no images for the figure, with the reason
            first_line = str(error).splitlines()[0][:200].rstrip(".") if str(error) else ""
            errors.append(f"{candidate}: {type(error).__name__}: {first_line}")
    raise ImagesUnavailable("; ".join(errors))


def displayable(image) -> np.ndarray:
    """(C, H, W) uint8 -> (H, W) grey or (H, W, 3)."""
    image = np.asarray(image)
    return image[0] if image.shape[0] == 1 else np.transpose(image[:3], (1, 2, 0))


def extremes(weights: np.ndarray, labels: np.ndarray, images, num_classes: int):
    """Per seed and class, the lowest- and highest-weight training image: (easiest, hardest) rows."""
    easiest, hardest = [], []
    for seed_weights in weights:
        easy_row, hard_row = [], []
        for c in range(num_classes):
            members = np.flatnonzero(labels == c)
            if len(members) == 0:
                easy_row.append(None)
                hard_row.append(None)
                continue
            order = members[np.argsort(seed_weights[members], kind="stable")]
            easy_row.append(displayable(images[order[0]]))
            hard_row.append(displayable(images[order[-1]]))
        easiest.append(easy_row)
        hardest.append(hard_row)
    return easiest, hardest
