"""Installing like any package: ranges that fit a user's environment, a wheel that runs anywhere."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import REPO

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
REQUIREMENTS = {canonicalize_name(r.name): r for r in map(Requirement, PYPROJECT["project"]["dependencies"])}


@pytest.mark.parametrize("name, newer", [("torch", ["2.20.0", "3.0"]), ("torchvision", ["0.40.0", "1.0"])])
def test_declared_ranges_admit_a_newer_torch_than_this_machines(name, newer):
    specifier = REQUIREMENTS[name].specifier
    installed = importlib.metadata.version(name).split("+")[0]
    assert specifier.contains(installed), (name, str(specifier), installed)
    for version in newer:
        assert specifier.contains(version), f"{name}{specifier} would replace a user's {name} {version}"


def declared(*extras: str) -> set[str]:
    """The distributions pyproject.toml declares: the dependencies and those of the named extras."""
    requirements = [*PYPROJECT["project"]["dependencies"]]
    for extra in extras:
        requirements += PYPROJECT["project"]["optional-dependencies"][extra]
    return {canonicalize_name(Requirement(r).name) for r in requirements}


# What each part of the repository may import: the package its dependencies only; the Optuna sweeper
# plugin also the `search` extra it is for; tests and benchmarks also the `dev` tools.
@pytest.mark.parametrize(
    "folder, extras",
    [
        ("src/sample_importance", ()),
        ("src/hydra_plugins", ("search",)),
        ("tests", ("dev", "search")),
        ("benchmarks", ("dev", "search")),
    ],
)
def test_every_third_party_import_is_declared(folder, extras):
    imported = set()
    for path in (REPO / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    ours = {"sample_importance", "hydra_plugins", "benchmarks", "__future__"}
    ours |= {path.stem for path in (REPO / "tests").glob("*.py")}  # the test helpers (pytest's pythonpath)
    third_party = sorted(imported - set(sys.stdlib_module_names) - ours)
    providers = importlib.metadata.packages_distributions()
    allowed = declared(*extras)
    undeclared = [
        module
        for module in third_party
        if not {canonicalize_name(d) for d in providers.get(module, [module])} & allowed
    ]
    assert not undeclared, f"{folder} imports what pyproject.toml does not declare: {undeclared}"


def test_hydra_finds_the_projects_sweeper_plugin_in_this_install():
    """Hydra finds plugins by listing the hydra_plugins namespace package's folders; an install that
    maps packages through an import hook instead of a path hides src/hydra_plugins from it."""
    from hydra.core.plugins import Plugins
    from hydra.plugins.sweeper import Sweeper

    names = {f"{c.__module__}.{c.__name__}" for c in Plugins.instance().discover(Sweeper)}
    assert "hydra_plugins.sample_importance_optuna.optuna_sweeper.OptunaSweeper" in names


def dependency_dirs() -> list[str]:
    """The folders this environment installed the package's dependencies (and pip) into."""
    names = [Requirement(r).name for r in PYPROJECT["project"]["dependencies"]] + ["pip"]
    return sorted({str(importlib.metadata.distribution(name).locate_file("")) for name in names})


@pytest.mark.slow
def test_wheel_in_a_fresh_environment_runs_from_any_folder_with_a_users_config_folder(tmp_path):
    # Build from a copy of what git tracks, with a developer's git-ignored local config beside it.
    source = tmp_path / "source"
    tracked = subprocess.run(
        ["git", "ls-files", "pyproject.toml", "setup.py", "README.md", "src", "configs"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in tracked:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    (source / "configs" / "local" / "default.yaml").write_text("# @package _global_\nseed: 99\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("sample_importance-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "sample_importance/configs/train.yaml" in names
    assert "sample_importance/configs/hydra/launcher/slurm.yaml" in names
    assert not [n for n in names if "/configs/local/" in n], (
        "a developer's local settings went into the wheel"
    )
    assert "hydra_plugins/sample_importance_optuna/optuna_sweeper.py" in names

    # A fresh environment that sees this one's dependencies (no network needed) but not the repository.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "dependencies.pth").write_text("\n".join(dependency_dirs()) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HYDRA_FULL_ERROR")}
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        env=env,
        capture_output=True,
        timeout=300,
    )

    # A user's own config folder: a dataset option the package does not have.
    user_configs = tmp_path / "my_configs"
    (user_configs / "dataset").mkdir(parents=True)
    (user_configs / "dataset" / "few_digits.yaml").write_text(
        "defaults:\n  - digits\n  - _self_\ntrain_samples_per_class: 30\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [
            python,
            "-m",
            "sample_importance.train",
            f"hydra.searchpath=[file://{user_configs}]",
            "dataset=few_digits",
            "schedule.max_epochs=1",
            "sampler.burn_in_epochs=0",
            "trainer.accelerator=cpu",
            "trainer.enable_progress_bar=false",
            "paths.log_dir=logs",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (summary_file,) = elsewhere.glob("logs/runs/*/*/summary.json")
    summary = json.loads(summary_file.read_text())
    assert summary["epochs"] == 1 and summary["dataset"] == "few_digits" and summary["num_train"] == 300
    assert summary["seed"] == 0  # the developer's local seed did not travel
    located = subprocess.run(
        [python, "-c", "import sample_importance.cli as c; print(c.__file__); print(c.CONFIG_DIR)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in located), located


def test_a_users_config_folder_adds_options_that_the_one_line_check_accepts(tmp_path):
    from sample_importance.cli import unknown_group_option

    (tmp_path / "dataset").mkdir()
    (tmp_path / "dataset" / "my_data.yaml").write_text("defaults:\n  - digits\n")
    assert "dataset=my_data: no such option" in unknown_group_option(["dataset=my_data"])
    for argv in (
        ["--config-dir", str(tmp_path), "dataset=my_data"],
        [f"hydra.searchpath=[file://{tmp_path}]", "dataset=digits,my_data"],
    ):
        assert unknown_group_option(argv) is None
        message = unknown_group_option([*argv, "dataset=nope"])
        assert "dataset=nope: no such option" in message and "my_data" in message and "digits" in message
