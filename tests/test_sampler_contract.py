"""The sampler contract (sampler/base.py): every sampler=... is a SamplerCallback, checks its own values
in one line before the run folder is touched, and neither the model nor train.py knows one by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, compose_config, run_training
from sample_importance.cli import CONFIG_DIR
from sample_importance.errors import ConfigError
from sample_importance.sampler.base import SamplerCallback

SAMPLERS = sorted(path.stem for path in Path(CONFIG_DIR, "sampler").glob("*.yaml"))


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_is_a_sampler_callback_with_the_contract(name, tmp_path):
    from sample_importance.train import sampler_callback

    overrides = [f"sampler={name}"]
    if name == "el2n_pruning":
        np.save(tmp_path / "scores.npy", np.arange(10.0))
        overrides.append(f"sampler.scores_file={tmp_path / 'scores.npy'}")
    sampler = sampler_callback(compose_config(overrides, tmp_path))
    assert isinstance(sampler, SamplerCallback) and sampler.name not in ("", SamplerCallback.name)
    assert sampler.sample_loss_weight is None or callable(sampler.sample_loss_weight)
    assert sampler.hparams().items() <= sampler.summary().items()
    sampler.load_state_dict(sampler.state_dict())  # a checkpoint written before training resumes


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["sampler.gamma=nan"], "sampler.gamma must be a finite number, got nan"),
        (["sampler.weight_floor=-1"], "sampler.weight_floor must be >= 0, got -1"),
        (
            ["sampler.burn_in_epochs=30", "schedule.max_epochs=30"],
            "sampler.burn_in_epochs must be in [0, 30)",
        ),
        (["sampler=spv", "sampler.epsilon=-1"], "sampler.epsilon must be >= 0, got -1"),
        (
            ["sampler.burn_in_epochs=auto", "sampler.auto_spearman_threshold=2"],
            "sampler.auto_spearman_threshold must be in [-1, 1], got 2",
        ),
    ],
)
def test_a_wrong_sampler_value_is_one_line_before_the_run_folder_is_touched(overrides, message, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(ConfigError) as error:
        run_training(overrides, run)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not any(run.iterdir())


def test_the_model_and_train_know_no_sampler_by_name():
    names = {
        "InfoBatch",
        "ImportanceSampling",
        "SpvSampling",
        "PrioritizedSampling",
        "UniformScan",
        "UniformReplacement",
        "PrunedScan",
        "UpdatingSampling",
        "infobatch",
        "prioritized",
        "spv",
    }
    for path in ("model/classifier.py", "train.py"):
        text = Path(REPO, "src", "sample_importance", path).read_text()
        assert not [name for name in names if name in text], path
        assert '"_target_"' not in text and "._target_ in" not in text  # no choice by a config's class path
