"""``python -m sample_importance.score ckpt_path=PATH [overrides]``: weights from any checkpoint.

Loads the network from a training checkpoint, scores every training sample (eval mode,
un-augmented, on a GPU when there is one) and writes ``sample_weights.pt`` with
``sampler.gamma`` into its own run folder. The weights of one model can then drive the
training of another (the paper's Appendix B).
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

from sample_importance import config_checks
from sample_importance.cli import CONFIG_DIR, check_command_line, exit_on_user_error
from sample_importance.errors import ConfigError


def score(cfg: DictConfig) -> Path:
    config_checks.validate(cfg)
    if "gamma" not in cfg.sampler:
        raise ConfigError("sampler has no gamma: score with sampler=importance (and sampler.gamma=...)")
    import torch

    from sample_importance.run_record import check_checkpoint
    from sample_importance.sampler.method import importance_weights, save_sample_weights, scoring_pass
    from sample_importance.torch_files import read_torch_file
    from sample_importance.train import build_classifier, sampler_callback

    method = sampler_callback(cfg)  # checks gamma and weight_floor

    check_checkpoint(cfg.ckpt_path)
    checkpoint = read_torch_file(cfg.ckpt_path, f"ckpt_path={cfg.ckpt_path}")
    datamodule = instantiate(cfg.dataset)
    datamodule.setup("fit")
    module = build_classifier(cfg, datamodule)
    module.check_fits(checkpoint["state_dict"], f"ckpt_path={cfg.ckpt_path}")
    module.load_state_dict(checkpoint["state_dict"])
    module.to("cuda" if torch.cuda.is_available() else "cpu")
    scores = scoring_pass(module, datamodule)
    weights, fallback = importance_weights(scores.p_true, method.gamma, method.weight_floor)
    output = Path(cfg.paths.output_dir) / "sample_weights.pt"
    epochs_done = int(checkpoint.get("epoch", -1)) + 1
    save_sample_weights(
        output,
        epochs_done,
        method.gamma,
        scores,
        weights,
        fallback=fallback,
        checkpoint=str(Path(cfg.ckpt_path).resolve()),
    )
    print(f"scored {len(weights)} samples in {scores.seconds:.2f} s: {output}", flush=True)
    return output


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="score")
def main(cfg: DictConfig) -> None:
    exit_on_user_error(score, cfg)


if __name__ == "__main__":
    check_command_line()
    main()
