"""Every experiment file (found by glob) composes, its sweep is valid, and it trains on tiny data.

A tiny run keeps the experiment's method, sampler settings and dataset kind, but swaps in the
digits counterpart of its dataset source (CIFAR -> digits, with the same imbalance or policy options,
ImageNet -> digits as PNG files, ...), LeNet, 1 batch of 16 per epoch and 2 epochs, with the
switch after epoch 1. Files an experiment reads (EL2N scores, weights of other runs) are
written with random values where it looks for them.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict

from conftest import run_cli
from sample_importance import config_checks
from sample_importance.cli import CONFIG_DIR

CONFIGS = Path(CONFIG_DIR)
EXPERIMENT_FILES = sorted((CONFIGS / "experiment").rglob("*.yaml"))
EXPERIMENTS = [
    path.relative_to(CONFIGS / "experiment").with_suffix("").as_posix() for path in EXPERIMENT_FILES
]
# presets that stand alone; those in subfolders (weights_from/) need their experiment's paper.* keys
METHODS = sorted(path.stem for path in (CONFIGS / "method").glob("*.yaml"))
SEEDS = [2020, 2021, 2022, 2023]

TINY = [
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
    "model=lenet",
    "schedule.max_epochs=2",
    "schedule.batch_size=16",
    "++trainer.limit_train_batches=1",
    "++trainer.limit_val_batches=1",
    "++trainer.limit_test_batches=1",
    "dataset.num_workers=0",
    "dataset.train_samples_per_class=6",
    "dataset.test_samples_per_class=2",
    "++paper.burn_in_epochs=1",
    "++paper.spv_burn_in_epochs=1",
]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # LeNet on 16 tiny images: a second thread only adds contention
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """One data folder for the module: the digits' PNG tree is written once."""
    return tmp_path_factory.mktemp("data")


def compose_train(overrides: list[str], tmp_path: Path, data_dir: Path | None = None):
    """The composed ``train`` config for ``overrides``, outputs (and data) under ``tmp_path``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[*overrides, f"paths.log_dir={tmp_path / 'logs'}"],
            return_hydra_config=True,
        )
    HydraConfig.instance().set_config(cfg)  # ${hydra:runtime.choices.*} resolves from here
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
        cfg.paths.data_dir = str(data_dir or tmp_path / "data")
    return cfg


def sweep_params(cfg) -> dict[str, list]:
    """``hydra.sweeper.params`` as typed value lists, parsed as Hydra's basic sweeper parses them."""
    params = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
    parser = OverridesParser.create()
    swept = {}
    for key, value in params.items():
        # The basic sweeper resolves ${...} in sweep values once, against the primary config,
        # before any job exists: ${seed} would be the default seed in every job. Interpolations
        # belong in config files (e.g. a method preset), where each job resolves them.
        assert "${" not in str(value), f"hydra.sweeper.params.{key} holds an interpolation: {value}"
        override = parser.parse_overrides([f"{key}={value}"])[0]
        swept[key] = list(override.sweep_iterator()) if override.is_sweep_override() else [override.value()]
    return swept


def tiny_dataset(choice: str, excludes_classes: bool = False) -> list[str]:
    """The digits counterpart of a dataset config; its options (imbalance, policies) stay the
    experiment's, except the classes left out: the digits have no 'dog', they go without '8'."""
    name = choice.replace("imagenet", "digits_imagefolder")
    name = re.sub(r"^(cifar100|cifar10|fashion_mnist)", "digits", name)
    without = ['dataset.exclude_classes=["8"]'] if excludes_classes else []
    if name == "digits_imbalanced":  # fashion_mnist_imbalanced: the fixed shifted copies
        return ["dataset=digits", "+dataset/imbalance=a5_shifted", *without]
    assert (CONFIGS / "dataset" / f"{name}.yaml").is_file(), f"no tiny counterpart for dataset {choice}"
    return [f"dataset={name}", *without]


def files_read(cfg) -> list[str]:
    """Files the run reads: EL2N scores (pruning), weights of other runs."""
    paths = []
    for key in ("dataset.prune_scores_file", "sampler.weights_file"):
        value = OmegaConf.select(cfg, key)
        if value is not None:
            paths += [str(value)] if isinstance(value, str) else [str(v) for v in value]
    return paths


def touch_files_read(cfg) -> None:
    """Placeholders where the sampler reads files (existence is all the config checks look at)."""
    for path in map(Path, files_read(cfg)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def run_tiny(overrides: list[str], tmp_path: Path, data_dir: Path) -> tuple[dict, object]:
    """Compose with the tiny overrides, write the files the sampler reads, train; (summary, cfg)."""
    from sample_importance.train import train

    cfg = compose_train([*overrides, *TINY], tmp_path, data_dir)
    burn_in = OmegaConf.select(cfg, "sampler.burn_in_epochs")
    if isinstance(burn_in, int) and burn_in >= 2:  # an explicit E (ours_e10): switch after epoch 1
        with open_dict(cfg):
            cfg.sampler.burn_in_epochs = 1
    needed = [Path(path) for path in files_read(cfg) if not Path(path).is_file()]
    if needed:
        # the full training set the files describe
        datamodule = instantiate(cfg.dataset, prune_scores_file=None)
        datamodule.setup("fit")
        for path in needed:
            path.parent.mkdir(parents=True, exist_ok=True)
            # shaped like el2n_scores.pt / sample_weights.pt: values with the labels that place them
            torch.save(
                {
                    "score": torch.rand(datamodule.num_train, dtype=torch.float64) + 0.01,
                    "label": datamodule.train_set.labels,
                },
                path,
            )
    Path(cfg.paths.output_dir).mkdir(parents=True, exist_ok=True)
    return train(cfg), cfg


PAPER_RESULTS = {name.split("/", 1)[1] for name in EXPERIMENTS if name.startswith("paper/")}


def is_paper_result(name: str) -> bool:
    """A paper result or its CPU counterpart (other experiment files, e.g. studies, may exist beside them)."""
    folder, _, result = name.partition("/")
    return folder in ("paper", "cpu") and result in PAPER_RESULTS


def test_every_paper_result_has_a_cpu_counterpart():
    cpu = {name.split("/", 1)[1] for name in EXPERIMENTS if name.startswith("cpu/")}
    assert PAPER_RESULTS and PAPER_RESULTS <= cpu
    paper = PAPER_RESULTS
    for result in (
        "table1_fig1_fig2",
        "fig03_class_weights",
        "fig04_imbalanced",
        "fig05_sgd_sci",
        "table2_fig6_multiaug",
        "fig08_burn_in_sensitivity",
        "fig10_gamma_sensitivity",
        "fig11_class_weights_e10",
        "fig12_weights_from_elsewhere",
        "appC_fig16_imagenet",
        "appC_fig17_imagenet_imbalanced",
        "appE_fig20_online_replacement",
        "appE_fig21_metrics",
        "fig07_focal_gamma",
        "appE_fig22_unbiased",
        "appE_fig23_el2n_proportional",
    ):
        assert result in paper


def check_sweep(cfg, name: str, tmp_path: Path) -> None:
    """Every value of ``hydra.sweeper.params`` exists and passes the checks a run makes."""
    swept = sweep_params(cfg)
    # the paper.*_by_* tables a value reads (a CPU file may set paper.burn_in_epochs over its twin's lookup)
    read = OmegaConf.to_yaml(cfg)
    if is_paper_result(name):
        assert swept.get("seed") == SEEDS, "every result is swept over the paper's 4 seeds"
    for key, values in swept.items():
        if (CONFIGS / key).is_dir():  # a config group: each option exists, lookups by it resolve
            for value in values:
                assert (CONFIGS / key / f"{value}.yaml").is_file(), f"{key}={value}: no such config"
                for table, entries in (OmegaConf.select(cfg, "paper") or {}).items():
                    if table.endswith(f"_by_{key}") and f"paper.{table}." in read:
                        assert value in entries, f"paper.{table} has no entry for {key}={value}"
                if "/" in str(value):  # a preset made for this experiment (method=weights_from/...)
                    variant = compose_train([f"experiment={name}", f"{key}={value}"], tmp_path)
                    touch_files_read(variant)
                    config_checks.validate(variant)
                    instantiate(variant.sampler).validate(variant.schedule.max_epochs)
            continue
        for value in values:  # a value: set it and check it the way a run would
            variant = cfg.copy()
            OmegaConf.update(variant, key, value, force_add=True)
            touch_files_read(variant)
            config_checks.validate(variant)
            instantiate(variant.sampler).validate(variant.schedule.max_epochs)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_sweeps_and_trains_on_tiny_data(name, tmp_path, data_dir):
    text = (CONFIGS / "experiment" / f"{name}.yaml").read_text()
    assert text.startswith("# @package _global_\n")
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    if is_paper_result(name):
        assert "Seeds:" in header and f"-m experiment={name}" in header
    if name.startswith("paper/"):
        assert "hydra/launcher=slurm" in header

    # as written: the real dataset, model and schedule (built, not loaded: no data needed)
    cfg = compose_train([f"experiment={name}"], tmp_path)
    if name.startswith(
        "paper/"
    ):  # the GPU preset: bf16, channels-last, data on the GPU where it is in memory
        assert cfg.hydra.runtime.choices.trainer == "gpu" and cfg.trainer.precision == "bf16-mixed"
        assert cfg.model.channels_last is True and cfg.dataset.on_device == "auto"
    touch_files_read(cfg)
    config_checks.validate(cfg)
    instantiate(cfg.sampler).validate(cfg.schedule.max_epochs)
    instantiate(cfg.loss)
    instantiate(cfg.dataset)
    check_sweep(cfg, name, tmp_path)

    # one tiny run of its default job on the digits counterpart of its dataset
    excludes_classes = bool(cfg.dataset.exclude_classes)
    tiny = tiny_dataset(cfg.hydra.runtime.choices.dataset, excludes_classes)
    summary, tiny_cfg = run_tiny([f"experiment={name}", *tiny], tmp_path / "tiny", data_dir)
    assert summary["total_steps"] == 2 and summary["experiment"] == name
    assert 0.0 <= summary["final_test_acc"] <= 1.0
    if OmegaConf.select(tiny_cfg, "dataset.imbalance"):
        assert len(summary["augmented_classes"]) == 2  # 20% of the digits' 10 classes
    if excludes_classes:
        assert summary["excluded_classes"] == ["8"] and len(summary["class_names"]) == 9


@pytest.mark.parametrize("method", METHODS)
def test_method_preset_trains_on_tiny_data(method, tmp_path, data_dir):
    scores = f"++paper.el2n_scores_file={tmp_path / 'el2n_scores.pt'}"  # el2n, el2n_proportional
    summary, _ = run_tiny(["dataset=digits", f"method={method}", scores], tmp_path, data_dir)
    assert summary["total_steps"] == 2


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in EXPERIMENTS if n.startswith("paper/")])
def test_every_job_of_the_sweep_composes(name, tmp_path):
    """The whole product, as ``-m`` would launch it (only composed and checked, not trained)."""
    swept = sweep_params(compose_train([f"experiment={name}"], tmp_path))
    keys = list(swept)
    for combination in itertools.product(*(swept[key] for key in keys)):
        job = [f"{key}={value}" for key, value in zip(keys, combination)]
        cfg = compose_train([f"experiment={name}", *job], tmp_path)
        touch_files_read(cfg)
        config_checks.validate(cfg)
        instantiate(cfg.sampler).validate(cfg.schedule.max_epochs)


@pytest.mark.slow
def test_a_cpu_sweep_runs_from_the_command_line(tmp_path):
    """``-m experiment=cpu/...`` launches the file's sweep: one run folder per job."""
    result = run_cli(
        [
            "-m",
            "sample_importance.train",
            "-m",
            "experiment=cpu/fig10_gamma_sensitivity",
            "dataset=digits",
            "seed=2020,2021",
            "schedule.max_epochs=2",
            "++trainer.limit_train_batches=2",
            "++trainer.limit_val_batches=1",
            "++trainer.limit_test_batches=1",
            "trainer.enable_progress_bar=false",
            f"paths.log_dir={tmp_path}",
            "hydra.sweep.dir=" + str(tmp_path / "sweep"),
        ],
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summaries = sorted((tmp_path / "sweep").glob("*/summary.json"))
    assert len(summaries) == 6 * 2  # 6 gammas from the file x the 2 seeds given on the command line
