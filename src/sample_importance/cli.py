"""Shared plumbing of the command-line apps: config location, one-line errors, run summaries."""

from __future__ import annotations

import importlib.resources
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from hydra.errors import HydraException

from sample_importance import slurm
from sample_importance.errors import UserError


def find_config_dir() -> Path:
    """The app's configs: ``sample_importance/configs`` in an installed wheel, else the source tree's
    top-level ``configs/`` (a checkout or an editable install, which reads the repository's files)."""
    packaged = importlib.resources.files("sample_importance") / "configs"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "configs"


CONFIG_DIR = str(find_config_dir())
slurm.register_resolvers()  # before any config is composed


def searched_config_dirs(argv: list[str]) -> list[Path] | None:
    """The folders Hydra takes config options from for this command line, or None if unknown.

    The app's configs, ``--config-dir``/``-cd`` and the entries of ``hydra.searchpath=[...]``
    (``file://`` or plain paths, ``pkg://`` packages). None when the command line names a
    different primary config folder or a search path entry that is not a local folder.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    dirs = [Path(CONFIG_DIR)]
    for index, argument in enumerate(argv):
        option, _, inline = argument.partition("=")
        if option in ("--config-path", "-cp"):
            return None
        if option in ("--config-dir", "-cd"):
            value = inline or (argv[index + 1] if index + 1 < len(argv) else "")
            dirs.append(Path(value))
        elif option.lstrip("+~") == "hydra.searchpath" and inline:
            try:
                entries = OverridesParser.create().parse_override(argument).value()
            except HydraException:
                return None
            for entry in entries if isinstance(entries, list) else [entries]:
                scheme, sep, location = str(entry).rpartition("://")
                if not sep or scheme == "file":
                    dirs.append(Path(location))
                elif scheme == "pkg":
                    try:
                        dirs.append(Path(str(importlib.resources.files(location.replace("/", ".")))))
                    except (ImportError, TypeError):
                        return None
                else:
                    return None
    return dirs if all(d.is_dir() for d in dirs) else None


def unknown_group_option(argv: list[str], config_dirs: list[Path] | None = None) -> str | None:
    """A one-line message for ``group=option`` arguments naming an option that does not exist.

    Hydra reports these itself, over several lines; checking first keeps the promise that a
    wrong config value is one line. Sweeps (``a,b``) are checked value by value. Options are
    looked up in every folder of the search path (the app's configs and the user's own).
    """
    roots = searched_config_dirs(argv) if config_dirs is None else config_dirs
    if roots is None:
        return None  # a config folder we cannot list: Hydra reports unknown options itself
    for argument in argv:
        key, sep, value = argument.lstrip("+~").partition("=")
        if (
            not sep
            or "(" in value
            or "[" in value
            or "${" in value
            or not any((r / key).is_dir() for r in roots)
        ):
            continue
        for option in (v.strip() for v in value.split(",")):
            if option and option != "null" and not any((r / key / f"{option}.yaml").is_file() for r in roots):
                options = {
                    str(p.relative_to(r / key).with_suffix(""))
                    for r in roots
                    if (r / key).is_dir()
                    for p in (r / key).rglob("*.yaml")
                }
                options.update(registered_options(key))
                if option not in options:
                    return f"{key}={option}: no such option; {key} is one of: {', '.join(sorted(options))}"
    return None


def registered_options(group: str) -> list[str]:
    """Options Hydra and its plugins register in code for Hydra's own groups (hydra/launcher=basic,
    hydra/sweeper=basic, hydra/launcher=submitit_slurm); none for the app's groups."""
    if not group.startswith("hydra/"):
        return []
    from hydra.core.config_store import ConfigStore
    from hydra.core.plugins import Plugins

    Plugins.instance()  # imports the plugins, which register their configs
    try:
        return [name.removesuffix(".yaml") for name in ConfigStore.instance().list(group)]
    except Exception:  # no such group in the store
        return []


def unwritable_output(argv: list[str]) -> str | None:
    """A one-line message when the run folder the command line names cannot be created.

    Hydra makes the folder before any of our code runs and reports a failure there with a
    traceback. The folder is ``hydra.run.dir`` (``hydra.sweep.dir`` with ``-m``), else under
    ``paths.log_dir`` (default ``logs``); the check is on its nearest existing parent.
    """
    values = dict(argument.lstrip("+~").partition("=")[::2] for argument in argv if "=" in argument)
    multirun = "-m" in argv or "--multirun" in argv
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    if key not in values:
        key = "paths.log_dir"
    folder = values.get(key, "logs")
    if "${" in folder:
        return None
    parent = Path(folder).absolute()
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{key}={folder}: cannot create the run folder there ({parent} is a file, not a folder)"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{key}={folder}: cannot create the run folder there ({parent} is not writable)"
    return None


def check_command_line() -> None:
    """What every app's ``__main__`` does before Hydra starts: one-line errors for the command line."""
    message = unknown_group_option(sys.argv[1:]) or unwritable_output(sys.argv[1:])
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

    active = (
        "LOCAL_RANK" not in os.environ
        and HydraConfig.initialized()
        and HydraConfig.get().mode == RunMode.MULTIRUN
    )
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
