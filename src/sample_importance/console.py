"""What the apps print: third-party messages a user cannot act on are left out.

Only the messages named here are dropped; every other warning and log line stays.
"""

from __future__ import annotations

import logging
import warnings

# Lightning (2.6) advertises its cloud services at INFO level when a Trainer is built and at the
# first checkpoint ("💡 Tip: ... litlogger / litmodels").
ADVERTISEMENT_PREFIX = "💡 Tip"


class DropAdvertisements(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(ADVERTISEMENT_PREFIX)


def quiet_third_party() -> None:
    """Idempotent; call before a Trainer is built."""
    logger = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    if not any(isinstance(f, DropAdvertisements) for f in logger.filters):
        logger.addFilter(DropAdvertisements())
    # On a machine with SLURM installed, Lightning warns on every local run that srun is unused.
    warnings.filterwarnings("ignore", message=r"The `srun` command is available")
    # Lightning's CombinedLoader builds torch pytree specs the way newer torch deprecates; it
    # happens inside Lightning for every loader (nothing in a run's config or code changes it).
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
