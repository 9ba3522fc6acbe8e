"""Reading a run's TensorBoard events back (scalars and the switch's image grid).

tensorboard's EventAccumulator keeps only a sample of each tag by default; a size of 0 keeps
all. A resumed run may log a step twice: the later value wins.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

# The grid diagnostics.log_switch writes: easiest training image per class on top, hardest below.
EXTREMES_IMAGE_TAG = "importance/easiest_top_hardest_bottom"


def accumulator(events_dir: Path, images: bool = False):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    guidance = {
        "scalars": 0,
        "images": 0 if images else 1,
        "histograms": 1,
        "compressedHistograms": 1,
        "tensors": 1,
        "audio": 1,
    }
    events = EventAccumulator(str(events_dir), size_guidance=guidance)
    events.Reload()
    return events


def read_scalars(events_dir: Path, tags: list[str] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{tag: (steps, values)}`` for the given tags (all scalar tags when None), steps increasing."""
    events = accumulator(events_dir)
    available = events.Tags().get("scalars", [])
    result = {}
    for tag in available if tags is None else [t for t in tags if t in available]:
        by_step = {int(event.step): float(event.value) for event in events.Scalars(tag)}
        steps = np.array(sorted(by_step), dtype=np.int64)
        result[tag] = (steps, np.array([by_step[s] for s in steps.tolist()], dtype=float))
    return result


def read_run_scalars(run, tags: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``read_scalars`` of a run's events; events that cannot be read are noted on the run and give {}.

    (TensorBoard's reader itself skips truncated or corrupt records; this catches what it raises.)
    """
    try:
        return read_scalars(run.events_dir, tags)
    except Exception as error:  # one run's broken events must not end the report
        run.unreadable.append(f"TensorBoard events unreadable ({type(error).__name__})")
        return {}


def read_run_image(run, tag: str = EXTREMES_IMAGE_TAG) -> np.ndarray | None:
    """``read_last_image`` of a run's events; a failure is noted on the run and gives None."""
    try:
        return read_last_image(run.events_dir, tag)
    except Exception as error:  # a corrupt image record, events that cannot be read
        run.unreadable.append(f"TensorBoard image {tag} unreadable ({type(error).__name__})")
        return None


def read_last_image(events_dir: Path, tag: str = EXTREMES_IMAGE_TAG) -> np.ndarray | None:
    """The last image logged under ``tag`` as an (H, W, C) uint8 array, or None."""
    from PIL import Image

    events = accumulator(events_dir, images=True)
    if tag not in events.Tags().get("images", []):
        return None
    encoded = events.Images(tag)[-1].encoded_image_string
    return np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"))


def first_wall_time(events_dir: Path) -> float:
    """The earliest event of the run's event files (a run writes more than one; each starts with a
    file-version event when its writer opens, and the first writer opens when fitting starts)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    first = float("inf")
    for path in Path(events_dir).glob("events.out.tfevents.*"):
        for event in EventFileLoader(str(path)).Load():
            first = min(first, event.wall_time)
            break  # events are written in time order within a file
    return first


def read_eval_times(events_dir: Path, tag: str = "test/acc") -> tuple[np.ndarray, np.ndarray] | None:
    """``(steps, seconds)``: when each evaluation was logged, in seconds since the run's first event.

    The first event is written when the logger starts, at the start of fitting; the seconds hence
    include training, the evaluations and any scoring pass, but not the data and model set-up
    before it. A run resumed from a checkpoint also counts the time it was stopped.
    """
    events = accumulator(events_dir)
    if tag not in events.Tags().get("scalars", []):
        return None
    start = first_wall_time(events_dir)
    by_step = {int(event.step): float(event.wall_time) - start for event in events.Scalars(tag)}
    steps = np.array(sorted(by_step), dtype=np.int64)
    return steps, np.array([by_step[s] for s in steps.tolist()], dtype=float)
