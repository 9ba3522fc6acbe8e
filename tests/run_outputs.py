"""Read back what a run wrote: its TensorBoard scalars and the state its last checkpoint saved."""

from __future__ import annotations

import torch


def tensorboard_scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    from tbparse import SummaryReader

    frame = SummaryReader(str(run_dir / "tensorboard")).scalars
    return {tag: list(zip(group.step.tolist(), group.value.tolist())) for tag, group in frame.groupby("tag")}


def sampler_weights_in(checkpoint_path) -> torch.Tensor:
    return torch.load(checkpoint_path, map_location="cpu", weights_only=False)["ImageDataModule"]["sampler"][
        "weights"
    ]


def checkpoint_state(run_dir, name: str) -> dict:
    """The state of the callback whose key starts with ``name`` in the run's last.ckpt."""
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    return next(state for key, state in checkpoint["callbacks"].items() if key.startswith(name))
