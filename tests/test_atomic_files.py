"""Files are written whole or not at all: a write that fails part-way (a full disk) leaves the
previous file intact and nothing truncated under the real name."""

from __future__ import annotations

import errno
import io
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from conftest import run_training

REAL_TORCH_SAVE = torch.save
REAL_WRITE_TEXT = Path.write_text


def disk_full() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device (simulated)")


def torch_save_that_fills_the_disk(record, target, *args, **kwargs):
    """Writes half of the bytes to ``target`` (a path or a file), then fails as a full disk would."""
    buffer = io.BytesIO()
    REAL_TORCH_SAVE(record, buffer, *args, **kwargs)
    half = buffer.getvalue()[: buffer.tell() // 2]
    if isinstance(target, (str, Path)):
        Path(target).write_bytes(half)
    else:
        target.write(half)
    raise disk_full()


def write_text_that_fills_the_disk(self, text, *args, **kwargs):
    REAL_WRITE_TEXT(self, text[: len(text) // 2], *args, **kwargs)
    raise disk_full()


def savefig_that_fills_the_disk(self, target, *args, **kwargs):
    Path(target).write_bytes(b"\x89PNG\r\n")
    raise disk_full()


def write_sample_weights(path: Path, version: int) -> None:
    from sample_importance.sampler.method import save_sample_weights

    scores = SimpleNamespace(label=torch.arange(4), p_true=torch.full((4,), 0.25 * version))
    save_sample_weights(path, version, 0.5, scores, torch.full((4,), float(version)))


def write_summary(path: Path, version: int) -> None:
    from sample_importance.run_record import write_summary

    write_summary(path.parent, {"final_test_acc": 0.5, "version": version, "padding": "x" * 2000})


def write_scores(path: Path, version: int) -> None:
    from sample_importance.atomic import torch_save  # what el2n writes el2n_scores.pt with

    torch_save({"score": torch.full((1000,), float(version))}, path)


def write_checkpoint(path: Path, version: int) -> None:
    from sample_importance.checkpoint_io import AtomicCheckpointIO

    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.full((1000,), float(version))}}, path)


def write_report(path: Path, version: int) -> None:
    from sample_importance.atomic import write_text  # what report writes report.md and report.json with

    write_text(path, f"# report {version}\n" + "line\n" * 500)


def write_figure(path: Path, version: int) -> None:
    from sample_importance.report.figures import new_figure, save

    figure, axes = new_figure(1)
    axes[0, 0].plot([0, 1], [0, version])
    save(figure, path)


WRITERS = {
    "sample_weights.pt": (write_sample_weights, "torch"),
    "summary.json": (write_summary, "text"),
    "el2n_scores.pt": (write_scores, "torch"),
    "last.ckpt": (write_checkpoint, "torch"),
    "report.md": (write_report, "text"),
    "curve.png": (write_figure, "figure"),
}


@pytest.mark.parametrize("name", list(WRITERS))
def test_a_write_that_fails_part_way_keeps_the_previous_file(tmp_path, monkeypatch, name):
    writer, serializer = WRITERS[name]
    path = tmp_path / name
    writer(path, 1)
    before = path.read_bytes()
    if serializer == "torch":
        monkeypatch.setattr(torch, "save", torch_save_that_fills_the_disk)
    elif serializer == "text":
        monkeypatch.setattr(Path, "write_text", write_text_that_fills_the_disk)
    else:
        from matplotlib.figure import Figure

        monkeypatch.setattr(Figure, "savefig", savefig_that_fills_the_disk)
    with pytest.raises(OSError, match="No space left"):
        writer(path, 2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [name], "a partial file was left behind"


def test_a_checkpoint_that_cannot_be_written_leaves_the_last_good_one(tmp_path, monkeypatch):
    """A real run whose disk fills while writing epoch 2's checkpoints: epoch 1's stay whole."""
    calls = []

    def fills_on_the_third_checkpoint(record, target, *args, **kwargs):
        calls.append(target)
        if len(calls) == 3:  # epoch 1 wrote epoch000.ckpt and last.ckpt
            return torch_save_that_fills_the_disk(record, target, *args, **kwargs)
        return REAL_TORCH_SAVE(record, target, *args, **kwargs)

    monkeypatch.setattr(torch, "save", fills_on_the_third_checkpoint)
    folder = tmp_path / "run"
    with pytest.raises(OSError, match="No space left"):
        run_training(["sampler=uniform", "schedule.max_epochs=2"], folder)
    assert len(calls) == 3
    checkpoints = folder / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["epoch000.ckpt", "last.ckpt"]
    for name in ("epoch000.ckpt", "last.ckpt"):
        assert torch.load(checkpoints / name, map_location="cpu", weights_only=True)["global_step"] == 44
