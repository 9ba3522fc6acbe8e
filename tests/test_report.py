"""The report on synthetic runs whose numbers are known by hand (curves, weights, a crash, a missing seed)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from conftest import run_cli
from sample_importance.errors import UserError
from sample_importance.report import analysis, metrics
from sample_importance.report.build import build_report, parse_baseline
from sample_importance.report.groups import make_comparison_sets, make_groups
from sample_importance.report.runs import find_run_folders, load_runs, resolve_interpolations

STEPS = [10, 20, 30, 40, 50]
# Seed offsets around each group's mean: seed 0 on it, seed 1 above, seed 2 below.
OFFSET = {0: 0.0, 1: 0.01, 2: -0.01}
BASELINE_MEAN = [0.50, 0.70, 0.80, 0.85, 0.84]  # A_b = 0.85, first at t_b = 40
METHOD_MEAN = [0.60, 0.845, 0.852, 0.86, 0.86]  # reaches 0.85 at 30, 0.845 at 20
GAMMA1_MEAN = [0.55, 0.75, 0.849, 0.851, 0.86]  # reaches 0.85 at 40, 0.845 at 30
CLASS_NAMES = ["zero", "one", "two"]
# Seconds per training iteration in the synthetic runs' event wall times (the method's scoring
# pass makes it slower per iteration).
SECONDS_PER_STEP = {"uniform": 1.0, "importance": 1.5}
# The groups' display names (the paper's notation).
SCAN, OURS05, OURS1 = "SGD-Scan", "ours (E=1, γ=0.5)", "ours (E=1, γ=1)"
LABELS = [0, 0, 1, 1, 2, 2]
# sample_weights.pt per seed (by sample index): class shares and rank correlations known by hand.
GAMMA05_WEIGHTS = {0: [1, 2, 3, 4, 5, 6], 1: [2, 1, 3, 4, 5, 6], 2: [6, 5, 4, 3, 2, 1]}
GAMMA1_WEIGHTS = {0: [1, 2, 3, 4, 5, 6], 1: [1, 2, 3, 4, 5, 6]}


def run_config(sampler: str, seed: int, settings: dict) -> dict:
    target = {
        "uniform": "sample_importance.sampler.uniform.UniformScan",
        "importance": "sample_importance.sampler.importance.ImportanceSampling",
    }[sampler]
    return {
        "seed": seed,
        "ckpt_path": None,
        "dataset": {
            "_target_": "not_installed.SyntheticDataModule",  # Fig. 18-19 fall back to logged grids
            "batch_size": "${schedule.batch_size}",
            "seed": "${seed}",
        },
        "model": {"_target_": "sample_importance.model.lenet.LeNet"},
        "sampler": {"_target_": target, **settings},
        "loss": {"_target_": "sample_importance.loss.cross_entropy.CrossEntropy"},
        "schedule": {
            "_target_": "sample_importance.schedule.sgd_multistep.SGDMultiStep",
            "max_epochs": 5,
            "batch_size": 2,
            "lr": 0.1,
            "lr_milestones_epochs": [3],
        },
        "trainer": {"max_epochs": "${schedule.max_epochs}", "enable_progress_bar": seed == 1},
        "paths": {"output_dir": "${hydra:runtime.output_dir}", "data_dir": "data"},
    }


def choices_of(sampler: str) -> dict:
    """The run's config group choices, as Hydra records them and summary.json repeats them."""
    return {
        "dataset": "synthetic",
        "model": "lenet",
        "sampler": sampler,
        "loss": "cross_entropy",
        "schedule": "tiny",
        "experiment": None,
    }


def write_hydra_files(folder: Path, sampler: str, seed: int, settings: dict) -> None:
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(run_config(sampler, seed, settings)))
    overrides = [f"sampler={sampler}", f"seed={seed}"] + [f"sampler.{k}={v}" for k, v in settings.items()]
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    choices = {**choices_of(sampler), "hydra/launcher": "basic"}
    (folder / ".hydra" / "hydra.yaml").write_text(
        yaml.safe_dump({"hydra": {"job": {"name": "train"}, "runtime": {"choices": choices}}})
    )


def write_run(
    folder: Path,
    sampler: str,
    seed: int,
    mean: list[float],
    settings: dict | None = None,
    finished: bool = True,
    epochs_logged: int = len(STEPS),
    weights: list[float] | None = None,
    extra_iterations: int | None = None,
    hydra: bool = True,
    grid_image: bool = False,
    seconds_per_step: float | None = None,
) -> Path:
    """A run folder as train.py and Hydra leave it; its evaluations are logged ``seconds_per_step`` x
    the iteration after the writer opened (default: the sampler's SECONDS_PER_STEP)."""
    from torch.utils.tensorboard import SummaryWriter

    settings = settings or {}
    folder.mkdir(parents=True)
    steps = STEPS[: len(mean)]
    accuracy = [round(m + OFFSET[seed], 10) for m in mean]
    rate = seconds_per_step if seconds_per_step is not None else SECONDS_PER_STEP[sampler]
    if hydra:
        write_hydra_files(folder, sampler, seed, settings)
    (folder / "train.log").write_text("[INFO] started\n")
    opened = time.time()  # the writer's first event follows within milliseconds
    with SummaryWriter(str(folder / "tensorboard")) as writer:
        for step, acc in list(zip(steps, accuracy))[:epochs_logged]:
            writer.add_scalar("test/acc", acc, step, walltime=opened + rate * step)
            writer.add_scalar("test/acc_augmented", acc + 0.05, step)
            writer.add_scalar("test/acc_other", acc - 0.05, step)
        if grid_image:
            writer.add_image("importance/easiest_top_hardest_bottom", torch.rand(3, 12, 30), 10)
    if weights is not None:
        index = torch.tensor([3, 0, 5, 1, 4, 2])  # stored out of order: the report sorts by index
        torch.save(
            {
                "epoch": 1,
                "gamma": settings.get("gamma", 0.5),
                "index": index,
                "label": torch.tensor(LABELS)[index],
                "p_true": torch.rand(6, dtype=torch.float64),
                "weight": torch.tensor(weights, dtype=torch.float64)[index],
            },
            folder / "sample_weights.pt",
        )
    if finished:
        sampler_settings = {**settings, "scoring_time_s": 0.25} if sampler == "importance" else {}
        if extra_iterations is not None:
            sampler_settings["extra_iterations"] = extra_iterations
        summary = {
            "best_test_acc": max(accuracy),
            "best_step": steps[int(np.argmax(accuracy))],
            "final_test_acc": accuracy[-1],
            "final_test": {
                "acc": accuracy[-1],
                "acc_augmented": accuracy[-1] + 0.05,
                "acc_other": accuracy[-1] - 0.05,
            },
            "test_acc_history": [[s, a] for s, a in zip(steps, accuracy)],
            "total_steps": steps[-1],
            "steps_per_epoch": 10,
            "epochs": 5,
            "seed": seed,
            **choices_of(sampler),
            "sampler_settings": sampler_settings,
            "num_train": 6,
            "augmented_classes": [1],
            "class_names": CLASS_NAMES,
            "world_size": 1,
            "wall_time_s": 10.0 + seed,
        }
        (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def write_ours(folder: Path, seed: int, mean: list[float], gamma: float, **options) -> Path:
    """A run of the method switching after epoch 1 (E=1) with the given gamma."""
    return write_run(folder, "importance", seed, mean, {"burn_in_epochs": 1, "gamma": gamma}, **options)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """uniform x 3 seeds, importance gamma=0.5 x 3 seeds, importance gamma=1 x 2 seeds + a crashed seed 2,
    and a job that failed before its first epoch."""
    root = tmp_path_factory.mktemp("sweep") / "multiruns" / "2026-01-01" / "00-00-00-000000"
    job = iter(range(100))
    for seed in (0, 1, 2):
        write_run(root / str(next(job)), "uniform", seed, BASELINE_MEAN)
    for seed in (0, 1, 2):
        write_ours(
            root / str(next(job)),
            seed,
            METHOD_MEAN,
            0.5,
            weights=GAMMA05_WEIGHTS[seed],
            extra_iterations=10,
            grid_image=seed == 0,
        )
    for seed in (0, 1):
        write_ours(root / str(next(job)), seed, GAMMA1_MEAN, 1, weights=GAMMA1_WEIGHTS[seed])
    write_ours(root / "crashed", 2, GAMMA1_MEAN, 1, finished=False, epochs_logged=2)
    failed = root / "failed"
    write_hydra_files(failed, "uniform", 3, {})
    (failed / "train.log").write_text("[ERROR] something went wrong\n")
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


@pytest.fixture(scope="module")
def report(sweep, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    report_file = build_report([str(sweep)], out=out, progress=False)
    return report_file, json.loads((out / "report.json").read_text())


def rows_by_label(section: dict) -> dict:
    return {row["label"]: row for row in section["groups"]}


def test_finds_runs_groups_by_config_minus_seed_and_picks_uniform_as_baseline(report):
    _, numbers = report
    assert numbers["runs"] == 10 and numbers["finished"] == 8
    (section,) = numbers["comparisons"]  # same data, model, schedule: one comparison set
    assert list(rows_by_label(section)) == [SCAN, OURS05, OURS1]
    assert section["baseline"] == SCAN
    assert rows_by_label(section)[SCAN]["baseline"]


def test_baseline_accuracy_and_iterations_match_hand_computed_values(report):
    _, numbers = report
    section = numbers["comparisons"][0]
    assert section["A_b"] == pytest.approx(0.85, abs=1e-12)
    assert section["t_b"] == 40
    uniform = rows_by_label(section)[SCAN]
    assert uniform["max_mean_step"] == 40
    assert uniform["std_at_max"] == pytest.approx(0.01, abs=1e-9)  # 0.85, 0.86, 0.84 with ddof=1
    assert uniform["final_acc_mean"] == pytest.approx(0.84)
    assert uniform["best_acc_per_seed"] == pytest.approx([0.85, 0.86, 0.84])


def test_speedups_match_hand_computed_values(report):
    _, numbers = report
    rows = rows_by_label(numbers["comparisons"][0])
    method = rows[OURS05]["speedup"]
    assert (method["0"]["t_n"], method["0.005"]["t_n"], method["0.01"]["t_n"]) == (30, 20, 20)
    assert method["0"]["speedup"] == pytest.approx(40 / 30)
    assert method["0.005"]["speedup"] == pytest.approx(2.0)
    # per seed: seed 0 on the mean, seed 1 above it, seed 2 below it
    assert [s["t_n"] for s in method["0"]["per_seed"]] == [30, 20, 40]
    assert [s["speedup"] for s in method["0"]["per_seed"]] == pytest.approx([40 / 30, 2.0, 1.0])
    gamma1 = rows[OURS1]["speedup"]  # seeds 0 and 1: the mean is GAMMA1_MEAN + 0.005
    assert (gamma1["0"]["t_n"], gamma1["0.01"]["t_n"]) == (30, 30)
    baseline = rows[SCAN]["speedup"]
    assert baseline["0"]["speedup"] == pytest.approx(1.0) and baseline["0.01"]["t_n"] == 40
    curve = rows[OURS05]["speedup_curve"]
    assert curve[0] == pytest.approx(40 / 30) and curve[-1] == pytest.approx(2.0)  # eps = 0 and 0.01


def comparisons_of(sweep: Path, baseline=None, baseline_folder=None):
    """The comparison sets as the report makes them, without drawing anything."""
    runs = load_runs(find_run_folders([str(sweep)]), progress=False)
    return make_comparison_sets(make_groups(runs), baseline, baseline_folder)


def test_extra_iterations_are_added_to_t_n_when_asked(sweep):
    (comparison,) = comparisons_of(sweep)
    numbers = analysis.comparison_numbers(comparison, count_extra=True)
    method = rows_by_label(numbers)[OURS05]["speedup"]
    assert method["0"]["speedup"] == pytest.approx(40 / (30 + 10))
    assert method["0.005"]["speedup"] == pytest.approx(40 / (20 + 10))
    assert method["0"]["per_seed"][2]["speedup"] == pytest.approx(40 / (40 + 10))


def test_missing_seed_and_crashed_and_failed_runs_are_listed(report, sweep):
    report_file, numbers = report
    gamma1 = rows_by_label(numbers["comparisons"][0])[OURS1]
    assert gamma1["seeds"] == [0, 1] and gamma1["missing_seeds"] == [2]
    assert gamma1["partial_runs"] == [str((sweep / "crashed").resolve())]
    unfinished = {Path(r["folder"]).name: r for r in numbers["unfinished_runs"]}
    assert unfinished["crashed"]["status"] == "partial" and unfinished["crashed"]["seed"] == 2
    assert "2 of 5 epochs logged" in unfinished["crashed"]["note"]
    assert unfinished["crashed"]["group"].endswith(OURS1)
    assert (
        unfinished["failed"]["status"] == "failed" and "something went wrong" in unfinished["failed"]["note"]
    )
    text = report_file.read_text()
    missing = text.split("## Missing and partial runs")[1]
    assert "crashed | partial | 2 |" in missing and "failed | failed | 3 |" in missing
    assert "ours (E=1, γ=1) lacks seed(s) 2" in missing


def test_markdown_table_has_one_row_per_group(report):
    report_file, _ = report
    text = report_file.read_text()
    table = text.split("### Maximum mean test accuracy (Table 1)")[1].split("\n\n")[1].splitlines()
    assert table[0].startswith("| group | seeds | max mean acc ± std |")
    assert table[2].startswith("| SGD-Scan (reference) | 0,1,2 | 0.8500 ± 0.0100 | 40 |")
    assert table[3].startswith("| ours (E=1, γ=0.5) | 0,1,2 | 0.8600 ± 0.0100 | 40 |")
    assert table[4].startswith("| ours (E=1, γ=1) | 0,1 (missing 2) | 0.8650 ± 0.0071 | 50 |")
    assert len(table) == 5
    speedups = text.split("### Speed-up t_b / t_n")[1]
    assert "| ours (E=1, γ=0.5) | 1.33x (t_n 30) | 2.00x (t_n 20) | 2.00x (t_n 20) |" in speedups
    assert "| ours (E=1, γ=0.5) | 2 | 1.00x |" in speedups  # seed 2 reaches A_b only at t_b
    costs = text.split("### Costs")[1]
    assert "| ours (E=1, γ=0.5) | 3 | 11.0 ± 1.0 | 50 ± 0 | 0.25 ± 0.00 | 10 ± 0 |" in costs


def test_class_importance_and_spearman_match_hand_computed_values(report):
    _, numbers = report
    (section,) = numbers["importance"]
    assert section["class_names"] == CLASS_NAMES and section["augmented_classes"] == [1]
    by_label = {g["label"].split(": ")[-1]: g for g in section["groups"]}
    gamma05 = by_label[OURS05]
    # seed 0: (1+2, 3+4, 5+6) / 21; seed 1 the same sums; seed 2: (6+5, 4+3, 2+1) / 21
    assert np.array(gamma05["class_importance_per_seed"]) == pytest.approx(
        np.array([[3, 7, 11], [3, 7, 11], [11, 7, 3]]) / 21
    )
    assert gamma05["class_importance_mean"] == pytest.approx([17 / 63, 1 / 3, 25 / 63])
    # percentiles of (3, 3, 11)/21 at 16 and 84: positions 0.32 and 1.68 between sorted values
    assert gamma05["class_importance_p16"][0] == pytest.approx(3 / 21)
    assert gamma05["class_importance_p84"][0] == pytest.approx((3 + 0.68 * 8) / 21)
    # rho(s0, s1) = 1 - 6*2/(6*35); rho(s0, s2) = -1; rho(s1, s2) = -rho(s0, s1): mean -1/3
    assert gamma05["spearman_between_seeds"] == pytest.approx(-1 / 3)
    assert by_label[OURS1]["spearman_between_seeds"] == pytest.approx(1.0)
    # mean weights of gamma=0.5 rank as (2, 1, 3, 4, 5, 6); of gamma=1 as (1, ..., 6)
    between = np.array(section["spearman_between_groups"], dtype=float)
    assert between[0, 1] == pytest.approx(1 - 6 * 2 / (6 * 35)) and between[0, 0] == pytest.approx(1.0)
    assert section["mean_spearman_between_groups"] == pytest.approx(1 - 6 * 2 / (6 * 35))


def test_augmented_and_other_classes_are_split(report):
    _, numbers = report
    split = {g["label"]: g for g in numbers["comparisons"][0]["augmented_vs_other"]}
    assert split[SCAN]["acc_augmented"][0] == pytest.approx(0.89)
    assert split[SCAN]["acc_other"][0] == pytest.approx(0.79)


def test_every_figure_is_a_valid_png(report):
    report_file, numbers = report
    out = report_file.parent
    for prefix in (
        "fig1_accuracy_",
        "fig2_speedup_",
        "fig4_augmented_vs_other_",
        "fig3_class_importance_",
        "fig13_sorted_weights_",
        "fig8_10_sensitivity_sampler.gamma_",
        "fig8_10_summary_sampler.gamma_",
        "fig18_19_logged_",
    ):
        assert len(list(out.glob(f"{prefix}*.png"))) == 1, prefix
    for png in out.glob("*.png"):
        assert png.stat().st_size > 1000
        with Image.open(png) as image:
            image.verify()
            assert image.format == "PNG" and min(image.size) > 100
    text = report_file.read_text()
    for png in out.glob("*.png"):
        assert f"]({png.name})" in text  # every figure is shown in the report
    assert "training images not rebuilt" in text  # the synthetic dataset cannot be instantiated


def test_percentile_band_and_alignment():
    curves = metrics.align(
        [0, 1, 2],
        [
            (np.array([10, 20, 30]), np.array([0.5, 0.6, 0.7])),
            (np.array([10, 20, 30]), np.array([0.6, 0.7, 0.8])),
            (np.array([10, 20]), np.array([0.4, 0.5])),
        ],
    )
    assert curves.steps.tolist() == [10, 20] and curves.dropped_steps == 1
    low, high = curves.band()
    assert low == pytest.approx([0.4 + 0.32 * 0.1, 0.5 + 0.32 * 0.1])  # numpy's linear interpolation
    assert high == pytest.approx([0.5 + 0.68 * 0.1, 0.6 + 0.68 * 0.1])
    assert curves.mean == pytest.approx([0.5, 0.6])


def test_runs_logging_at_different_iterations_carry_their_latest_accuracy_forward():
    # InfoBatch's pruned epochs are shorter, so its seeds evaluate at different iterations.
    curves = metrics.align(
        [0, 1],
        [
            (np.array([10, 20, 30]), np.array([0.5, 0.6, 0.7])),
            (np.array([15, 25, 30]), np.array([0.4, 0.8, 0.9])),
        ],
    )
    assert curves.steps.tolist() == [15, 20, 25, 30]
    assert curves.acc.tolist() == [[0.5, 0.6, 0.6, 0.7], [0.4, 0.4, 0.8, 0.9]]
    assert (
        curves.dropped_steps == 1 and curves.carried_steps == 3
    )  # 10 before seed 1's first; 15, 20, 25 carried
    assert curves.mean == pytest.approx([0.45, 0.5, 0.7, 0.8])


def test_spearman_matches_scipy_with_ties():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 200).astype(float), rng.random(200)
    b[:50] = 0.5  # ties on both sides
    assert metrics.spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert metrics.average_ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]
    assert np.isnan(metrics.spearman(np.ones(5), np.arange(5)))


def test_spearman_of_identical_vectors_is_one_even_when_constant():
    """The one Spearman (report and burn_in_epochs=auto): identical weights agree exactly; a constant
    vector against different weights has no ranking to correlate."""
    assert metrics.spearman(np.ones(4), np.ones(4)) == 1.0  # gamma = 0: every weight 1, seeds agree
    assert metrics.spearman(np.array([3.0, 1.0, 2.0]), np.array([3.0, 1.0, 2.0])) == 1.0
    assert np.isnan(metrics.spearman(np.ones(4), 2 * np.ones(4)))
    assert np.isnan(metrics.spearman(np.arange(4.0), np.ones(4)))
    assert metrics.mean_pairwise_spearman([np.ones(3)] * 3) == 1.0


def test_eq3_edge_cases():
    steps = np.array([10, 20, 30])
    assert metrics.peak(steps, np.array([0.5, 0.7, 0.7])) == (0.7, 20)  # the first of equal maxima
    baseline = metrics.Baseline(acc=0.7, step=20)
    assert (
        metrics.iterations_to_reach(baseline, steps, np.array([0.1, 0.2, 0.9]), 0.0) is None
    )  # only t <= t_b
    assert np.isnan(metrics.speedup(baseline, None))
    assert metrics.iterations_to_reach(baseline, steps, np.array([0.69, 0.8, 0.9]), 0.01) == 10


def test_runs_without_hydra_folder_are_grouped_by_their_summary(tmp_path):
    for seed in (0, 1):
        write_run(tmp_path / "runs" / f"u{seed}", "uniform", seed, BASELINE_MEAN, hydra=False)
        write_run(
            tmp_path / "runs" / f"i{seed}", "importance", seed, METHOD_MEAN, {"gamma": 0.5}, hydra=False
        )
    build_report([str(tmp_path / "runs")], out=tmp_path / "out", with_images=False, progress=False)
    numbers = json.loads((tmp_path / "out" / "report.json").read_text())
    (section,) = numbers["comparisons"]
    assert section["baseline"] == SCAN
    assert [(r["label"], r["seeds"]) for r in section["groups"]] == [(SCAN, [0, 1]), ("ours (γ=0.5)", [0, 1])]


def test_sgd_scan_on_pruned_data_is_el2n_in_the_scan_runs_set(tmp_path):
    """EL2N is SGD-Scan on data pruned by a scores file (``dataset.prune_*``): named EL2N, compared with
    SGD-Scan, never its baseline; SGD-Scan runs made before the prune keys existed group with newer ones."""

    def with_dataset_keys(folder: Path, **keys) -> None:
        path = folder / ".hydra" / "config.yaml"
        config = yaml.safe_load(path.read_text())
        config["dataset"].update(keys)
        path.write_text(yaml.safe_dump(config))

    runs = tmp_path / "runs"
    write_run(runs / "scan_old", "uniform", 0, BASELINE_MEAN)
    with_dataset_keys(
        write_run(runs / "scan_new", "uniform", 1, BASELINE_MEAN), prune_scores_file=None, prune_fraction=None
    )
    with_dataset_keys(
        write_run(runs / "el2n", "uniform", 0, METHOD_MEAN),
        prune_scores_file="/scores/el2n_scores.pt",
        prune_fraction=0.3,
    )
    (comparison,) = comparisons_of(runs)
    assert {g.label: g.seeds for g in comparison.groups} == {SCAN: [0, 1], "EL2N (pruned=30%)": [0]}
    assert comparison.baseline.label == SCAN


def test_runs_from_before_dataset_options_group_with_newer_ones(tmp_path):
    """``dataset=cifar100_imbalanced_a5`` became ``dataset=cifar100`` with ``dataset/imbalance=a5_cifar``:
    the same settings under another choice name are one group."""
    runs = tmp_path / "runs"
    for seed, choice in ((0, "synthetic_imbalanced_a5"), (1, "synthetic")):
        hydra_file = write_run(runs / str(seed), "uniform", seed, BASELINE_MEAN) / ".hydra" / "hydra.yaml"
        hydra = yaml.safe_load(hydra_file.read_text())
        hydra["hydra"]["runtime"]["choices"]["dataset"] = choice
        hydra_file.write_text(yaml.safe_dump(hydra))
    (comparison,) = comparisons_of(runs)
    assert [g.seeds for g in comparison.groups] == [[0, 1]]


@pytest.mark.parametrize(
    "old_choice, source, excluded, name, plain_name",
    [
        ("digits9", "digits", "8", "digits without 8", "digits (8x8)"),
        ("fashion_mnist9", "fashion_mnist", "Shirt", "Fashion-MNIST, 9 classes", "Fashion-MNIST"),
    ],
)
def test_runs_from_before_exclude_classes_group_with_newer_ones(
    old_choice, source, excluded, name, plain_name, tmp_path
):
    """``dataset=digits9`` (a WithoutClasses source) became ``dataset=digits dataset.exclude_classes=["8"]``:
    old and new run folders are one group under the old name; the data with every class stays apart."""
    from omegaconf import OmegaConf

    from conftest import compose_config

    composed = compose_config(
        [f"dataset={source}", f'dataset.exclude_classes=["{excluded}"]'], tmp_path / "c"
    )
    new = OmegaConf.to_container(composed.dataset)  # as .hydra/config.yaml holds it, interpolations kept
    # the deleted digits9.yaml / fashion_mnist9.yaml: the source wrapped, no on_device key
    old = {key: value for key, value in new.items() if key not in ("exclude_classes", "on_device")}
    old["source"] = {
        "_target_": "sample_importance.dataset.class_subset.WithoutClasses",
        "source": new["source"],
        "exclude": [excluded],
    }
    runs = tmp_path / "runs"
    for seed, choice, dataset in (
        (0, old_choice, old),
        (1, source, new),
        (2, source, {**new, "exclude_classes": None}),
    ):
        hydra = write_run(runs / str(seed), "uniform", seed, BASELINE_MEAN) / ".hydra"
        config = yaml.safe_load((hydra / "config.yaml").read_text())
        config["dataset"] = dataset
        (hydra / "config.yaml").write_text(yaml.safe_dump(config))
        choices = yaml.safe_load((hydra / "hydra.yaml").read_text())
        choices["hydra"]["runtime"]["choices"]["dataset"] = choice
        (hydra / "hydra.yaml").write_text(yaml.safe_dump(choices))
    per_class = ", 500 per class" if source == "fashion_mnist" else ""
    assert {c.title: [g.seeds for g in c.groups] for c in comparisons_of(runs)} == {
        f"{name}{per_class}, LeNet": [[0, 1]],
        f"{plain_name}{per_class}, LeNet": [[2]],
    }


def with_paper_keys(folder: Path, paper: dict, choices: dict | None = None, **sampler) -> Path:
    """A run's config as an experiment that sets ``paper.*`` keys wrote it: ``sampler`` values replaced
    (by interpolations), ``paper`` added; ``choices`` replace Hydra's recorded choices."""
    path = folder / ".hydra" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["sampler"].update(sampler)
    config["paper"] = paper
    path.write_text(yaml.safe_dump(config))
    if choices is not None:
        hydra_file = folder / ".hydra" / "hydra.yaml"
        hydra = yaml.safe_load(hydra_file.read_text())
        hydra["hydra"]["runtime"]["choices"] = choices
        hydra_file.write_text(yaml.safe_dump(hydra))
    return folder


def test_runs_of_the_same_resolved_config_group_however_their_paper_keys_spell_it(tmp_path):
    """A CPU experiment that includes its paper twin keeps the twin's other ``paper.*`` keys, and its E
    may come through ``${oc.select:paper.burn_in_epochs,5}`` from a table per model chosen by
    ``${hydra:runtime.choices.model}``: runs group by what they ran (resolved, without ``paper.*``),
    and a run whose E resolves to another value is another group, named by its E."""
    runs = tmp_path / "runs"
    by_model = {
        "burn_in_by_model": {"lenet": 1, "resnet50": 10},
        "burn_in_epochs": "${paper.burn_in_by_model.${hydra:runtime.choices.model}}",
        "spv_burn_in_epochs": 1,
        "el2n_scores_file": "${paths.output_dir}/el2n/${hydra:runtime.choices.dataset}/el2n_scores.pt",
    }
    from_table = "${oc.select:paper.burn_in_epochs,5}"
    write_ours(runs / "written_out", 0, METHOD_MEAN, 0.5)  # E=1 in the sampler's own keys
    with_paper_keys(write_ours(runs / "twin", 1, METHOD_MEAN, 0.5), by_model, burn_in_epochs=from_table)
    e1 = {"burn_in_epochs": 1}
    with_paper_keys(write_ours(runs / "e1", 2, METHOD_MEAN, 0.5), e1, burn_in_epochs=from_table)
    e2 = {**by_model, "burn_in_by_model": {"lenet": 2}}
    with_paper_keys(write_ours(runs / "e2", 0, GAMMA1_MEAN, 0.5), e2, burn_in_epochs=from_table)
    # without Hydra's choices E cannot be resolved: its text and the paper.* keys it reads stay
    no_model = {k: v for k, v in choices_of("importance").items() if k != "model"}
    unknown = write_ours(runs / "e_unknown", 0, GAMMA1_MEAN, 0.5)
    with_paper_keys(unknown, by_model, no_model, burn_in_epochs=from_table)
    (comparison,) = comparisons_of(runs)
    groups = {g.label: g for g in comparison.groups}
    assert {label: g.seeds for label, g in groups.items()} == {
        OURS05: [0, 1, 2],
        "ours (E=2, γ=0.5)": [0],
        f"ours (E={from_table}, γ=0.5)": [0],
    }
    assert not any(key.startswith("paper") for key in groups[OURS05].settings)
    assert groups[f"ours (E={from_table}, γ=0.5)"].settings["paper.burn_in_by_model.resnet50"] == 10


def test_offline_resolution_keeps_seed_and_paths_as_text_and_never_guesses_runtime_values():
    """``paths`` and ``${seed}`` stay as their text inside resolved values (runs that differ only in
    them group); a value only Hydra's runtime knows keeps its text, and so does a key reading it, even
    through ``oc.select`` with a default; Hydra's recorded choices stand in for ``runtime.choices``."""
    config = {
        "seed": 3,
        "paths": {"log_dir": "/logs", "output_dir": "${hydra:runtime.output_dir}"},
        "paper": {
            "scores": "${paths.log_dir}/el2n/${hydra:runtime.choices.dataset}/scores.pt",
            "runs": "${paths.log_dir}/cpu",
            "out": "${paths.output_dir}",
            "job": "${hydra:job.name}",
        },
        "sampler": {
            "weights_file": "${oc.select:paper.scores,null}",
            "own": "${paper.runs}/lenet/seed${seed}/w.pt",
            "mean": ["${paper.runs}/a.pt", "${paper.runs}/b.pt"],
            "job": "${oc.select:paper.job,train}",
            "out": "${paper.out}/x",
        },
        "dataset": {"seed": "${seed}"},
    }
    from hydra.core.utils import setup_globals
    from omegaconf import OmegaConf

    # a process where Hydra's resolver answers (scripts/claims.py composes configs before it reads runs)
    had_resolver = OmegaConf.has_resolver("hydra")
    OmegaConf.register_new_resolver("hydra", lambda key: f"this process's {key}", replace=True)
    try:
        resolved = resolve_interpolations(yaml.safe_load(yaml.safe_dump(config)), {"dataset": "digits"})
    finally:
        OmegaConf.clear_resolver("hydra")
        if had_resolver:
            setup_globals()  # Hydra's own resolvers back
    assert resolved["sampler"] == {
        "weights_file": "${paths.log_dir}/el2n/digits/scores.pt",
        "own": "${paths.log_dir}/cpu/lenet/seed${seed}/w.pt",
        "mean": ["${paths.log_dir}/cpu/a.pt", "${paths.log_dir}/cpu/b.pt"],
        "job": "${oc.select:paper.job,train}",
        "out": "${paths.output_dir}/x",
    }
    assert resolved["seed"] == 3 and resolved["paths"] == config["paths"]
    assert resolved["dataset"]["seed"] == "${seed}"


def test_baseline_flag_picks_another_group(sweep):
    (comparison,) = comparisons_of(sweep, baseline=(("sampler", "importance"), ("sampler.gamma", "1")))
    assert comparison.baseline.label == OURS1
    baseline = metrics.Baseline.of(comparison.baseline.curves)
    assert (baseline.acc, baseline.step) == (pytest.approx(0.865), 50)
    (comparison,) = comparisons_of(sweep, baseline_folder=(sweep / "3").resolve())
    assert comparison.baseline.label == OURS05
    (comparison,) = comparisons_of(sweep, baseline=(("sampler", "importance"),))
    assert comparison.baseline is None and "2 groups match" in comparison.baseline_note
    assert parse_baseline(["sampler=uniform", "loss=focal"]) == (
        (("sampler", "uniform"), ("loss", "focal")),
        None,
    )
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_baseline(["nonsense"])


def test_nothing_to_report_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no training runs"):
        build_report([str(tmp_path)], progress=False)
    with pytest.raises(UserError, match="no such run folder"):
        build_report([str(tmp_path / "absent")], progress=False)


def test_command_line(sweep, tmp_path):
    result = run_cli(
        [
            "-m",
            "sample_importance.report",
            str(sweep / "*"),
            "--out",
            str(tmp_path / "out"),
            "--no-images",
            "--eps",
            "0,0.01",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"report: {tmp_path / 'out' / 'report.md'}"
    text = (tmp_path / "out" / "report.md").read_text()
    assert "| group | eps = 0 | eps = 0.01 |" in text
    result = run_cli(["-m", "sample_importance.report", str(tmp_path / "absent")], cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'absent'}: no such run folder"
    ]


# -- sweeps read together -----------------------------------------------------------------------
def set_written_at(folder: Path, seconds: float) -> None:
    """Date a run's summary.json (when it finished), as a run finished that long ago or ahead would."""
    summary = folder / "summary.json"
    os.utime(summary, (seconds, seconds))


def expected_row(folders: list[Path]) -> dict:
    """Table 1's numbers over these runs, from their summary.json: one value per seed."""
    summaries = [json.loads((f / "summary.json").read_text()) for f in folders]
    acc = np.array([[a for _, a in s["test_acc_history"]] for s in summaries])
    peak = int(np.argmax(acc.mean(0)))
    final = [s["final_test_acc"] for s in summaries]
    return {
        "seeds": [s["seed"] for s in summaries],
        "max_mean_acc": acc.mean(0)[peak],
        "std_at_max": acc[:, peak].std(ddof=1),
        "final_acc_mean": np.mean(final),
        "final_acc_std": np.std(final, ddof=1),
        "best_acc_per_seed": [s["best_test_acc"] for s in summaries],
    }


def test_a_seed_in_two_sweeps_counts_once_and_the_left_out_folder_is_named(tmp_path):
    """Two sweeps read together that share runs (SGD-Scan seed 1 copied bit for bit, ours seed 1 run
    again later, ours seed 0 crashed in the second): each group counts each seed once."""
    a, b = tmp_path.resolve() / "sweeps" / "a", tmp_path.resolve() / "sweeps" / "b"
    write_run(a / "0", "uniform", 0, BASELINE_MEAN)
    write_run(a / "1", "uniform", 1, BASELINE_MEAN)
    ours_0 = write_ours(a / "2", 0, METHOD_MEAN, 0.5)
    ours_1_old = write_ours(a / "3", 1, METHOD_MEAN, 0.5)
    shutil.copytree(a / "1", b / "0")  # copy2 keeps the times: the later folder (by name) counts
    write_run(b / "1", "uniform", 2, BASELINE_MEAN)
    ours_1_new = write_ours(b / "2", 1, GAMMA1_MEAN, 0.5)  # a rerun with other numbers
    crashed = write_ours(b / "3", 0, METHOD_MEAN, 0.5, finished=False, epochs_logged=2)
    now = time.time()
    set_written_at(ours_1_old, now - 3600)
    set_written_at(ours_1_new, now - 60)
    out = tmp_path / "out"
    result = run_cli(
        ["-m", "sample_importance.report", str(a), str(b), "--out", str(out), "--no-images"], cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    numbers = json.loads((out / "report.json").read_text())
    rows = rows_by_label(numbers["comparisons"][0])
    for label, counted in ((SCAN, [a / "0", b / "0", b / "1"]), (OURS05, [ours_0, ours_1_new])):
        expected = expected_row(counted)
        assert rows[label]["seeds"] == expected["seeds"]
        for key in ("max_mean_acc", "std_at_max", "final_acc_mean", "final_acc_std", "best_acc_per_seed"):
            assert rows[label][key] == pytest.approx(expected[key], abs=1e-12), (label, key)
    assert rows[SCAN]["std_at_max"] == pytest.approx(0.01)  # 0.85, 0.86, 0.84: seed 1 once
    assert rows[OURS05]["partial_runs"] == []  # the crashed copy of a finished seed is not "missing"
    duplicates = {entry["group"].split(": ")[-1]: entry["seeds"] for entry in numbers["duplicate_runs"]}
    assert duplicates == {
        SCAN: [
            {"seed": 1, "counted": str(b / "0"), "left_out": [{"folder": str(a / "1"), "status": "finished"}]}
        ],
        OURS05: [
            {"seed": 0, "counted": str(ours_0), "left_out": [{"folder": str(crashed), "status": "partial"}]},
            {
                "seed": 1,
                "counted": str(ours_1_new),
                "left_out": [{"folder": str(ours_1_old), "status": "finished"}],
            },
        ],
    }
    left_out = {str(a / "1"), str(crashed), str(ours_1_old)}
    assert not left_out & {r["folder"] for r in numbers["per_run"] + numbers["unfinished_runs"]}
    assert len(numbers["per_run"]) == 5 and numbers["unfinished_runs"] == []
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 2  # one line per group
    scan_note, ours_note = sorted(notes, key=lambda line: OURS05 in line)
    assert "seed 1 from sweeps/b/0, left out sweeps/a/1" in scan_note
    assert "seed 0 from sweeps/a/2, left out sweeps/b/3 (partial)" in ours_note
    assert "seed 1 from sweeps/b/2, left out sweeps/a/3" in ours_note
    text = (out / "report.md").read_text()
    assert "8 runs read from" in text and "7 finished; 3 runs left out as a second run of a seed" in text
    assert ": SGD-Scan | 1 | sweeps/b/0 | sweeps/a/1 |" in text.split("## Duplicate runs")[1]


# -- paper notation, headline, time, sensitivity, tables, degenerate input ------------------------
def test_display_names_follow_the_paper():
    from sample_importance.report import names

    assert names.method_name({"sampler": "uniform", "loss": "cross_entropy"}) == "SGD-Scan"
    assert names.method_name({"sampler": "uniform", "loss": "focal", "loss.gamma": 2.0}) == "focal loss (γ=2)"
    assert (
        names.method_name(
            {
                "sampler": "importance",
                "loss": "cross_entropy",
                "sampler.burn_in_epochs": 5,
                "sampler.gamma": 0.5,
                "sampler.score": "p_true",
                "sampler.weights_file": None,
                "sampler.weight_floor": 0.0,
                "sampler.unbiased": False,
            }
        )
        == "ours (E=5, γ=0.5)"
    )
    assert (
        names.method_name(
            {
                "sampler": "importance",
                "sampler.burn_in_epochs": 5,
                "sampler.gamma": 0.5,
                "sampler.score": "loss",
            }
        )
        == "ours (E=5, γ=0.5, score loss)"
    )
    assert (
        names.method_name({"sampler": "spv", "sampler.burn_in_epochs": 10, "sampler.epsilon": 0.2})
        == "SGD-SPV (E=10, ε=0.2)"
    )
    assert (
        names.method_name({"sampler": "el2n_pruning", "sampler.prune_fraction": 0.3}) == "EL2N (pruned=30%)"
    )
    assert (
        names.method_name(
            {"sampler": "uniform", "dataset.prune_scores_file": "s.pt", "dataset.prune_fraction": None}
        )
        == "EL2N"
    )  # null: the dataset's default
    assert (
        names.method_name({"sampler": "class_importance", "sampler.burn_in_epochs": 5, "sampler.gamma": 0.5})
        == "SGD-SCI (E=5, γ=0.5)"
    )
    assert names.method_name({"sampler": "something_new"}) is None  # the caller falls back to config keys
    assert (
        names.set_title(
            {
                "dataset": "fashion_mnist_imbalanced",
                "model": "lenet",
                "dataset.imbalance.class_fraction": 0.2,
                "dataset.imbalance.replication": 5,
            }
        )
        == "Fashion-MNIST, 2 of 10 classes x5, LeNet"
    )
    assert (
        names.set_title(
            {
                "dataset": "cifar100",
                "model": "resnet50",  # before: cifar100_imbalanced_a20
                "dataset.imbalance.class_fraction": 0.2,
                "dataset.imbalance.replication": 20,
            }
        )
        == "CIFAR-100, 20 of 100 classes x20, ResNet50"
    )
    assert (
        names.set_title(
            {
                "dataset": "cifar100_imbalanced_a20",
                "model": "resnet50",
                "dataset.imbalance.class_fraction": 0.2,
                "dataset.imbalance.replication": 20,
            }
        )
        == "CIFAR-100, 20 of 100 classes x20, ResNet50"
    )
    # classes left out (dataset.exclude_classes): the paper's CIFAR-9, or the classes named
    assert names.set_title(
        {"dataset": "cifar10", "model": "resnet18", "dataset.exclude_classes": ("dog",)}
    ) == ("CIFAR-9, ResNet18")
    assert (
        names.set_title(
            {
                "dataset": "cifar10",
                "model": "resnet18",
                "dataset.exclude_classes": ("cat", "dog"),
                "dataset.imbalance.class_fraction": 0.25,
                "dataset.imbalance.replication": 5,
            }
        )
        == "CIFAR-10 without cat, dog, 2 of 8 classes x5, ResNet18"
    )
    assert names.latex("ours (E=5, γ=0.5) 30% a_b") == r"ours (E=5, $\gamma$=0.5) 30\% a\_b"


def test_headline_names_the_best_group_and_says_when_seeds_are_too_few(report):
    report_file, numbers = report
    head = numbers["comparisons"][0]["headline"]
    # gamma=1's mean (seeds 0, 1) peaks at 0.865 > gamma=0.5's 0.86
    assert head["best"] == OURS1 and head["max_mean_acc"] == pytest.approx(0.865)
    assert head["accuracy_difference"] == pytest.approx(0.865 - 0.85)
    # eps 0.005: the mean reaches 0.845 at 30, and so does each seed: 40 / 30
    assert head["speedup"] == pytest.approx(40 / 30)
    assert head["speedup_seed_range"] == pytest.approx([40 / 30, 40 / 30]) and head["seeds_not_reached"] == 0
    assert head["test"]["test"] is None and head["test"]["n"] == 2  # two shared seeds: no test
    top = report_file.read_text().split("## Headlines")[1].split("\n## ")[0]
    assert f"best {OURS1}" in top and "1.33x in iterations" in top and "too few seeds (2" in top


def test_accuracy_test_is_a_paired_t_test_over_shared_seeds():
    from scipy import stats

    group = {"seeds": [0, 1, 2, 3], "best_acc_per_seed": [0.80, 0.82, 0.81, 0.83]}
    baseline = {
        "seeds": [3, 2, 1, 0],
        "best_acc_per_seed": [0.80, 0.82, 0.80, 0.79],
    }  # paired by seed, not order
    result = analysis.paired_or_welch(group, baseline)
    diffs = np.array([0.01, 0.02, -0.01, 0.03])
    half = stats.t.ppf(0.975, 3) * diffs.std(ddof=1) / 2
    assert result["test"].startswith("paired t-test") and result["n"] == 4
    assert result["mean_difference"] == pytest.approx(0.0125)
    assert result["ci95"] == pytest.approx([0.0125 - half, 0.0125 + half])
    assert result["exceeds_seed_noise"] is False  # the interval holds 0
    clear = analysis.paired_or_welch(
        {"seeds": [0, 1, 2], "best_acc_per_seed": [0.9, 0.91, 0.92]},
        {"seeds": [0, 1, 2], "best_acc_per_seed": [0.8, 0.8, 0.83]},
    )
    assert clear["exceeds_seed_noise"] is True and clear["ci95"][0] > 0
    welch = analysis.paired_or_welch(
        {"seeds": [0, 1, 2], "best_acc_per_seed": [0.9, 0.91, 0.92]},
        {"seeds": [5, 6, 7], "best_acc_per_seed": [0.8, 0.8, 0.83]},
    )
    assert welch["test"].startswith("Welch") and welch["p_value"] == pytest.approx(
        stats.ttest_ind([0.9, 0.91, 0.92], [0.8, 0.8, 0.83], equal_var=False).pvalue
    )
    few = analysis.paired_or_welch(
        {"seeds": [0], "best_acc_per_seed": [0.9]}, {"seeds": [0], "best_acc_per_seed": [0.8]}
    )
    assert few["test"] is None and few["exceeds_seed_noise"] is None


def test_time_and_samples_to_accuracy_beside_iterations(report):
    _, numbers = report
    section = numbers["comparisons"][0]
    # uniform logs 1 s per iteration, the method 1.5 s; batch size 2
    assert section["t_b_seconds"] == pytest.approx(40.0, abs=0.5) and section["t_b_samples"] == 80
    at = rows_by_label(section)[OURS05]["speedup"]["0.005"]
    assert at["t_n"] == 20 and at["samples"] == 40
    assert at["seconds"] == pytest.approx(30.0, abs=0.5)
    assert at["speedup"] == pytest.approx(2.0) and at["speedup_time"] == pytest.approx(40 / 30, rel=0.03)
    assert [s["seconds"] for s in at["per_seed"]] == pytest.approx(
        [30, 30, 60], abs=0.5
    )  # seed 2 reaches it at 40
    assert section["machines"] == ["host not recorded; device ?"]  # synthetic summaries record no machine


def test_switch_and_lr_decay_markers_come_from_the_config(report):
    _, numbers = report
    markers = numbers["comparisons"][0]["markers"]
    assert markers["lr_decays"] == [30]  # milestone epoch 3 x 10 iterations per epoch
    assert markers["switches"] == {OURS05: [10], OURS1: [10]}  # E = 1


def test_sensitivity_summary_has_best_accuracy_and_speedup_with_bands(report):
    report_file, numbers = report
    (item,) = numbers["comparisons"][0]["sensitivity"]
    assert item["key"] == "sampler.gamma"
    (panel,) = item["summary"]
    low, high = panel["points"]
    assert (low["value"], high["value"]) == (0.5, 1)
    # gamma 0.5: seeds at the peak iteration 40: 0.86, 0.87, 0.85; speed-ups per seed 2, 2, 1
    assert low["max_mean_acc"] == pytest.approx(0.86)
    assert (low["acc_p16"], low["acc_p84"]) == (
        pytest.approx(0.85 + 0.32 * 0.01),
        pytest.approx(0.86 + 0.68 * 0.01),
    )
    assert low["speedup"] == pytest.approx(2.0)
    assert (low["speedup_p16"], low["speedup_p84"]) == (pytest.approx(1.32), pytest.approx(2.0))
    # gamma 1: seeds 0 and 1 at 50: 0.86, 0.87; both reach 0.845 at 30
    assert (high["acc_p16"], high["acc_p84"]) == (pytest.approx(0.8616), pytest.approx(0.8684))
    assert high["speedup"] == pytest.approx(40 / 30) and high["seeds_not_reached"] == 0
    assert (report_file.parent / item["summary_figure"]).is_file()


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_tables_are_written_as_csv_and_latex_matching_report_json(report):
    report_file, numbers = report
    out = report_file.parent
    section = numbers["comparisons"][0]
    tables = section["tables"]
    accuracy = read_csv(out / tables["accuracy"]["csv"])
    assert [r["group"] for r in accuracy] == [g["label"] for g in section["groups"]]
    for row, group in zip(accuracy, section["groups"]):
        assert float(row["max mean acc"]) == group["max_mean_acc"]
        assert int(row["at iteration"]) == group["max_mean_step"] and int(row["seeds"]) == len(group["seeds"])
        assert float(row["std"]) == group["std_at_max"]
    speed = read_csv(out / tables["speedup"]["csv"])
    by_key = {(r["group"], r["eps"]): r for r in speed}
    assert by_key[(SCAN, "0")]["role"] == "reference" and by_key[(SCAN, "0")]["speed-up"] == ""
    for group in section["groups"][1:]:
        for eps in section["eps_table"]:
            row, at = by_key[(group["label"], eps)], group["speedup"][eps]
            assert row["iterations"] == str(at["t_n"]) and float(row["speed-up"]) == at["speedup"]
            assert float(row["seconds"]) == at["seconds"] and int(row["samples"]) == at["samples"]
    sensitivity = read_csv(out / section["sensitivity"][0]["table"]["csv"])
    assert [float(r["speed-up p16"]) for r in sensitivity] == [
        p["speedup_p16"] for p in section["sensitivity"][0]["summary"][0]["points"]
    ]
    classes = read_csv(out / numbers["importance"][0]["tables"]["class_importance"]["csv"])
    first = numbers["importance"][0]["groups"][0]
    assert [float(r["share"]) for r in classes[:3]] == first["class_importance_mean"]
    every = [tables[k] for k in tables] + [
        section["sensitivity"][0]["table"],
        numbers["importance"][0]["tables"]["class_importance"],
    ]
    for entry in every:
        tex = (out / entry["tex"]).read_text()
        body = tex.split("\\midrule\n")[1].split("\\bottomrule")[0].strip().splitlines()
        assert "\\toprule" in tex and len(body) == len(read_csv(out / entry["csv"]))
        assert all(line.endswith("\\\\") and line.count("&") == len(entry["columns"]) - 1 for line in body)
    assert "ours (E=1, $\\gamma$=0.5)" in (out / tables["accuracy"]["tex"]).read_text()
    assert (
        f"([CSV]({tables['accuracy']['csv']}), [LaTeX]({tables['accuracy']['tex']}))"
        in report_file.read_text()
    )


def test_figures_18_19_are_drawn_once_for_groups_that_rank_samples_alike(tmp_path):
    root = tmp_path / "sweep"
    for seed in (0, 1):
        write_run(root / f"u{seed}", "uniform", seed, BASELINE_MEAN)
        for gamma, power in ((0.5, 1), (1, 2)):  # w and w**2: the same order of the samples
            write_ours(
                root / f"g{gamma}_{seed}",
                seed,
                METHOD_MEAN,
                gamma,
                weights=[w**power for w in GAMMA05_WEIGHTS[seed]],
                grid_image=True,
            )
    report_file = build_report([str(root)], out=tmp_path / "out", progress=False)
    numbers = json.loads((tmp_path / "out" / "report.json").read_text())
    (entry,) = numbers["importance"][0]["images"]
    assert entry["groups"] == [OURS05, OURS1]
    assert len(list((tmp_path / "out").glob("fig18_19_logged_*.png"))) == 1
    assert f"{OURS05}, {OURS1}: the same ranking" in report_file.read_text()


def test_one_run_one_group_reads_plainly(tmp_path):
    write_run(tmp_path / "only", "uniform", 0, BASELINE_MEAN)
    report_file = build_report([str(tmp_path / "only")], out=tmp_path / "out", progress=False)
    text = report_file.read_text()
    assert text.startswith("# Report\n\n1 run read from")
    assert "± 0.0000" not in text and "| SGD-Scan (reference) | 0 | 0.8500 | 40 | 0.8400 |" in text
    assert "one group only (SGD-Scan); nothing to compare" in text
    numbers = json.loads((tmp_path / "out" / "report.json").read_text())
    assert numbers["comparisons"][0]["headline"]["best"] is None
    assert read_csv(tmp_path / "out" / numbers["comparisons"][0]["tables"]["accuracy"]["csv"])[0]["std"] == ""
    assert (
        "### Speed-up" not in text and "speedup" not in numbers["comparisons"][0]["figures"]
    )  # nothing to compare
    assert "(one seed: no band)" in text


def test_groups_of_different_lengths_and_one_seed(tmp_path):
    write_run(tmp_path / "runs" / "u0", "uniform", 0, BASELINE_MEAN)
    write_ours(tmp_path / "runs" / "i0", 0, METHOD_MEAN[:3], 0.5)
    report_file = build_report(
        [str(tmp_path / "runs")], out=tmp_path / "out", with_images=False, progress=False
    )
    numbers = json.loads((tmp_path / "out" / "report.json").read_text())
    section = numbers["comparisons"][0]
    method = rows_by_label(section)[OURS05]
    assert method["max_mean_step"] == 30 and method["speedup"]["0"]["t_n"] == 30  # 0.852 >= A_b = 0.85
    head = section["headline"]
    assert head["best"] == OURS05 and head["test"]["test"] is None and head["test"]["n"] == 1
    text = report_file.read_text()
    assert "too few seeds (1" in text and "± 0.0000" not in text
    for png in (tmp_path / "out").glob("*.png"):
        with Image.open(png) as image:
            image.verify()


def test_sensitivity_panels_are_named_by_the_settings_that_tell_them_apart():
    from types import SimpleNamespace

    from sample_importance.report.analysis import sensitivity_panels

    def group(burn_in, gamma, source="eval_pass"):
        settings = {
            "sampler": "importance",
            "sampler.burn_in_epochs": burn_in,
            "sampler.gamma": gamma,
            "sampler.score_source": source,
        }
        return SimpleNamespace(runs=[object()], is_baseline=False, settings=settings)

    groups = [group(e, g) for e in (1, 3) for g in (0.1, 0.5)] + [group(5, 0.5, "train_forward")]
    panels = dict(sensitivity_panels(SimpleNamespace(groups=groups)))
    # score_source is the same in every gamma panel: only E names them, in the paper's notation
    assert [name for name, _ in panels["sampler.gamma"]] == ["E=1", "E=3"]
    assert [name for name, _ in panels["sampler.burn_in_epochs"]] == ["γ=0.1", "γ=0.5"]
