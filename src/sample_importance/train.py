"""``python -m sample_importance.train [overrides]``: one training run (or a sweep with ``-m``).

compose -> validate -> instantiate data, model, strategy, callbacks, trainer -> fit -> test ->
write ``summary.json``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from sample_importance import run_record
from sample_importance.cli import CONFIG_DIR, exit_on_user_error
from sample_importance.model.classifier import ImageClassifier

log = logging.getLogger(__name__)


def build(cfg: DictConfig):
    """Everything a run needs, from the composed config (no side effects beyond construction)."""
    run_record.validate(cfg)
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
    started = time.time()
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, module, strategy, trainer = build(cfg)
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    trainer.test(module, datamodule=datamodule, verbose=False)
    summary = run_record.summarize(cfg, trainer, datamodule, module, strategy, time.time() - started)
    if trainer.is_global_zero:
        run_record.write_summary(Path(cfg.paths.output_dir), summary)
        run_record.log_hparams(trainer, cfg, summary)
        output_dir = Path(cfg.paths.output_dir)
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
    torch.set_float32_matmul_precision("high")
    summary = exit_on_user_error(train, cfg)
    return summary.get("best_test_acc") if summary else None


if __name__ == "__main__":
    main()
