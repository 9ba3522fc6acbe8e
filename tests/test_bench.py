"""Smoke tests of the benchmark code (tiny sizes; they check that it runs, not the numbers)."""

from __future__ import annotations

import pytest

from benchmarks import data_path, framework, free_scoring_accuracy, sampler_draws, scoring_cost
from benchmarks.run import table_rows


def test_sampler_draws_and_scoring_cost_and_data_path_run():
    draws = sampler_draws.run(quick=True)
    assert [row["n"] for row in draws["rows"]] == [10**4, 10**5]
    assert all(row["index_sampler_draws_per_s"] > 0 for row in draws["rows"])
    cost = scoring_cost.run(quick=True)
    row = cost["rows"][0]
    assert 0 < row["scoring_fraction_of_epoch"] < 10 and 0 < row["importance_vs_uniform_throughput"]
    data = data_path.run(quick=True)
    assert data["loader_vs_training"] > 0
    assert table_rows("scoring_cost", cost) and table_rows("sampler_draws", draws) and table_rows("data_path", data)


@pytest.mark.slow
def test_framework_overhead_and_knobs_run_the_cli_with_plain_steps_between():
    result = framework.run_overhead(quick=True)
    run = result["variants"]["configured"]
    assert not result["errors"] and len(run["epoch_ratios"]) == 1 and run["plain_steps_per_s"] > 0
    # one plain step after each framework step: as many timed steps of each arm
    # digits: 44 steps of 32 an epoch; epoch 1 is timed, its first step has no plain step before it
    assert run["steps"] == 43 and 0 < run["framework_vs_plain"] < 2
    knobs = framework.run_knobs(quick=True)
    assert not knobs["errors"] and knobs["vs_baseline"]["baseline"] == 1.0 and knobs["vs_baseline"]["channels_last"] > 0


@pytest.mark.slow
def test_free_scoring_accuracy_reads_every_job_of_its_multirun():
    result = free_scoring_accuracy.run(quick=True)
    assert result["error"] is None
    assert all(0 < acc[0] <= 1 for acc in result["final_test_acc"].values())


def test_study_table_shows_each_groups_speedups_per_seed():
    import importlib.util

    from conftest import REPO

    spec = importlib.util.spec_from_file_location("study_table", REPO / "scripts" / "study_table.py")
    study_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study_table)

    def speedup(mean, *seeds):
        return {"speedup": mean, "per_seed": [{"seed": i, "speedup": s} for i, s in enumerate(seeds)]}

    group = {"label": "importance burn_in_epochs=5 gamma=0.5 loss=cross_entropy", "max_mean_acc": 0.83041,
             "std_at_max": 0.0141, "max_mean_step": 1400, "final_acc_mean": 0.8304, "final_acc_std": 0.0141,
             "speedup": {"0": speedup(2.714, 1.727, None), "0.005": speedup(2.0, 2.0, 2.0), "0.01": speedup(None, None, 3.5)}}
    report = {"comparisons": [{"title": "fmnist", "A_b": 0.8191, "t_b": 1330, "groups": [group]}]}
    row = study_table.table(report).splitlines()[4]
    assert row == ("| method E=5, gamma 0.5 | 0.8304 ± 0.0141 (1400) | 0.8304 ± 0.0141 | **2.71x** (1.73x, —) "
                   "| **2.00x** (2.00x, 2.00x) | **—** (—, 3.50x) |")
