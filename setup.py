"""Build hook: the wheel carries the top-level ``configs/`` as ``sample_importance/configs``.

Everything else is declared in pyproject.toml. ``configs/local/`` (a user's git-ignored cluster
settings) never goes into a wheel. Editable installs are left alone: they read ``configs/`` in
place (``sample_importance.cli.find_config_dir``).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithConfigs(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        source = Path(__file__).resolve().parent / "configs"
        target = Path(self.build_lib) / "sample_importance" / "configs"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(
            source, target, ignore=lambda folder, names: ["local"] if Path(folder) == source else []
        )


setup(cmdclass={"build_py": BuildPyWithConfigs})
