"""The progress bar: Lightning's, with each epoch's sampling phase and the test set called "test"."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.callbacks.progress.tqdm_progress import convert_inf

from sample_importance.sampler.diagnostics import sampling_phase


class PhaseProgressBar(TQDMProgressBar):
    """``Epoch 3 (burn-in 4/5)``, ``Epoch 6 (weighted)``; the evaluation after each epoch is ``test``.

    A run has one evaluation set, the test set (the paper's A(V, f_t) after every epoch), which
    Lightning's bar calls "Validation DataLoader 0". The descriptions are set once per bar (each
    redraw is a line in a SLURM log), so the epoch-start and loader-start hooks are written here
    instead of renaming what Lightning's versions draw.
    """

    @property
    def validation_description(self) -> str:
        return "test"

    @property
    def test_description(self) -> str:
        return "final test"

    def on_train_epoch_start(self, trainer: pl.Trainer, *_) -> None:
        if self._leave:
            self.train_progress_bar = self.init_train_tqdm()
        self.train_progress_bar.reset(total=convert_inf(self.total_train_batches))
        self.train_progress_bar.set_description(
            f"Epoch {trainer.current_epoch} ({sampling_phase(trainer)[1]})"
        )

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if self.has_dataloader_changed(dataloader_idx):
            self.val_progress_bar.reset(total=convert_inf(self.total_val_batches_current_dataloader))
            self.val_progress_bar.set_description(self.validation_description)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if self.has_dataloader_changed(dataloader_idx):
            self.test_progress_bar.reset(total=convert_inf(self.total_test_batches_current_dataloader))
            self.test_progress_bar.set_description(self.test_description)
