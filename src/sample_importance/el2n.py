"""``python -m sample_importance.el2n [overrides]``: EL2N scores (Paul et al. 2021) for data pruning.

Trains ``el2n.models`` models (k, default 10; seeds seed, seed+1, ...) with SGD-Scan for
``el2n.epochs`` epochs (E, default 20) each, on the run's dataset/model/schedule, and writes
the mean over the models of every training sample's || softmax(f(x_i)) - onehot(y_i) ||_2
(eval mode, un-augmented) to ``el2n_scores.pt`` (and ``el2n_scores.npy``) in its run folder.
The pruning run then reads it: ``python -m sample_importance.train sampler=uniform
dataset.prune_scores_file=PATH``.

The file records what the scores cost in training iterations: ``extra_iterations`` is one
model's E * T_e (the paper's count: the k models can train in parallel) and
``extra_iterations_all_models`` the sum over the k models.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, open_dict

from sample_importance import config_checks
from sample_importance.atomic import replaced_when_done, torch_save
from sample_importance.cli import CONFIG_DIR, check_command_line, exit_on_user_error, write_json

SCORES_FILE = "el2n_scores.pt"


def model_config(cfg: DictConfig, model: int, output_dir: Path) -> DictConfig:
    """The config of scoring model ``model``: its own seed and folder, ``el2n.epochs`` epochs."""
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.seed = int(cfg.seed) + model
        cfg.trainer.max_epochs = int(cfg.el2n.epochs)
        cfg.paths.output_dir = str(output_dir / f"model{model}")
        cfg.ckpt_path = None  # a model resumes only from its own folder (a requeued job)
    return cfg


def el2n(cfg: DictConfig) -> Path:
    config_checks.validate(cfg)
    models = config_checks.check_int_at_least("el2n.models", cfg.el2n.models, 1)
    epochs = config_checks.check_int_at_least("el2n.epochs", cfg.el2n.epochs, 1)
    from sample_importance import run_folder  # Lightning: imported once the settings are checked

    output_dir = Path(cfg.paths.output_dir)
    # One process per folder, as for training runs: a second one (a job started twice, a requeue
    # while the first still runs) would train into the same model folders and overwrite the scores.
    lock = run_folder.take_lock(output_dir)
    try:
        if lock is not None:  # the config it ran, written once the folder is ours (as for training runs)
            run_folder.write_hydra_files(cfg, output_dir)
        return train_and_score(cfg, models, epochs, output_dir)
    finally:
        if lock is not None:
            lock.release()


def train_and_score(cfg: DictConfig, models: int, epochs: int, output_dir: Path) -> Path:
    """Trains the k models (each resuming from its own folder's last checkpoint) and writes the scores."""
    import numpy as np
    import pytorch_lightning as pl
    import torch

    from sample_importance.sampler.method import scoring_pass
    from sample_importance.train import build

    total, labels, iterations, seconds = None, None, [], 0.0
    for model in range(models):
        model_cfg = model_config(cfg, model, output_dir)
        pl.seed_everything(model_cfg.seed, workers=True, verbose=False)
        datamodule, module, _, trainer, ckpt_path = build(model_cfg)
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        scored = scoring_pass(module, datamodule, "el2n")
        total = scored.hardness if total is None else total + scored.hardness
        labels = scored.label
        iterations.append(int(trainer.global_step))
        seconds += scored.seconds
    scores = total / models
    if trainer.is_global_zero:
        record = {
            "score": scores,
            "label": labels,
            "index": torch.arange(len(scores)),
            "models": models,
            "epochs": epochs,
            "seeds": [int(cfg.seed) + m for m in range(models)],
            "extra_iterations": max(iterations),
            "extra_iterations_all_models": sum(iterations),
        }
        output_dir.mkdir(parents=True, exist_ok=True)
        torch_save(record, output_dir / SCORES_FILE)
        with replaced_when_done(output_dir / "el2n_scores.npy") as temporary, open(temporary, "wb") as file:
            np.save(file, scores.numpy())
        write_json(
            output_dir / "el2n_summary.json",
            {
                "models": models,
                "epochs": epochs,
                "num_train": len(scores),
                "seeds": record["seeds"],
                "extra_iterations": record["extra_iterations"],
                "extra_iterations_all_models": record["extra_iterations_all_models"],
                "scoring_time_s": seconds,
            },
        )
        print(
            f"EL2N scores of {len(scores)} samples from {models} models x {epochs} epochs "
            f"({record['extra_iterations']} iterations per model): {output_dir / SCORES_FILE}\n"
            f"prune with: python -m sample_importance.train sampler=uniform "
            f"dataset.prune_scores_file={output_dir / SCORES_FILE}",
            flush=True,
        )
    return output_dir / SCORES_FILE


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="el2n")
def main(cfg: DictConfig) -> None:
    exit_on_user_error(el2n, cfg)


if __name__ == "__main__":
    check_command_line()
    main()
