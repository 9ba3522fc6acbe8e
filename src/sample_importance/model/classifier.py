"""The LightningModule: trains a network on per-sample losses and scores the training set."""

from __future__ import annotations

import copy

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics.functional.classification import multiclass_accuracy

from sample_importance.errors import TrainingDiverged, UserError


def to_channels_last(_module, args):
    """Forward pre-hook: image batches in channels-last layout (other inputs unchanged)."""
    images = args[0]
    if images.ndim == 4:
        images = images.contiguous(memory_format=torch.channels_last)
    return (images, *args[1:])


def gather_from_ranks(*tensors: torch.Tensor) -> list[torch.Tensor]:
    """Each tensor concatenated over all DDP ranks (uneven lengths allowed); unchanged in one process."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return list(tensors)
    from torchmetrics.utilities.distributed import gather_all_tensors

    return [torch.cat(gather_all_tensors(t.contiguous())) for t in tensors]


class ImageClassifier(pl.LightningModule):
    """Classifier whose training step keeps every sample's loss and index visible to callbacks.

    Args:
        net: the network, logits out.
        loss: per-sample loss ``(logits, targets) -> (B,)``.
        schedule: an object with ``configure(parameters, steps_per_epoch) -> (optimizer, scheduler)``.
        num_classes: number of classes.
        score_channels_last: run scoring passes on a channels-last copy of the network (see
            ``scoring_network``).

    ``training_step`` returns ``{"loss", "index", "target", "logits", "sample_loss"}`` so that
    samplers that follow per-sample values (the loss, p_true) read them in
    ``on_train_batch_end`` without a second forward pass. ``sample_loss_weight`` is the run's
    sampler's hook of that name (``sampler/base.py``; train.py hands it over): None, or a
    function of the batch's indices returning per-sample loss factors.
    """

    def __init__(
        self, net: nn.Module, loss: nn.Module, schedule, num_classes: int, score_channels_last: bool = True
    ) -> None:
        super().__init__()
        self.net = net
        self.score_channels_last = bool(score_channels_last)
        self.loss = loss
        self.schedule = schedule
        self.num_classes = num_classes
        self.sample_loss_weight = None
        self._epoch_loss: torch.Tensor | None = None  # sum of this epoch's batch losses so far
        self._epoch_loss_steps = 0
        # The first step whose loss was NaN or infinite (-1: none yet), kept on the device: reading
        # it is a host-device sync, so it is read only where the host waits anyway (see
        # stop_if_diverged), not after every step.
        self._first_nonfinite_step: torch.Tensor | None = None
        self.test_acc_history: list[tuple[int, float]] = []  # (global step, accuracy) after each epoch
        self.last_test_metrics: tuple[int, dict] | None = None  # (step, all test metrics) of the last epoch
        self._epoch_correct: torch.Tensor | None = None  # this epoch's correctly classified training draws
        self._epoch_seen = 0
        self._eval_preds: list[torch.Tensor] = []
        self._eval_targets: list[torch.Tensor] = []
        self._eval_losses: list[torch.Tensor] = []
        self.final_test: dict = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    # -- training -----------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        images, targets, index = batch
        logits = self(images)
        sample_loss = self.loss(logits, targets)
        if self.sample_loss_weight is not None:
            loss = (sample_loss * self.sample_loss_weight(index).to(sample_loss)).mean()
        else:
            loss = sample_loss.mean()
        self._note_nonfinite(loss.detach())
        # The epoch's mean loss accumulates on the device (no sync); self.log costs about 1 ms of
        # Python a call (timed on the CPU, against a 15-20 ms LeNet step), so the step value is
        # logged only on the steps the logger writes (every trainer.log_every_n_steps).
        self._epoch_loss = self._epoch_loss + loss.detach() if self._epoch_loss is not None else loss.detach()
        self._epoch_loss_steps += 1
        every = self.trainer.log_every_n_steps
        if every and (self.global_step + 1) % every == 0:
            self.stop_if_diverged()  # the logger reads the loss on this step: the host syncs here anyway
            self.log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True)
        return {
            "loss": loss,
            "index": index,
            "target": targets,
            "logits": logits.detach(),
            "sample_loss": sample_loss.detach(),
        }

    def _note_nonfinite(self, loss: torch.Tensor) -> None:
        """Remember the first step with a NaN or infinite loss, on the loss's device (no sync)."""
        if self._first_nonfinite_step is None or self._first_nonfinite_step.device != loss.device:
            self._first_nonfinite_step = torch.full((), -1, dtype=torch.long, device=loss.device)
        first = self._first_nonfinite_step
        self._first_nonfinite_step = torch.where(~torch.isfinite(loss) & (first < 0), self.global_step, first)

    def stop_if_diverged(self) -> None:
        """Raise ``TrainingDiverged`` if a training loss so far was NaN or infinite (one sync).

        Called at the logging steps, before validation, at the epoch end and before any checkpoint
        is written, so a diverged run stops before it saves NaN weights, without a per-step sync.
        """
        if self._first_nonfinite_step is None:
            return
        step = int(self._first_nonfinite_step)
        if step >= 0:
            raise TrainingDiverged(
                f"training loss became NaN or infinite at step {step}: the run diverged (lower schedule.lr); "
                f"checkpoints up to the last finished epoch are in checkpoints/"
            )

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        # Accuracy on the samples drawn (augmented views; after the switch, weighted draws), on the device.
        correct = (outputs["logits"].argmax(1) == outputs["target"]).sum()
        self._epoch_correct = correct if self._epoch_correct is None else self._epoch_correct + correct
        self._epoch_seen += len(outputs["target"])

    def on_train_epoch_start(self) -> None:
        self._epoch_loss, self._epoch_loss_steps = None, 0
        self._epoch_correct, self._epoch_seen = None, 0

    def on_validation_epoch_start(self) -> None:
        self.stop_if_diverged()

    def on_train_epoch_end(self) -> None:
        self.stop_if_diverged()
        if self._epoch_loss_steps:
            self.log(
                "train/loss_epoch", self._epoch_loss / self._epoch_loss_steps, on_step=False, on_epoch=True
            )
        if self._epoch_seen:
            self.log(
                "train/acc",
                self._epoch_correct.float() / self._epoch_seen,
                on_step=False,
                on_epoch=True,
                sync_dist=True,
            )

    def steps_per_epoch(self) -> int:
        """T_e = floor(samples per rank / batch per rank), capped by ``limit_train_batches``."""
        datamodule = self.trainer.datamodule
        # num_samples, not len(): the full epoch, also while a sampler draws a shorter one (set_subset).
        steps = datamodule.train_sampler().num_samples // datamodule.per_device_batch_size()
        limit = self.trainer.limit_train_batches
        if isinstance(limit, int):
            steps = min(steps, limit)
        elif limit is not None and limit < 1.0:
            steps = int(steps * limit)
        return max(steps, 1)

    def configure_optimizers(self):
        optimizer, scheduler = self.schedule.configure(self.parameters(), self.steps_per_epoch())
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # -- test accuracy after every epoch (the paper's A(V, f_t)) --------------------------
    def validation_step(self, batch, batch_idx):
        images, targets, _ = batch
        logits = self(images)
        self._eval_preds.append(logits.argmax(1))
        self._eval_targets.append(targets)
        self._eval_losses.append(self.loss(logits, targets).float())  # the training loss, unweighted

    def test_step(self, batch, batch_idx):
        self.validation_step(batch, batch_idx)

    def _eval_metrics(self) -> dict[str, torch.Tensor]:
        preds, targets = torch.cat(self._eval_preds), torch.cat(self._eval_targets)
        losses = torch.cat(self._eval_losses)
        self._eval_preds, self._eval_targets, self._eval_losses = [], [], []
        preds, targets, losses = gather_from_ranks(preds, targets, losses)
        metrics = {
            "acc": multiclass_accuracy(preds, targets, self.num_classes, average="micro"),
            "loss": losses.mean(),
        }
        per_class = multiclass_accuracy(preds, targets, self.num_classes, average="none")
        datamodule = self.trainer.datamodule
        names = getattr(datamodule, "class_names", None) or [str(c) for c in range(self.num_classes)]
        for c, name in enumerate(names):
            metrics[f"acc_class/{c:03d}_{name}"] = per_class[c]
        augmented = getattr(datamodule, "augmented_classes", [])
        if augmented:
            mask = torch.zeros(self.num_classes, dtype=torch.bool)
            mask[augmented] = True
            metrics["acc_augmented"] = per_class[mask.to(per_class.device)].mean()
            metrics["acc_other"] = per_class[~mask.to(per_class.device)].mean()
        return metrics

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            self._eval_preds, self._eval_targets, self._eval_losses = [], [], []
            return
        metrics = self._eval_metrics()
        # Logged at the number of iterations done (Lightning's own epoch-end step is one less),
        # so the curves' x is the paper's t.
        values = {f"test/{name}": float(value) for name, value in metrics.items()}
        self.last_test_metrics = (int(self.global_step), values)
        self._log_test_metrics()
        self.log("test/acc", metrics["acc"], prog_bar=True, logger=False)
        self.test_acc_history.append((int(self.global_step), float(metrics["acc"])))

    def _log_test_metrics(self) -> None:
        step, values = self.last_test_metrics
        if self.trainer.is_global_zero:
            for logger in self.trainer.loggers:
                logger.log_metrics(values, step=step)

    def on_train_start(self) -> None:
        # A resumed TensorBoard log is purged from the checkpoint's step on (train.py), which
        # also drops the test accuracy logged at exactly that step before the interruption.
        if (
            self.trainer.ckpt_path
            and self.last_test_metrics
            and self.last_test_metrics[0] == self.global_step
        ):
            self._log_test_metrics()

    def on_test_epoch_end(self) -> None:
        metrics = self._eval_metrics()
        self.final_test = {name: float(value) for name, value in metrics.items()}
        self.log("final/test_acc", metrics["acc"])

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self.stop_if_diverged()  # never a checkpoint of NaN weights
        checkpoint["test_acc_history"] = list(self.test_acc_history)
        checkpoint["last_test_metrics"] = self.last_test_metrics

    def check_fits(self, state_dict: dict, source: str) -> None:
        """A checkpoint of another network (another model, class count or input size) is a one-line
        error naming the first difference, instead of load_state_dict's page of mismatches."""
        own = self.state_dict()
        shapes = [
            (key, list(state_dict[key].shape), list(value.shape))
            for key, value in own.items()
            if isinstance(state_dict.get(key), torch.Tensor) and state_dict[key].shape != value.shape
        ]
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        if shapes:
            key, theirs, ours = shapes[0]
            detail = f"its {key} is {theirs}, this run's is {ours}"
        elif missing or unexpected:
            detail = (
                f"its parameter names differ ({len(missing)} of this run's missing, e.g. "
                f"{(missing or ['-'])[0]}; {len(unexpected)} unknown, e.g. {(unexpected or ['-'])[0]})"
            )
        else:
            return
        raise UserError(
            f"{source} is a checkpoint of another network than this run's {type(self.net).__name__} for "
            f"{self.num_classes} classes ({detail}): use it with the model and dataset it was trained with"
        )

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        source = f"ckpt_path={self.trainer.ckpt_path}" if self._trainer is not None else "the checkpoint"
        self.check_fits(checkpoint.get("state_dict", {}), source)
        self.test_acc_history = [tuple(item) for item in checkpoint.get("test_acc_history", [])]
        self.last_test_metrics = checkpoint.get("last_test_metrics")

    # -- scoring (sampler/method.py's scoring pass runs it) ----------------------------
    def scoring_network(self) -> nn.Module:
        """The network a scoring pass runs, in eval mode.

        With ``score_channels_last`` it is a channels-last copy: on the CPU the whole pass is
        faster than in the default layout (BENCHMARKS.md, item 1, has the figures for LeNet and
        ResNet18), with probabilities equal to within 1e-6. A copy, so that the trained
        parameters, their optimizer state and DDP's gradient buckets never see a layout change;
        a network compiled in place is scored as it is (a copy would still call the original).
        """
        net = self.net
        if self.score_channels_last and getattr(net, "_compiled_call_impl", None) is None:
            net = copy.deepcopy(net).to(memory_format=torch.channels_last)
            net.register_forward_pre_hook(to_channels_last)
        return net.eval()
