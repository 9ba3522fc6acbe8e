"""sampler.score_source=train_forward: the weights come from epoch E's own training forward passes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pytorch_lightning.callbacks import Callback

from conftest import run_training
from sample_importance.errors import ConfigError
from sample_importance.sampler import method
from sample_importance.sampler.importance import ImportanceSampling

RECORDER = "+callbacks.train_p_true._target_=test_free_scoring.TrainPTrueRecorder"


class TrainPTrueRecorder(Callback):
    """Test-only: p_true of every training step's logits, per epoch, written to train_p_true.pt."""

    def __init__(self) -> None:
        self.p_true: dict[int, dict[int, float]] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        p = torch.softmax(outputs["logits"].float(), 1).gather(1, outputs["target"][:, None]).squeeze(1)
        epoch = self.p_true.setdefault(trainer.current_epoch, {})
        for i, value in zip(outputs["index"].tolist(), p.double().tolist()):
            epoch[i] = value

    def on_train_end(self, trainer, pl_module) -> None:
        torch.save(self.p_true, Path(trainer.default_root_dir) / "train_p_true.pt")


def test_weights_are_training_pass_p_true_and_no_scoring_pass_runs(tmp_path, monkeypatch):
    def no_scoring_pass(*args, **kwargs):
        raise AssertionError("score_source=train_forward must not run the scoring pass")

    monkeypatch.setattr(method, "scoring_pass", no_scoring_pass)
    gamma = 0.5
    summary = run_training(
        [
            "sampler=importance",
            "sampler.burn_in_epochs=2",
            f"sampler.gamma={gamma}",
            "sampler.score_source=train_forward",
            "schedule.max_epochs=3",
            RECORDER,
        ],
        tmp_path / "run",
    )
    record = torch.load(tmp_path / "run" / "sample_weights.pt", weights_only=False)
    logged = torch.load(tmp_path / "run" / "train_p_true.pt", weights_only=False)[1]  # epoch E=2 is index 1
    assert record["epoch"] == 2
    seen = torch.tensor(sorted(logged))
    p_logged = torch.tensor([logged[i] for i in seen.tolist()], dtype=torch.float64)
    assert torch.allclose(record["p_true"][seen], p_logged, atol=1e-6)
    assert torch.allclose(record["weight"][seen], (1 - p_logged).clamp(0, 1).pow(gamma), atol=1e-6)
    # The last incomplete batch is dropped: those samples get the mean recorded p_true.
    unseen = torch.ones(len(record["p_true"]), dtype=torch.bool)
    unseen[seen] = False
    assert torch.allclose(record["p_true"][unseen], p_logged.mean().expand(int(unseen.sum())))
    assert summary["final_test_acc"] > 0.1


@pytest.mark.parametrize(
    "options",
    [{"burn_in_epochs": 0}, {"burn_in_epochs": "auto"}, {"score": "el2n"}, {"score_source": "later"}],
)
def test_score_source_checks(options):
    with pytest.raises(ConfigError):
        ImportanceSampling(**{"score_source": "train_forward", **options})
