"""The spool: an append-only file that keeps event batches while Redis is unreachable.

Each frame is ``length (4 bytes) | crc32 (4 bytes) | msgpack(SpooledBatch)``. A frame cut
short by a crash, or damaged, ends the readable part of the file; everything before it is
replayed. A live spool file is held under an exclusive `flock`, so another process can tell
an abandoned spool (its writer died) from one in use and adopt it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import msgspec

from tracer.files import lock_abandoned

logger = logging.getLogger(__name__)

_FRAME_HEADER = struct.Struct(">II")
# A frame larger than this is damage, not a batch (batches are at most a few thousand events).
_MAX_FRAME_BYTES = 64 * 1024 * 1024


class SpooledBatch(msgspec.Struct, array_like=True):
    """A batch as the flusher meant to push it: same producer, sequence number and shard,
    so that replaying it twice is recognised by Redis and applied once."""

    producer: str
    sequence: int
    shard: int
    events: list[bytes]


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(SpooledBatch).decode


class SpoolFile:
    """One process's spool file, locked for as long as it is open."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd
        self.frames_written = 0
        # Set when reading met a damaged frame: the file is then kept for inspection.
        self.damaged = False

    @classmethod
    def create(cls, path: Path) -> SpoolFile:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return cls(path, fd)

    @classmethod
    def adopt(cls, path: Path) -> SpoolFile | None:
        """Lock `path` if nobody holds it (its writer is gone); None when it is in use."""
        fd = lock_abandoned(path, os.O_RDWR | os.O_APPEND)
        return cls(path, fd) if fd is not None else None

    def append(self, batch: SpooledBatch) -> None:
        payload = _encode(batch)
        # One write per frame: with O_APPEND a frame is never interleaved with another.
        os.write(self._fd, _FRAME_HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
        self.frames_written += 1

    def sync(self) -> None:
        os.fsync(self._fd)

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def batches(self) -> Iterator[SpooledBatch]:
        """Every intact frame, in the order written."""
        with open(self.path, "rb") as handle:
            while True:
                header = handle.read(_FRAME_HEADER.size)
                if len(header) < _FRAME_HEADER.size:
                    return
                length, checksum = _FRAME_HEADER.unpack(header)
                payload = handle.read(length) if length <= _MAX_FRAME_BYTES else b""
                if len(payload) != length or zlib.crc32(payload) != checksum:
                    self.damaged = bool(payload) or length > _MAX_FRAME_BYTES
                    logger.error(
                        "spool %s: damaged frame at byte %d, ignoring the rest of the file",
                        self.path,
                        handle.tell() - len(header) - len(payload),
                    )
                    return
                try:
                    yield _decode(payload)
                except msgspec.DecodeError:
                    logger.error("spool %s: undecodable frame skipped", self.path)

    def discard(self) -> None:
        """Remove the file (everything readable in it reached Redis) and release the lock.
        A damaged file is renamed `*.damaged` instead, for an operator to look at."""
        if self.damaged:
            self.path.rename(self.path.with_suffix(".damaged"))
        else:
            self.path.unlink(missing_ok=True)
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing releases the flock
            self._fd = -1


def orphaned_spools(directory: Path, own: Path | None) -> Iterator[SpoolFile]:
    """Spool files in `directory` whose writers are gone, locked for the caller."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.spool")):
        if own is not None and path == own:
            continue
        spool = SpoolFile.adopt(path)
        if spool is not None:
            yield spool
