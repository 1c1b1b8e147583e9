"""Writing files atomically, for the run cache (`icl_lib.training`) and the results files
(`icl_lib.results`): a reader (another chapter, another worker) sees the old file or the new one,
never a partial one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["atomic_write"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write `path` by calling `write` on a temporary file beside it, then renaming it over `path`.
    The file gets the permissions of a plain `open` (0666 less the umask, where `mkstemp` gives
    0600), so other users and workers can read a shared cache; the temporary file is removed if
    `write` fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
