"""Files that several processes may try to create at the same moment."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def create_once(path: Path, write: Callable[[Path], None]) -> None:
    """Create `path` with what `write(temporary)` puts in a file beside it, unless `path`
    exists. Written aside and linked into place: when several processes start at once
    (granian workers, admin processes), exactly one wins and nobody reads a half-written
    file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.new")
    write(temporary)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
