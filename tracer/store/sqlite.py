"""The embedded event store: one SQLite file in WAL mode (the default when `MONGODB_URL`
is unset), so `just run` needs no database server.

A batch is one `BEGIN IMMEDIATE` transaction: `INSERT OR IGNORE` of the events, then, for
just the events that were new, what they add: rollup increments summed per key in
Python, unique markers, conversion attribution and suppressions, one statement per table.
One transaction makes the write exactly-once: a batch written again inserts no row, so it
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
from tracer.files import PRIVATE_FILE_MODE, private_directory, private_file, tighten
from tracer.store import sqlite_reclassify
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
from tracer.store.dimensions import (
    DimensionStats,
    check_dimension,
    dimension_increments,
    reclassification_increments,
    summarize,
)
from tracer.store.records import EventPolicy, utc_day
from tracer.store.sqlite_batch import Derived, derive
from tracer.store.sqlite_dimensions import add_dimension_rollups, dimension_rows
from tracer.store.sqlite_schema import StoreSchemaError, prepare_schema
from tracer.store.sqlite_sql import (
    ADD_MARKERS,
    ADD_TO_ROLLUPS,
    ATTRIBUTE,
    CLICK_OF,
    DELETE_CONVERSIONS,
    DELETE_EVENTS,
    DELETE_UNIQUES,
    FIND_EVENTS,
    IDS_SINCE,
    INSERT_CONVERSION,
    INSERT_EVENTS,
    LAST_SEQ,
    PAGE_SIZE,
    PENDING_CONVERSIONS,
    ROLLUP_COLUMNS,
    SET_MESSAGE_ID,
    SUPPRESS,
)

logger = logging.getLogger(__name__)
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
        # Private from the first byte: SQLite gives the -wal and -shm files the mode of
        # the database file.
        private_directory(self.path.parent)
        private_file(self.path)
        for suffix in ("-wal", "-shm"):
            tighten(self.path.with_name(self.path.name + suffix), PRIVATE_FILE_MODE)
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout_s)
        try:
            # Only takes effect in a new, empty file (before WAL mode fixes the page size).
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL survives a crash of the process (not of the machine) and
            # spares an fsync per batch; Redis keeps the batch until COMMIT returns.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA temp_store=MEMORY")
            # 8 MiB of page cache: the batcher's writes touch the newest pages of the tables
            # and indexes, and a bigger cache only grew the process for hours without
            # making a batch measurably faster (`bench.batcher`, `just soak`).
            conn.execute("PRAGMA cache_size=-8192")
            # The Checkpointer copies the WAL back into the database from its own thread;
            # a writer only checkpoints by itself (inside its commit) if that falls far
            # behind, so the WAL cannot grow without bound.
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES_BEFORE_WRITER_CHECKPOINTS}")
            conn.execute(f"PRAGMA journal_size_limit={WAL_BYTES_KEPT}")
            prepare_schema(conn, self.path)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreUnavailable(f"sqlite {self.path}: {exc}") from exc
        except StoreSchemaError:
            conn.close()
            raise
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
        if payloads is None:
            payloads = [event_codec.encode(event) for event in events]
        elif len(payloads) != len(events):
            raise ValueError(f"{len(events)} event(s) but {len(payloads)} payload(s)")
        return await self._run(self._write, events, payloads)

    def _write(self, events: Sequence[Event], payloads: Sequence[bytes]) -> WriteResult:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            since = db.execute(LAST_SEQ).fetchone()[0]
            inserted = INSERT_EVENTS.execute(db, _event_rows(events, payloads))
            if inserted:
                new = events if inserted == len(events) else _new_events(db, events, since)
                self._add_derived(db, derive(new, self._policy))
                add_dimension_rollups(db, dimension_increments(new, self._policy))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return WriteResult(inserted=inserted, duplicates=len(events) - inserted)

    def _add_derived(self, db: sqlite3.Connection, derived: Derived) -> None:
        # Conversions first: their rollups go under the click's campaign.
        for conversion, human in derived.conversions:
            self._attribute_new_conversion(db, derived, conversion, human)
        if derived.markers:
            derived.count_uniques(ADD_MARKERS.execute_returning(db, derived.marker_rows()))
        ADD_TO_ROLLUPS.execute(db, derived.rollup_rows())
        if derived.suppressions:
            db.executemany(SUPPRESS, derived.suppressions)

    def _attribute_new_conversion(
        self, db: sqlite3.Connection, derived: Derived, conversion: Event, human: bool
    ) -> None:
        """A conversion takes the campaign and job source (and message id, when it has
        none) of its brand's click with its click id, stored before or in this batch.
        Without one yet it is rolled up as it is, and moved by `compact()` later."""
        campaign, source = conversion.campaign, conversion.job_source
        message_id, attributed = conversion.message_id, ""
        row = db.execute(CLICK_OF, (conversion.brand, conversion.click_id)).fetchone()
        if row is not None:
            click = event_codec.decode(row[0])
            campaign, source, attributed = click.campaign, click.job_source, click.id
            if not message_id and click.message_id:
                message_id = click.message_id
                db.execute(SET_MESSAGE_ID, (message_id, conversion.id))
        day = utc_day(conversion.ts)
        db.execute(
            INSERT_CONVERSION,
            (conversion.id, conversion.brand, conversion.click_id, conversion.ts, day, human,
             conversion.value, campaign, source, message_id, attributed),
        )  # fmt: skip
        key = (conversion.brand, campaign, source, day, "conversion")
        derived.add(key, human, conversion.value)

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
        where, params = _filters(**{"e.brand": brand, "e.message_id": message_id,
                                    "e.type": event_type})  # fmt: skip
        sql = FIND_EVENTS.format(where=where)
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

    # --- reclassification ------------------------------------------------------------
    async def count_replayable(self, brand: str, since_ts: float) -> int:
        return await self._run(lambda: sqlite_reclassify.count(self._db, brand, since_ts))

    async def replayable_page(
        self, brand: str, since_ts: float, cursor: str, limit: int
    ) -> tuple[list[Event], str]:
        return await self._run(
            lambda: sqlite_reclassify.page(self._db, brand, since_ts, cursor, limit)
        )

    async def apply_reclassification(self, changed: Sequence[tuple[Event, Event]]) -> None:
        if changed:
            await self._run(self._reclassify, changed)

    def _reclassify(self, changed: Sequence[tuple[Event, Event]]) -> None:
        with _transaction(self._db) as db:
            sqlite_reclassify.apply(db, changed, self._policy)
            add_dimension_rollups(db, reclassification_increments(changed, self._policy))

    # --- rollups by client, OS, device, country ------------------------------------------
    async def dimension_stats(
        self,
        brand: str,
        dimension: str,
        *,
        campaign: str | None = None,
        job_source: str | None = None,
        day_from: str | None = None,
        day_to: str | None = None,
    ) -> DimensionStats:
        check_dimension(dimension)
        rows = await self._run(
            lambda: dimension_rows(self._db, brand, dimension, campaign=campaign,
                                   job_source=job_source, day_from=day_from, day_to=day_to)
        )  # fmt: skip
        return summarize(brand, dimension, rows)

    async def roll_up_dimensions(self, events: Sequence[Event], sign: int = 1) -> None:
        def apply() -> None:
            with _transaction(self._db) as db:
                add_dimension_rollups(db, dimension_increments(events, self._policy, sign))

        await self._run(apply)

    # --- maintenance -------------------------------------------------------------------
    async def delete_before(self, brand: str, cutoff_ts: float) -> int:
        deleted = 0
        while True:
            # Small transactions, so the batcher's writes are not held up for long.
            events, markers = await self._run(self._delete_chunk, brand, cutoff_ts)
            deleted += events
            if events < _DELETE_CHUNK and markers < _DELETE_CHUNK:
                return deleted

    def _delete_chunk(self, brand: str, cutoff_ts: float) -> tuple[int, int]:
        """Events, unique markers and conversion records older than the cutoff (up to a
        chunk of each): a message seen again after its markers are gone counts anew."""
        db = self._db
        params = (brand, cutoff_ts, _DELETE_CHUNK)
        with _transaction(db):
            events = db.execute(DELETE_EVENTS, params).rowcount
            markers = db.execute(DELETE_UNIQUES, params).rowcount
            db.execute(DELETE_CONVERSIONS, (brand, cutoff_ts))
        return events, markers

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
            rows = db.execute(PENDING_CONVERSIONS).fetchall()
            for conversion_id, brand, campaign, source, day, human, value, message_id, raw in rows:
                click = event_codec.decode(raw)
                ADD_TO_ROLLUPS.execute(
                    db,
                    [
                        (brand, campaign, source, day, "conversion", -1, -human, 0, 0, 0, 0.0,
                         -value),
                        (brand, click.campaign, click.job_source, day, "conversion", 1, human,
                         0, 0, 0, 0.0, value),
                    ],
                )  # fmt: skip
                if not message_id and click.message_id:
                    message_id = click.message_id
                    db.execute(SET_MESSAGE_ID, (message_id, conversion_id))
                db.execute(
                    ATTRIBUTE,
                    (click.campaign, click.job_source, message_id, click.id, conversion_id),
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


def _event_rows(events: Sequence[Event], payloads: Sequence[bytes]) -> list[tuple]:
    # sqlite3 binds str, int, float and bytearray as they are, but looks any other value
    # (bytes, None) up in its adapter registry first: a tenth of the cost of the row.
    return [
        (event.id, event.brand, event.type, event.ts, event.message_id, event.click_id,
         bytearray(payload))
        for event, payload in zip(events, payloads, strict=True)
    ]  # fmt: skip


def _new_events(db: sqlite3.Connection, events: Sequence[Event], since: int) -> list[Event]:
    """The events of the batch that this transaction inserted (each once, in batch order),
    when some were already stored or came twice."""
    fresh = {row[0] for row in db.execute(IDS_SINCE, (since,))}
    new = []
    for event in events:
        if event.id in fresh:
            fresh.discard(event.id)
            new.append(event)
    return new


def _event_from_row(row: tuple) -> Event:
    payload, attributed, campaign, job_source, message_id = row
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
