"""``python -m sample_importance.train [overrides]``: one training run (or a sweep with ``-m``).

compose -> check -> instantiate data, model, sampler callback, callbacks, trainer -> fit -> test
-> write ``summary.json``. A wrong value is reported before the run folder is touched.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from sample_importance import config_checks
from sample_importance.cli import (
    CONFIG_DIR,
    check_command_line,
    ddp_multirun_job,
    exit_on_user_error,
    user_error_of,
)

log = logging.getLogger(__name__)

# Speed knobs read from the model group (not passed to the network's constructor):
# +model.channels_last=true (NHWC weights and inputs), +model.compile=true (torch.compile in place),
# +model.score_channels_last=false (score on the network itself, not a channels-last copy).
SPEED_KNOBS = ("channels_last", "compile", "score_channels_last")


def model_config(model_cfg: DictConfig) -> dict:
    from omegaconf import OmegaConf

    return {k: v for k, v in OmegaConf.to_container(model_cfg, resolve=True).items() if k not in SPEED_KNOBS}


def apply_speed_knobs(net, model_cfg: DictConfig):
    import torch

    if model_cfg.get("channels_last", False):
        from sample_importance.model.classifier import to_channels_last

        net = net.to(memory_format=torch.channels_last)
        net.register_forward_pre_hook(to_channels_last)
    if model_cfg.get("compile", False):
        net.compile()  # in place: parameter names (and checkpoints) stay those of the plain network
    return net


def build_classifier(cfg: DictConfig, datamodule):
    """The LightningModule for ``cfg``: the network sized for the data, its speed knobs, loss and schedule."""
    from sample_importance.model.classifier import ImageClassifier

    net = instantiate(
        model_config(cfg.model),
        in_channels=datamodule.in_channels,
        num_classes=datamodule.num_classes,
        image_size=datamodule.image_size,
    )
    return ImageClassifier(
        apply_speed_knobs(net, cfg.model),
        instantiate(cfg.loss),
        instantiate(cfg.schedule),
        datamodule.num_classes,
        score_channels_last=cfg.model.get("score_channels_last", True),
    )


def sampler_callback(cfg: DictConfig):
    """The run's sampler callback (``sampler/base.py``), its settings checked against the schedule.

    A wrong value is the constructor's ``ConfigError`` itself, not Hydra's wrapper around it.
    """
    from hydra.errors import InstantiationException

    try:
        sampler = instantiate(cfg.sampler)
    except InstantiationException as error:
        raise (user_error_of(error) or error) from None
    sampler.validate(int(cfg.schedule.max_epochs))
    return sampler


def make_logger(logger_cfg: DictConfig, purge_step: int | None):
    """A logger; a TensorBoard one drops its events from ``purge_step`` on (a resume, see ``build``)."""
    from hydra.utils import get_class
    from pytorch_lightning.loggers import TensorBoardLogger

    if purge_step and issubclass(get_class(logger_cfg._target_), TensorBoardLogger):
        return instantiate(logger_cfg, purge_step=purge_step)
    return instantiate(logger_cfg)


def build(cfg: DictConfig, checkpoint_step: int | None = None):
    """Everything a run needs, from the composed config.

    ``checkpoint_step``: the step of the checkpoint the run resumes from, when the caller has read
    it already (``train``'s start check); otherwise the checkpoint is checked here.
    """
    from pytorch_lightning.callbacks import ProgressBar
    from pytorch_lightning.plugins.environments import SLURMEnvironment

    from sample_importance import run_folder, run_record
    from sample_importance.callbacks.step_seeds import SeedEachStep
    from sample_importance.checkpoint_io import AtomicCheckpointIO
    from sample_importance.console import quiet_third_party

    quiet_third_party()
    ckpt_path = run_record.resume_path(cfg)
    # Events logged after the checkpoint was written are dropped from the TensorBoard view, so
    # a resumed run never shows a step twice (the module re-logs what belongs to that step).
    purge_step = None
    if ckpt_path:
        purge_step = (
            checkpoint_step if checkpoint_step is not None else run_record.check_checkpoint(ckpt_path)
        )
    if purge_step:
        run_record.wait_past_event_files(Path(cfg.paths.output_dir))
    datamodule = instantiate(cfg.dataset)
    module = build_classifier(cfg, datamodule)
    sampler = sampler_callback(cfg)
    module.sample_loss_weight = sampler.sample_loss_weight
    # The sampler first: at a batch end it records per-sample values before any checkpoint is written.
    callbacks = [SeedEachStep(cfg.seed), sampler]
    callbacks += [instantiate(c) for c in (cfg.get("callbacks") or {}).values()]
    if not cfg.trainer.get("enable_progress_bar", True):  # Lightning refuses a progress bar it must not show
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    callbacks.append(run_folder.SettingsInCheckpoint(run_folder.run_settings(cfg)))
    loggers = [make_logger(c, purge_step) for c in (cfg.get("logger") or {}).values()]
    plugins = [AtomicCheckpointIO()]  # checkpoints written whole or not at all
    if SLURMEnvironment.detect():
        plugins.append(
            SLURMEnvironment(auto_requeue=False)
        )  # submitit owns requeueing (callbacks/preemption.py)
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=plugins)
    return datamodule, module, sampler, trainer, ckpt_path


def lower_burn_in_for_debug(cfg: DictConfig) -> str | None:
    """Debug configs (``debug=fast`` ...) set ``debug_max_burn_in_epochs``: a sampler's fixed burn-in
    above it is lowered to it, so every sampler, whatever its E, switches within a 2-epoch run.
    Returns the line to log once the run has its folder (a refused start writes nothing)."""
    cap = cfg.get("debug_max_burn_in_epochs")
    burn_in = OmegaConf.select(cfg, "sampler.burn_in_epochs", default=None)
    if cap is None or isinstance(burn_in, bool) or not isinstance(burn_in, int) or burn_in <= cap:
        return None
    with open_dict(cfg):
        cfg.sampler.burn_in_epochs = int(cap)
    return f"debug run: sampler.burn_in_epochs lowered from {burn_in} to {cap} (debug_max_burn_in_epochs)"


def train(cfg: DictConfig) -> dict:
    debug_note = lower_burn_in_for_debug(cfg)
    config_checks.validate(cfg)
    sampler_callback(cfg)  # its constructor and validate check the sampler's values
    from sample_importance import run_folder, run_record

    # Every refusal (folder in use, unreadable checkpoint, changed settings) comes before the
    # first write into the run folder; a finished run is reported and left as it is.
    start = run_folder.check_start(cfg, run_record.resume_path(cfg))
    if start.finished_summary is not None:
        run_folder.report_finished(start)
        return start.finished_summary
    with run_folder.RunFolder(cfg, start):
        # Warnings go to the run's train.log, so they wait until the start is accepted.
        for note in (debug_note, config_checks.milestones_after_the_run(cfg, int(cfg.schedule.max_epochs))):
            if note:
                log.warning(note)
        return train_in_folder(cfg, start.checkpoint_step)


def train_in_folder(cfg: DictConfig, checkpoint_step: int | None = None) -> dict:
    import pytorch_lightning as pl
    import torch

    from sample_importance import run_folder, run_record

    started = time.time()
    torch.set_float32_matmul_precision("high")
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    with ddp_multirun_job():
        datamodule, module, sampler, trainer, ckpt_path = build(cfg, checkpoint_step)
        if ckpt_path and trainer.is_global_zero:
            print(f"resuming from {ckpt_path}", flush=True)
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        trainer.test(module, datamodule=datamodule, verbose=False)
    summary = run_record.summarize(cfg, trainer, datamodule, module, sampler, time.time() - started)
    summary.update(run_folder.settings_changed_on_resume(trainer))
    if trainer.is_global_zero:
        output_dir = Path(cfg.paths.output_dir)
        run_record.write_summary(output_dir, summary)
        run_record.log_hparams(trainer, cfg, summary)
        print(
            f"best test accuracy {summary['best_test_acc']:.4f} at step {summary['best_step']}, "
            f"final {summary['final_test_acc']:.4f} "
            f"({summary['total_steps']} steps, {summary['wall_time_s']:.0f} s)\n"
            f"run folder: {output_dir}\n"
            f"view it:    tensorboard --logdir {output_dir / 'tensorboard'}",
            flush=True,
        )
    return summary


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    summary = exit_on_user_error(train, cfg)
    return summary.get("best_test_acc") if summary else None


if __name__ == "__main__":
    check_command_line()
    main()
