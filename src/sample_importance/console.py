"""What the apps print: third-party messages a user cannot act on are left out.

Only the messages named here are dropped; every other warning and log line stays.
"""

from __future__ import annotations

import logging
import warnings

# Lightning (2.6) advertises its cloud services at INFO level when a Trainer is built and at the
# first checkpoint ("💡 Tip: ... litlogger / litmodels"), and says at every checkpoint it writes
# that it saves the full, resumable state (the only kind this project writes).
DROPPED_PREFIXES = {
    "pytorch_lightning.utilities.rank_zero": ("💡 Tip",),
    "pytorch_lightning.trainer.connectors.checkpoint_connector": ("`weights_only` was not set",),
}


class DropMessages(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


def quiet_third_party() -> None:
    """Idempotent; call before a Trainer is built."""
    for logger_name, prefixes in DROPPED_PREFIXES.items():
        logger = logging.getLogger(logger_name)
        if not any(isinstance(f, DropMessages) for f in logger.filters):
            logger.addFilter(DropMessages(prefixes))
    # On a machine with SLURM installed, Lightning warns on every local run that srun is unused.
    warnings.filterwarnings("ignore", message=r"The `srun` command is available")
    # Lightning's CombinedLoader builds torch pytree specs the way newer torch deprecates; it
    # happens inside Lightning for every loader (nothing in a run's config or code changes it).
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
