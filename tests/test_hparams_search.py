"""hparams_search=optuna from the command line: a real 3-trial search on the digits, read back from
the study stored in the sweep folder and the trials' own run folders."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import run_cli

SEARCH = [
    "-m",
    "sample_importance.train",
    "hparams_search=optuna",
    "dataset=digits",
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
]


def sweep_folder(tmp_path):
    (sweep,) = (tmp_path / "logs" / "multiruns").glob("*/*")
    return sweep


@pytest.mark.slow  # a subprocess run or more: keeps make test under 10 minutes
def test_optuna_search_maximises_the_best_test_accuracy(tmp_path):
    import optuna

    result = run_cli(
        SEARCH + ["schedule.max_epochs=3", "hydra.sweeper.n_trials=3", f"paths.log_dir={tmp_path / 'logs'}"],
        cwd=tmp_path,
        env_extra={"OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = sweep_folder(tmp_path)
    study = optuna.load_study(study_name="search", storage=f"sqlite:///{sweep / 'optuna.db'}")
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    trials = study.trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 3
    for trial in trials:  # job N is trial N: its settings and the accuracy it reached
        job = sweep / str(trial.number)
        summary = json.loads((job / "summary.json").read_text())
        assert trial.value == summary["best_test_acc"]
        settings = summary["sampler_settings"]
        assert settings["burn_in_epochs"] == trial.params["sampler.burn_in_epochs"] < 3
        assert settings["gamma"] == trial.params["sampler.gamma"] and 0 <= settings["gamma"] <= 2
        overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        assert f"schedule.lr={trial.params['schedule.lr']!r}" in overrides
        assert 0.01 <= trial.params["schedule.lr"] <= 0.2
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_value"] == max(t.value for t in trials) and results["completed"] == 3
    assert results["best_params"] == study.best_params


@pytest.mark.slow  # a subprocess run or more: keeps make test under 10 minutes
def test_a_failing_trial_is_recorded_and_the_search_goes_on(tmp_path):
    """A trial whose run stops with a one-line error (exit code 2; here every trial: E=5 is not
    below max_epochs=1) is a failed trial, and the next trial still runs."""
    import optuna

    result = run_cli(
        SEARCH
        + [
            "schedule.max_epochs=1",
            "hydra.sweeper.n_trials=2",
            "sampler.burn_in_epochs=5",
            f"paths.log_dir={tmp_path / 'logs'}",
        ],
        cwd=tmp_path,
        env_extra={"OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("error: sampler.burn_in_epochs must be in [0, 1)") == 2
    sweep = sweep_folder(tmp_path)
    study = optuna.load_study(study_name="search", storage=f"sqlite:///{sweep / 'optuna.db'}")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["completed"] == 0 and "best_value" not in results


def test_hydra_sweeper_options_include_hydras_own(tmp_path):
    """configs/hydra/sweeper/ holds only optuna; Hydra's registered basic sweeper stays selectable,
    and a misspelt one is still a one-line error naming both."""
    from sample_importance.cli import unknown_group_option

    assert unknown_group_option(["hparams_search=optuna", "hydra/sweeper=basic"]) is None
    assert unknown_group_option(["hydra/launcher=basic"]) is None
    assert (
        unknown_group_option(["hydra/sweeper=optunaa"])
        == "hydra/sweeper=optunaa: no such option; hydra/sweeper is one of: basic, optuna"
    )


@pytest.mark.slow  # a subprocess run or more: keeps make test under 10 minutes
def test_command_line_replaces_a_range_and_absent_settings_are_left_out(tmp_path):
    """SGD-Scan has no E and no gamma: the search is over the lr alone, in the command line's range."""
    import optuna

    result = run_cli(
        SEARCH[:2]
        + ["-m"]
        + SEARCH[2:]
        + [
            "method=sgd_scan",
            "schedule.lr=interval(0.02,0.03)",
            "schedule.max_epochs=1",
            "hydra.sweeper.n_trials=1",
            f"paths.log_dir={tmp_path / 'logs'}",
        ],
        cwd=tmp_path,
        env_extra={"OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "left out of the search: sampler.burn_in_epochs, sampler.gamma" in result.stdout + result.stderr
    sweep = sweep_folder(tmp_path)
    (trial,) = optuna.load_study(study_name="search", storage=f"sqlite:///{sweep / 'optuna.db'}").trials
    assert list(trial.params) == ["schedule.lr"] and 0.02 <= trial.params["schedule.lr"] <= 0.03
    assert json.loads((sweep / "0" / "summary.json").read_text())["sampler"] == "uniform"
