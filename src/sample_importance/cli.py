"""Shared plumbing of the command-line apps: config location, one-line errors, run summaries."""

from __future__ import annotations

import json
import os
import sys
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
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    temporary.replace(path)
