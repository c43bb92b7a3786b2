"""The journal: each worker's raw hits, in a memory-mapped file, before their answer is sent.

A worker killed with SIGKILL loses its heap, and with it the hits waiting for the next
flush (up to `flush_interval_s` of answered requests). The pages of a shared file mapping
belong to the kernel's page cache, not to the process: what the worker wrote there stays
when it dies, and another process reads it from the file. (A crash of the machine itself
is another matter: nothing here calls msync.)

Layout: a 4 KiB header, then a ring of records. A record is a little-endian u64 word,
``sequence << 32 | length``, then `length` bytes: one raw hit as `tracer.hits` encodes it.
Word and bytes are written in one copy; a record cut short by a kill (its request was
never answered) either keeps an older lap's word, and ends the replay there, or fails to
decode, and is skipped. A word whose length is `WRAP` says "the next record is at the
start of the ring".

The header is written by the flusher only, never on the request path:

- `acked`: where the oldest record not yet in Redis (or the spool) starts, and its sequence;
- `flush`: while a flush is under way, its first batch sequence, where its records end
  (offset, sequence) and the shard its any-shard hits go to, so that a replay rebuilds
  exactly the batches the flush pushed, under the same (producer, sequence), and the
  queue's at-most-once script turns away those Redis had already applied;
- `next`: the batch sequence the next flush starts at; the producer id.

The live journal is held under an exclusive `flock`: a journal nobody holds is an orphan,
replayed by the next worker that starts or by a sibling (edge/recorder.py), exactly once.
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from tracer.files import lock_abandoned

logger = logging.getLogger(__name__)

MAGIC = b"TRJ1"
HEADER_BYTES = 4096
DEFAULT_JOURNAL_BYTES = 16 * 1024 * 1024
WRAP = 0xFFFFFFFF
_WORD = struct.Struct("<Q")
_HEADER = struct.Struct("<4s4xQQQQQqQ32s")
# Offsets of the header's u64 fields (after the magic and its padding).
_ACKED_OFFSET, _ACKED_SEQUENCE, _FLUSH_FIRST, _FLUSH_END, _FLUSH_END_SEQUENCE = 8, 16, 24, 32, 40
_FLUSH_ANY_SHARD, _NEXT_BATCH, _PRODUCER = 48, 56, 64


@dataclass(slots=True)
class FlushMark:
    """The flush under way when the writer died: the records before `end_sequence`."""

    first_batch: int
    end_sequence: int
    any_shard: int


@dataclass(slots=True)
class Unacknowledged:
    """What an orphaned journal holds that Redis may not have: records in order, with the
    flush that was under way (if any) and the batch sequence to continue from."""

    producer: str
    records: list[tuple[int, bytes]]
    flush: FlushMark | None
    next_batch: int
    # The shard the any-shard hits of the last flush went to.
    any_shard: int


class Journal:
    """The live journal of one worker (one writer: its event loop)."""

    def __init__(self, path: Path, size: int, producer: str) -> None:
        self.path = path
        self.size = size
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        os.ftruncate(self._fd, size)
        self._map = mmap.mmap(self._fd, size)
        _touch_every_page(self._map)
        self._map[:_PRODUCER] = _HEADER.pack(MAGIC, HEADER_BYTES, 1, 0, 0, 0, 0, 1, b"")[:_PRODUCER]
        self._map[_PRODUCER : _PRODUCER + 32] = producer.encode("ascii")[:32].ljust(32, b"\0")
        self._pack_into = _WORD.pack_into
        self._pack = _WORD.pack
        # Write position and the sequence of the next record; the ring's unacknowledged
        # part starts at `_head` (sequence `_head_sequence`).
        self.position = HEADER_BYTES
        self.sequence = 1
        self._head = HEADER_BYTES
        self._head_sequence = 1
        self.overflows = 0
        self._room_end = 0
        self._set_room()

    @classmethod
    def create(cls, directory: Path, producer: str, size: int = DEFAULT_JOURNAL_BYTES) -> Journal:
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory / f"edge-{producer}.journal", size, producer)

    # --- the request path -----------------------------------------------------------
    def append(self, record: bytes) -> bool:
        """Write one record; False (nothing written) when the ring has no room left for it
        before unacknowledged records (the flusher is far behind)."""
        position = self.position
        end = position + 8 + len(record)
        if end > self._room_end:
            return self._append_at_the_edge(record)
        # Word and bytes in one copy: a record cut short by a kill is one whose request was
        # never answered; a replay skips whatever does not decode.
        self._map[position:end] = (
            self._pack((self.sequence & 0xFFFFFFFF) << 32 | len(record)) + record
        )
        self.sequence += 1
        self.position = end
        return True

    def _append_at_the_edge(self, record: bytes) -> bool:
        """`append` where the record does not fit before the end of the ring or before
        the unacknowledged part: wrap to the start when that has room, else refuse."""
        length = len(record)
        if self.position >= self._head and HEADER_BYTES + 8 + length < self._head:
            self._pack_into(self._map, self.position, (self.sequence & 0xFFFFFFFF) << 32 | WRAP)
            self.sequence += 1
            self.position = HEADER_BYTES
            self._set_room()
            if self.position + 8 + length <= self._room_end:
                return self.append(record)
        self.overflows += 1
        return False

    def _set_room(self) -> None:
        # The last byte a record may end at: before the end of the ring (keeping room for a
        # wrap word) while the unacknowledged part does not wrap, else before its start.
        self._room_end = self.size - 8 if self.position >= self._head else self._head - 1

    # --- the flusher ------------------------------------------------------------------
    def begin_flush(self, first_batch: int, any_shard: int) -> tuple[int, int]:
        """Mark a flush of every record written so far; returns its end (offset, sequence)
        for `acknowledge`. The first batch sequence is written last: it makes the mark."""
        end = (self.position, self.sequence)
        mapping = self._map
        self._pack_into(mapping, _FLUSH_END, end[0])
        self._pack_into(mapping, _FLUSH_END_SEQUENCE, end[1])
        self._pack_into(mapping, _FLUSH_ANY_SHARD, any_shard)
        self._pack_into(mapping, _FLUSH_FIRST, first_batch)
        return end

    def acknowledge(self, end: tuple[int, int], next_batch: int) -> None:
        """The flush that ended at `end` is in Redis or the spool: move `acked` past it."""
        mapping = self._map
        self._pack_into(mapping, _NEXT_BATCH, next_batch)
        self._pack_into(mapping, _ACKED_SEQUENCE, end[1])
        self._pack_into(mapping, _ACKED_OFFSET, end[0])
        self._pack_into(mapping, _FLUSH_FIRST, 0)
        self._head, self._head_sequence = end
        self._set_room()

    def remove(self) -> None:
        """Every record is acknowledged (a clean shutdown): the file goes."""
        self.path.unlink(missing_ok=True)
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            self._map.close()
            os.close(self._fd)  # releases the lock
            self._fd = -1


class OrphanJournal:
    """A journal whose writer is gone, locked by the process that replays it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @classmethod
    def adopt(cls, path: Path) -> OrphanJournal | None:
        fd = lock_abandoned(path, os.O_RDONLY)
        return cls(path, fd) if fd is not None else None

    def read(self) -> Unacknowledged | None:
        """The records not acknowledged; None for a file that is not a journal."""
        data = Path(self.path).read_bytes()
        if len(data) < HEADER_BYTES or data[:4] != MAGIC:
            return None
        (_, head, head_sequence, first_batch, _end, end_sequence, any_shard, next_batch,
         producer) = _HEADER.unpack_from(data)  # fmt: skip
        records = _walk(data, head, head_sequence)
        flush = FlushMark(first_batch, end_sequence, any_shard) if first_batch else None
        return Unacknowledged(
            producer.rstrip(b"\0").decode("ascii", "replace"), records, flush, next_batch,
            any_shard,
        )  # fmt: skip

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _walk(data: bytes, offset: int, sequence: int) -> list[tuple[int, bytes]]:
    """(sequence, record) from `offset` on, while each word holds the expected sequence."""
    records = []
    size = len(data)
    unpack = _WORD.unpack_from
    while HEADER_BYTES <= offset <= size - 8:
        (word,) = unpack(data, offset)
        if word >> 32 != sequence & 0xFFFFFFFF:
            break
        length = word & 0xFFFFFFFF
        sequence += 1
        if length == WRAP:
            offset = HEADER_BYTES
            continue
        end = offset + 8 + length
        if end > size:
            logger.error("journal record at byte %d runs past the end of the file", offset)
            break
        records.append((sequence - 1, data[offset + 8 : end]))
        offset = end
    return records


def orphaned_journals(directory: Path, own: Path | None) -> list[OrphanJournal]:
    """Journal files in `directory` whose writers are gone, locked for the caller."""
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*.journal")):
        if own is not None and path == own:
            continue
        journal = OrphanJournal.adopt(path)
        if journal is not None:
            found.append(journal)
    return found


def _touch_every_page(ring: mmap.mmap) -> None:
    """Fault every page of a new ring in now, at start-up: the request path then never
    takes a page fault to grow it, and the worker's memory is what it will stay (a ring
    that filled page by page looked like a leak over a long run)."""
    page = mmap.PAGESIZE
    for offset in range(0, len(ring), page):
        ring[offset] = 0
