"""The sbatch script a multi-GPU SLURM launch writes: its size comes from one setting.

No cluster and no GPU: ``sbatch`` on PATH is a stand-in that keeps a copy of the script submitit
wrote and refuses the job, so the command line runs exactly as a user's would up to submission.
"""

from __future__ import annotations

import os
import re

import pytest
import yaml

from conftest import REPO, run_cli

FAKE_SBATCH = """#!/bin/sh
cp "$1" "$SBATCH_SCRIPT_COPY"
echo "sbatch: error: the test stops here" >&2
exit 1
"""


def launch_on_slurm(tmp_path, sbatch: str, overrides, **env):
    """``train -m hydra/launcher=slurm OVERRIDES`` with ``sbatch`` on PATH the given script."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(sbatch)
    (bin_dir / "sbatch").chmod(0o755)
    return run_cli(
        [
            "-m",
            "sample_importance.train",
            "-m",
            "hydra/launcher=slurm",
            *overrides,
            f"paths.log_dir={tmp_path / 'logs'}",
        ],
        cwd=REPO,
        timeout=120,
        env_extra={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **env},
    )


def sbatch_script(tmp_path, *overrides) -> tuple[dict[str, str], str]:
    """The ``#SBATCH`` options (and the whole script) of ``train -m hydra/launcher=slurm OVERRIDES``."""
    copy = tmp_path / "job.sh"
    result = launch_on_slurm(tmp_path, FAKE_SBATCH, overrides, SBATCH_SCRIPT_COPY=str(copy))
    assert copy.is_file(), result.stderr[-3000:]
    script = copy.read_text()
    return dict(re.findall(r"^#SBATCH --([\w-]+)=(.*)$", script, flags=re.M)), script


def job_trainer(tmp_path, *overrides) -> dict:
    """The trainer settings every task of that job runs with."""
    result = run_cli(
        [
            "-m",
            "sample_importance.train",
            "hydra/launcher=slurm",
            *overrides,
            "--cfg",
            "job",
            "--resolve",
            "-p",
            "trainer",
        ],
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return yaml.safe_load(result.stdout)


@pytest.mark.parametrize(
    "overrides, nodes, gpus",
    [
        (["trainer=ddp", "trainer.devices=4"], 1, 4),  # 1 node x 4 GPUs, sized by trainer.devices
        (
            ["trainer=ddp", "hydra.launcher.nodes=2", "hydra.launcher.gpus_per_node=8"],
            2,
            8,
        ),  # 2 x 8, by the launcher
        (["trainer=ddp", "hydra.launcher.nodes=2", "trainer.devices=8"], 2, 8),
    ],
)
def test_multi_gpu_job_asks_slurm_for_one_task_per_gpu_on_every_node(overrides, nodes, gpus, tmp_path):
    options, script = sbatch_script(tmp_path, *overrides)
    assert options["nodes"] == str(nodes)
    assert options["gpus-per-node"] == str(gpus)
    assert options["ntasks-per-node"] == str(gpus)
    assert not [value for value in options.values() if value.startswith("-")], options
    assert re.search(r"^srun .* -m submitit\.core\._submit ", script, flags=re.M)  # every task starts the job
    trainer = job_trainer(tmp_path, *overrides)
    assert trainer["num_nodes"] == nodes
    assert trainer["devices"] in (gpus, -1)  # -1: every GPU SLURM gave the node, which is `gpus`


def test_gpus_per_node_in_a_users_local_config_sizes_the_job(tmp_path):
    # The cluster's settings file, as the README shows it: OmegaConf evaluates the launcher's
    # derived value while it merges this file over it, and that must not stop the run.
    (tmp_path / "my_configs" / "local").mkdir(parents=True)
    (tmp_path / "my_configs" / "local" / "default.yaml").write_text(
        "# @package _global_\nhydra:\n  launcher:\n    partition: gpu\n    gpus_per_node: 4\n"
    )
    options, _ = sbatch_script(
        tmp_path, f"hydra.searchpath=[file://{tmp_path / 'my_configs'}]", "trainer=ddp"
    )
    assert (options["partition"], options["gpus-per-node"], options["ntasks-per-node"]) == ("gpu", "4", "4")


def test_cpu_ddp_job_has_one_task_per_process_and_no_gpus(tmp_path):
    options, _ = sbatch_script(tmp_path, "trainer=ddp_cpu", "hydra.launcher.cpus_per_task=1")
    assert options["ntasks-per-node"] == "2" and options["nodes"] == "1"
    assert "gpus-per-node" not in options


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        (["trainer=ddp"], ["trainer.devices=-1", "trainer.devices=4 or hydra.launcher.gpus_per_node=4"]),
        (
            ["trainer=ddp", "trainer.devices=4", "hydra.launcher.gpus_per_node=8"],
            ["gpus_per_node=8", "devices=4"],
        ),
        (["trainer=ddp_cpu", "trainer.devices=auto"], ["trainer.devices=auto", "count"]),
    ],
)
def test_job_size_that_cannot_be_resolved_is_refused_in_one_line_before_submitting(
    overrides, fragments, tmp_path
):
    # an sbatch that would fail the test if anything were submitted
    result = launch_on_slurm(tmp_path, "#!/bin/sh\necho submitted >&2\nexit 1\n", overrides)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("error: ") and all(fragment in lines[0] for fragment in fragments), lines[0]
