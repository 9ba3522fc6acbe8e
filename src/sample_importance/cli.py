"""Shared plumbing of the command-line apps: config location, one-line errors, run summaries."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from hydra.errors import HydraException

from sample_importance.errors import UserError

# The package is installed in editable mode from the repository; configs/ sits at its top.
CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")


def unknown_group_option(argv: list[str], config_dir: str = CONFIG_DIR) -> str | None:
    """A one-line message for ``group=option`` arguments naming an option that does not exist.

    Hydra reports these itself, over several lines; checking first keeps the promise that a
    wrong config value is one line. Sweeps (``a,b``) are checked value by value.
    """
    root = Path(config_dir)
    for argument in argv:
        key, sep, value = argument.lstrip("+~").partition("=")
        if not sep or "(" in value or "[" in value or "${" in value or not (root / key).is_dir():
            continue
        for option in (v.strip() for v in value.split(",")):
            if option and option != "null" and not (root / key / f"{option}.yaml").is_file():
                options = sorted(str(p.relative_to(root / key).with_suffix("")) for p in (root / key).rglob("*.yaml"))
                return f"{key}={option}: no such option; {key} is one of: {', '.join(options)}"
    return None


def check_command_line(config_dir: str = CONFIG_DIR) -> None:
    message = unknown_group_option(sys.argv[1:], config_dir)
    if message:
        print(f"error: {message}", file=sys.stderr, flush=True)
        sys.exit(2)


def user_error_of(error: BaseException) -> UserError | None:
    """The UserError behind ``error`` (Hydra wraps errors raised while instantiating)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, UserError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def exit_on_user_error(function, *args):
    """Run ``function``; a user-fixable error becomes one line on stderr and exit code 2.

    ``HYDRA_FULL_ERROR=1`` keeps the traceback.
    """
    try:
        return function(*args)
    except (Exception, HydraException) as error:
        user_error = user_error_of(error)
        if user_error is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {user_error}", file=sys.stderr, flush=True)
        sys.exit(2)


def write_json(path: Path, record: dict) -> None:
    from sample_importance.atomic import write_text

    write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")


# Environment variables Lightning's DDP launcher sets in the rank-0 process and never unsets.
LIGHTNING_DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


@contextmanager
def ddp_multirun_job():
    """Let Lightning's DDP ranks of one Hydra multirun job share that job, and only that job.

    Lightning starts ranks 1.. by re-running ``sys.argv`` with ``hydra.run.dir`` set to the
    parent's ``run.dir``. In a multirun that re-launches the whole sweep into a second folder
    (Lightning issue 11300, Hydra issue 2070), and the variables it leaves behind (LOCAL_RANK...)
    make the next job of the sweep wait for ranks nobody starts. Inside this block, in the rank-0
    process of a multirun job, the command line is this job's own overrides and ``run.dir`` is
    this job's folder; afterwards the process group is closed and argv and environment restored.
    Single runs, and ranks started by SLURM or torchrun, are left as they are.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import read_write

    active = "LOCAL_RANK" not in os.environ and HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    if not active:
        yield
        return
    hydra_cfg = HydraConfig.get()
    saved_argv, saved_run_dir = sys.argv, hydra_cfg.run.dir
    saved_env = {name: os.environ.get(name) for name in LIGHTNING_DDP_ENV}
    sys.argv = [sys.argv[0], *hydra_cfg.overrides.task]
    with read_write(hydra_cfg):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir
    try:
        yield
    finally:
        import torch

        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        sys.argv = saved_argv
        with read_write(hydra_cfg):
            hydra_cfg.run.dir = saved_run_dir
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
