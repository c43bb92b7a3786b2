"""The embedded event store: one SQLite file in WAL mode (the default when `MONGODB_URL`
is unset), so `just run` needs no database server.

A batch is one `BEGIN IMMEDIATE` transaction: `INSERT OR IGNORE` of the events, then, in
SQL over just the rows that were new (their `seq` is above the largest one before the
insert), conversion attribution, rollups with unique counts, and suppressions. One
transaction makes the write exactly-once: a batch written again inserts no row, so it
counts nothing again.

sqlite3 is blocking, so every call runs on one dedicated thread (a connection belongs to
the thread that made it). sqlite3 releases the GIL while SQLite works, so the batcher's
event loop keeps heartbeating and reading Redis during a long write or a lock wait.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from tracer import events as event_codec
from tracer.brands import Brands
from tracer.events import Event
from tracer.store.base import (
    BrandStats,
    CompactionReport,
    EventStore,
    RollupRow,
    StoreUnavailable,
    Suppression,
    TypeStats,
    WriteResult,
)
from tracer.store.records import EventPolicy, utc_day
from tracer.store.sqlite_sql import (
    ATTRIBUTE_NEW_CONVERSIONS,
    INSERT_EVENT,
    MOVE_CONVERSION,
    ROLL_UP_NEW,
    ROLLUP_COLUMNS,
    SCHEMA,
    SUPPRESS_NEW,
    UNATTRIBUTED,
)

logger = logging.getLogger("tracer.store.sqlite")
T = TypeVar("T")

_DELETE_CHUNK = 5_000
WAL_PAGES_BEFORE_WRITER_CHECKPOINTS = 50_000
WAL_BYTES_KEPT = 64 * 1024 * 1024
CHECKPOINT_INTERVAL_S = 1.0


class SQLiteStore(EventStore):
    """Events, rollups and suppressions in one SQLite file."""

    name = "sqlite"
    batches_may_be_combined = True

    def __init__(
        self, path: Path | str, brands: Brands | None = None, *, busy_timeout_s: float = 5.0
    ) -> None:
        """`busy_timeout_s`: how long a write waits for another connection's lock before
        the batch is reported unavailable (and retried with back-off)."""
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._policy = EventPolicy(brands)
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._checkpointer: Checkpointer | None = None

    # --- lifecycle ---------------------------------------------------------------------
    async def open(self) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="tracer-sqlite")
        await self._run(self._connect)
        if self._checkpointer is None:
            self._checkpointer = Checkpointer(self.path)
            self._checkpointer.start()

    async def close(self) -> None:
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
            self._checkpointer = None
        if self._executor is None:
            return
        await self._run(self._disconnect)
        self._executor.shutdown(wait=True)
        self._executor = None

    async def ping(self) -> None:
        await self._run(lambda: self._db.execute("SELECT 1").fetchone())

    def _connect(self) -> None:
        if self._conn is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout_s)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL survives a crash of the process (not of the machine) and
            # spares an fsync per batch; Redis keeps the batch until COMMIT returns.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA temp_store=MEMORY")
            conn.execute("PRAGMA cache_size=-65536")
            # The Checkpointer copies the WAL back into the database from its own thread;
            # a writer only checkpoints by itself (inside its commit) if that falls far
            # behind, so the WAL cannot grow without bound.
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES_BEFORE_WRITER_CHECKPOINTS}")
            conn.execute(f"PRAGMA journal_size_limit={WAL_BYTES_KEPT}")
            conn.executescript(SCHEMA)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreUnavailable(f"sqlite {self.path}: {exc}") from exc
        self._conn = conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._connect()
        assert self._conn is not None
        return self._conn

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise RuntimeError("SQLiteStore is not open")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, function, *args)
        except sqlite3.DatabaseError as exc:
            # Locked, busy, read-only, disk full, not a database: the batch waits in Redis
            # until an operator or the other connection lets go. Bugs are not retried.
            if isinstance(exc, sqlite3.ProgrammingError | sqlite3.IntegrityError):
                raise
            raise StoreUnavailable(f"sqlite {self.path}: {exc}") from exc

    # --- writing -----------------------------------------------------------------------
    async def write(
        self, events: Sequence[Event], payloads: Sequence[bytes] | None = None
    ) -> WriteResult:
        if not events:
            return WriteResult()
        rows = self._rows(events, payloads)
        return await self._run(self._write, rows)

    def _rows(self, events: Sequence[Event], payloads: Sequence[bytes] | None) -> list[tuple]:
        policy = self._policy
        if payloads is None:
            payloads = [event_codec.encode(event) for event in events]
        rows = []
        for event, payload in zip(events, payloads, strict=True):
            human = policy.is_human(event)
            rows.append(
                (
                    event.id, event.type, event.ts, utc_day(event.ts), event.brand,
                    event.channel, event.message_id, event.campaign, event.job_source,
                    event.agent, event.bot, human, event.recipient, event.click_id,
                    event.list_id, policy.revenue(event, human), event.value, payload,
                )
            )  # fmt: skip
        return rows

    def _write(self, rows: list[tuple]) -> WriteResult:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            since = db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
            inserted = db.executemany(INSERT_EVENT, rows).rowcount
            if inserted:
                marker = {"since": since}
                types = {row[1] for row in rows}
                # Conversions first: their rollups go under the click's campaign.
                if "conversion" in types:
                    db.execute(ATTRIBUTE_NEW_CONVERSIONS, marker)
                db.execute(ROLL_UP_NEW, marker)
                if "unsubscribe" in types:
                    db.execute(SUPPRESS_NEW, marker)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return WriteResult(inserted=inserted, duplicates=len(rows) - inserted)

    # --- queries -----------------------------------------------------------------------
    async def count_events(self, brand: str | None = None, event_type: str | None = None) -> int:
        where, params = _filters(brand=brand, type=event_type)
        sql = f"SELECT count(*) FROM events {where}"
        return await self._run(lambda: self._db.execute(sql, params).fetchone()[0])

    async def find_events(
        self,
        brand: str,
        *,
        message_id: str | None = None,
        event_type: str | None = None,
        limit: int = 100,
    ) -> list[Event]:
        where, params = _filters(brand=brand, message_id=message_id, type=event_type)
        sql = (
            "SELECT event, campaign, job_source, message_id, attributed FROM events "
            f"{where} ORDER BY ts DESC LIMIT ?"
        )
        rows = await self._run(lambda: self._db.execute(sql, [*params, limit]).fetchall())
        return [_event_from_row(row) for row in rows]

    async def event_ids(self, brand: str | None = None) -> list[str]:
        where, params = _filters(brand=brand)
        sql = f"SELECT id FROM events {where} ORDER BY id"
        return await self._run(lambda: [r[0] for r in self._db.execute(sql, params)])

    async def rollups(
        self, brand: str, day_from: str | None = None, day_to: str | None = None
    ) -> list[RollupRow]:
        sql = f"SELECT {ROLLUP_COLUMNS} FROM rollups WHERE brand = ? AND day >= ? AND day <= ?"
        params = (brand, day_from or "", day_to or "9999-12-31")
        rows = await self._run(lambda: self._db.execute(sql, params).fetchall())
        return [_rollup_from_row(row) for row in rows]

    async def stats(self, brand: str) -> BrandStats:
        def query() -> BrandStats:
            totals = self._db.execute(
                "SELECT type, sum(all_count), sum(human_count), sum(unique_all), "
                "sum(unique_human), sum(unique_mpp), sum(revenue), sum(value) "
                "FROM rollups WHERE brand = ? GROUP BY type",
                (brand,),
            ).fetchall()
            suppressed = self._db.execute(
                "SELECT count(*) FROM suppressions WHERE brand = ?", (brand,)
            ).fetchone()[0]
            types = {
                row[0]: TypeStats(
                    all=row[1], human=row[2], unique_all=row[3], unique_human=row[4],
                    unique_mpp=row[5], revenue=row[6], value=row[7],
                )
                for row in totals
            }  # fmt: skip
            return BrandStats(brand=brand, types=types, suppressions=suppressed)

        return await self._run(query)

    async def is_suppressed(self, brand: str, recipient: str, list_id: str = "") -> bool:
        sql = (
            "SELECT 1 FROM suppressions WHERE brand = ? AND recipient = ? "
            "AND scope IN ('', ?) LIMIT 1"
        )
        params = (brand, recipient, list_id)
        return await self._run(lambda: self._db.execute(sql, params).fetchone() is not None)

    async def suppressions(self, brand: str) -> list[Suppression]:
        sql = (
            "SELECT brand, recipient, scope, ts, event_id FROM suppressions "
            "WHERE brand = ? ORDER BY ts"
        )
        rows = await self._run(lambda: self._db.execute(sql, (brand,)).fetchall())
        return [
            Suppression(brand=r[0], recipient=r[1], scope=r[2], ts=r[3], event_id=r[4])
            for r in rows
        ]

    # --- maintenance -------------------------------------------------------------------
    async def delete_before(self, brand: str, cutoff_ts: float) -> int:
        deleted = 0
        while True:
            # Small transactions, so the batcher's writes are not held up for long.
            chunk = await self._run(self._delete_chunk, brand, cutoff_ts)
            deleted += chunk
            if chunk < _DELETE_CHUNK:
                return deleted

    def _delete_chunk(self, brand: str, cutoff_ts: float) -> int:
        db = self._db
        with _transaction(db):
            return db.execute(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events "
                "WHERE brand = ? AND ts < ? LIMIT ?)",
                (brand, cutoff_ts, _DELETE_CHUNK),
            ).rowcount

    async def compact(self) -> CompactionReport:
        report = CompactionReport()
        report.conversions_attributed = await self._run(self._attribute_late_conversions)
        checkpoint = await self._run(
            lambda: self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        )
        await self._run(lambda: self._db.execute("PRAGMA optimize"))
        report.details["wal_pages_checkpointed"] = int(checkpoint[2])
        return report

    def _attribute_late_conversions(self) -> int:
        """Conversions stored before their click: move their rollup counts from their own
        campaign/job source to the click's, in one transaction with the attribution."""
        db = self._db
        with _transaction(db):
            rows = db.execute(UNATTRIBUTED).fetchall()
            for seq, brand, campaign, source, day, human, value, *click in rows:
                click_id, click_campaign, click_source, click_message = click
                db.execute(MOVE_CONVERSION, (brand, campaign, source, day, -1, -human, -value))
                db.execute(
                    MOVE_CONVERSION, (brand, click_campaign, click_source, day, 1, human, value)
                )
                db.execute(
                    "UPDATE events SET campaign = ?, job_source = ?, attributed = ?, "
                    "message_id = CASE WHEN message_id = '' THEN ? ELSE message_id END "
                    "WHERE seq = ?",
                    (click_campaign, click_source, click_id, click_message, seq),
                )
        return len(rows)


class Checkpointer:
    """Copies committed WAL pages back into the database file once a second, from its own
    connection and thread. A PASSIVE checkpoint never blocks the writer, so the copy and
    its fsync happen beside the batcher's commits instead of inside one of them."""

    def __init__(self, path: Path, interval_s: float = CHECKPOINT_INTERVAL_S) -> None:
        self.path = path
        self.interval_s = interval_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="tracer-sqlite-checkpoint", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=0)
        try:
            while not self._stopping.wait(self.interval_s):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:
                    logger.debug("checkpoint skipped: %s", exc)
        finally:
            conn.close()


class _transaction:
    """`BEGIN IMMEDIATE` ... `COMMIT`, rolled back on error (autocommit connection)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        elif self.db.in_transaction:
            self.db.execute("ROLLBACK")


def _filters(**conditions: str | None) -> tuple[str, list[str]]:
    used = {column: value for column, value in conditions.items() if value is not None}
    if not used:
        return "", []
    return "WHERE " + " AND ".join(f"{column} = ?" for column in used), list(used.values())


def _event_from_row(row: tuple) -> Event:
    payload, campaign, job_source, message_id, attributed = row
    event = event_codec.decode(payload)
    if attributed:
        # A conversion reads as attributed to its click.
        event = msgspec.structs.replace(
            event, campaign=campaign, job_source=job_source, message_id=message_id
        )
    return event


def _rollup_from_row(row: tuple) -> RollupRow:
    brand, campaign, job_source, day, type_, all_, human, u_all, u_human, u_mpp, rev, val = row
    return RollupRow(
        brand=brand, campaign=campaign, job_source=job_source, day=day, type=type_,
        all=all_, human=human, unique_all=u_all, unique_human=u_human, unique_mpp=u_mpp,
        revenue=rev, value=val,
    )  # fmt: skip
