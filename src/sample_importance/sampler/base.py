"""What every ``sampler=...`` is: a Lightning callback that decides how the run's IndexSampler draws.

The run has one ``IndexSampler`` (``datamodule.train_sampler()``, made once, in every checkpoint).
A sampler callback never replaces it; it acts on it from its hooks:

- ``set_weights(w)``: from the next epoch on, N draws with replacement, P(i) = w_i / sum(w)
  (``None`` goes back to uniform without replacement);
- ``set_subset(indices)``: uniform epochs over these samples only, a shorter epoch (InfoBatch);
- ``draw_chunk_size = n``: draw n global indices at a time, each chunk from the weights of the
  moment it is drawn (weights updated every batch: ``updating.py``).

``train.py`` builds the one sampler callback from the ``sampler`` config group, calls
``validate(max_epochs)`` before anything is written, hands ``sample_loss_weight`` to the model,
puts the callback first among the callbacks (it records per-sample values at a batch end before
any checkpoint is written) and writes ``summary()`` into ``summary.json`` (``sampler_settings``).
Lightning saves ``state_dict()`` in every checkpoint under the class name, so a subclass keeps
its class name for old checkpoints to resume.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from pytorch_lightning.callbacks import Callback


class SamplerCallback(Callback):
    """The contract of a ``sampler=...``; a subclass overrides what it needs.

    Attributes:
        name: the sampler's name in logs, errors and the summary (``sampler=NAME``).
        sample_loss_weight: None, or a function of a batch's sample indices returning one loss
            factor per sample (the unbiased variant, InfoBatch's rescaling); the model multiplies
            each sample's loss by it.
        burn_in_epochs: None, or the uniform epochs before the sampler draws by weight (an int,
            or ``"auto"``); the progress bar counts them (``burn-in 2/5``).
    """

    name = "sampler"
    burn_in_epochs: int | str | None = None
    sample_loss_weight: Callable[[torch.Tensor], torch.Tensor] | None = None

    def hparams(self) -> dict:
        """The settings that define the sampler (TensorBoard's hparams, the summary)."""
        return {}

    def validate(self, max_epochs: int) -> None:
        """Check the settings that depend on the schedule; raise a one-line ``ConfigError``.

        Settings of the sampler alone are checked in the constructor.
        """

    def summary(self) -> dict:
        """What ``summary.json`` records under ``sampler_settings``: the settings and what happened."""
        return self.hparams()

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned."""
