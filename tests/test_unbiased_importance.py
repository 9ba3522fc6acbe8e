"""The unbiased variant (App. E.3): each sample's loss weighted by 1 / (N P(i)) after the switch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_lightning.callbacks import Callback

from conftest import FEW_BATCHES, run_training

LOSS_RECORDS: list[dict] = []


class LossRecorder(Callback):
    """Test-only: the loss factor and losses of every training batch."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        index = outputs["index"].cpu()
        factor = (
            pl_module.sample_loss_weight(index) if pl_module.sample_loss_weight else torch.ones(len(index))
        )
        LOSS_RECORDS.append(
            {
                "epoch": trainer.current_epoch,
                "index": index,
                "factor": factor.double(),
                "loss": float(outputs["loss"]),
                "sample_loss": outputs["sample_loss"].double().cpu(),
            }
        )


def test_unbiased_loss_is_weighted_by_one_over_n_p(tmp_path):
    LOSS_RECORDS.clear()
    run = tmp_path / "run"
    run_training(
        [
            "sampler=importance_unbiased",
            "sampler.burn_in_epochs=1",
            "schedule.max_epochs=2",
            FEW_BATCHES,
            "+callbacks.loss_recorder._target_=test_unbiased_importance.LossRecorder",
        ],
        run,
    )
    weights = torch.load(run / "sample_weights.pt", weights_only=True)["weight"]
    expected = weights.sum() / (len(weights) * weights)  # 1 / (N P(i))
    burn_in = [r for r in LOSS_RECORDS if r["epoch"] == 0]
    after = [r for r in LOSS_RECORDS if r["epoch"] == 1]
    assert burn_in and after
    assert all(torch.equal(r["factor"], torch.ones(len(r["index"]), dtype=torch.float64)) for r in burn_in)
    for record in after:
        np.testing.assert_allclose(record["factor"].numpy(), expected[record["index"]].numpy(), rtol=1e-6)
        assert record["loss"] == pytest.approx(
            float((record["sample_loss"] * record["factor"]).mean()), rel=1e-5
        )
