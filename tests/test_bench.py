"""Smoke tests of the benchmark code (tiny sizes; they check that it runs, not the numbers)."""

from __future__ import annotations

import math

import pytest

from benchmarks import data_path, framework, sampler_draws, scoring_cost
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
def test_framework_overhead_runs_the_cli_with_the_step_timer():
    result = framework.run_overhead(quick=True)
    assert not math.isnan(result["framework_steps_per_s"][0]) and result["plain_steps_per_s"][0] > 0
