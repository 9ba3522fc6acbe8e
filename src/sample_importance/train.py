"""``python -m sample_importance.train [overrides]``: one training run (or a sweep with ``-m``).

compose -> check -> instantiate data, model, strategy, callbacks, trainer -> fit -> test ->
write ``summary.json``. Torch and Lightning are imported after the config checks, so a wrong
value is reported in about a second.
"""

from __future__ import annotations

import time
from pathlib import Path

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

from sample_importance import config_checks
from sample_importance.cli import CONFIG_DIR, check_command_line, exit_on_user_error


def build(cfg: DictConfig):
    """Everything a run needs, from the composed config."""
    from sample_importance import run_record
    from sample_importance.model.classifier import ImageClassifier

    if cfg.get("ckpt_path"):
        run_record.check_checkpoint(cfg.ckpt_path)
    datamodule = instantiate(cfg.dataset)
    net = instantiate(cfg.model, in_channels=datamodule.in_channels, num_classes=datamodule.num_classes,
                      image_size=datamodule.image_size)
    module = ImageClassifier(net, instantiate(cfg.loss), instantiate(cfg.schedule), datamodule.num_classes)
    strategy = instantiate(cfg.sampler)
    strategy.validate(cfg.schedule.max_epochs)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values()] + [strategy]
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values()]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    return datamodule, module, strategy, trainer


def train(cfg: DictConfig) -> dict:
    config_checks.validate(cfg)
    import pytorch_lightning as pl
    import torch

    from sample_importance import run_record

    started = time.time()
    torch.set_float32_matmul_precision("high")
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, module, strategy, trainer = build(cfg)
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    trainer.test(module, datamodule=datamodule, verbose=False)
    summary = run_record.summarize(cfg, trainer, datamodule, module, strategy, time.time() - started)
    if trainer.is_global_zero:
        output_dir = Path(cfg.paths.output_dir)
        run_record.write_summary(output_dir, summary)
        run_record.log_hparams(trainer, cfg, summary)
        print(
            f"best test accuracy {summary['best_test_acc']:.4f} at step {summary['best_step']}, "
            f"final {summary['final_test_acc']:.4f} ({summary['total_steps']} steps, {summary['wall_time_s']:.0f} s)\n"
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
