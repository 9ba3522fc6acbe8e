"""Files written whole or not at all.

A file is written under a temporary name in its own folder, flushed to disk, then renamed over
the real name (``os.replace``, atomic on POSIX filesystems). A failure part-way (a full disk, an
error in the serializer, a kill) leaves the previous file intact and no truncated file under
the real name; the temporary file is removed when Python gets the chance.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replaced_when_done(path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block ends without error it becomes ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of our own (not mkstemp): the file gets the usual permissions, not mkstemp's 0600.
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        yield temporary
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text(path, text: str) -> None:
    with replaced_when_done(path) as temporary:
        temporary.write_text(text)


def torch_save(record, path) -> None:
    import torch

    with replaced_when_done(path) as temporary:
        torch.save(record, temporary)
