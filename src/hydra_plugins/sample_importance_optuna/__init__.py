"""Hydra finds its plugins by scanning the ``hydra_plugins`` namespace package: this one is
``hydra/sweeper=optuna``."""
