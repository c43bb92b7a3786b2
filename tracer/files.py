"""Files that several processes may try to create at the same moment, and files that only
the account Tracer runs as may read."""

from __future__ import annotations

import fcntl
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)


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


def lock_abandoned(path: Path, flags: int) -> int | None:
    """Open `path` (os.open `flags`) and take its exclusive lock without waiting: the
    descriptor, holding the lock; None when the file is gone or still locked by its
    writer. A file removed by another adopter between the caller's listing and the lock
    counts as gone."""
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if not path.exists():
        os.close(fd)
        return None
    return fd


# Data files hold IP prefixes, user agents, recipient hashes, suppressions and keys: only
# the account Tracer runs as may read them.
PRIVATE_DIRECTORY_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# Given to every Tracer process (`cli.main`): files and directories it creates, and those
# of the children it starts (granian workers, redis-server), are private from the start.
PRIVATE_UMASK = 0o077


def private_directory(path: Path) -> Path:
    """`path` as a directory only its owner can enter: created 0700 (with its parents)
    when missing, tightened to 0700 when group or others may use it."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIRECTORY_MODE)
    tighten(path, PRIVATE_DIRECTORY_MODE)
    return path


def private_file(path: Path) -> Path:
    """`path` as a file only its owner can read: created empty with 0600 when missing (so
    that it never exists with looser bits), tightened to 0600 otherwise."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        tighten(path, PRIVATE_FILE_MODE)
    return path


def tighten(path: Path, mode: int) -> bool:
    """Take away what group and others may do with `path` (ours, when it exists); True
    when its mode changed."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return False
    if not current & 0o077:
        return False
    try:
        os.chmod(path, mode)
    except PermissionError:
        logger.warning(
            "%s is open to other users (mode %04o) and not ours to change", path, current
        )
        return False
    logger.warning("%s was open to other users (mode %04o): now %04o", path, current, mode)
    return True


def open_to_others(path: Path) -> int:
    """The group and other permission bits of `path` (0: private)."""
    return stat.S_IMODE(path.stat().st_mode) & 0o077
