"""The SQLite store's schema version (`PRAGMA user_version`): create it in a new file,
upgrade an older file in place, refuse a newer one.

Versions: 0 with no tables — a new file; 0 with the first schema's `events` table (it has
a `human` column) — version 1, from before the schema was numbered; 2 — the current one
(`sqlite_sql.SCHEMA`). The upgrade runs in one transaction at open: a crash midway
leaves the file as it was.
"""

from __future__ import annotations

import logging
import sqlite3
import time

from tracer.errors import ConfigurationError
from tracer.store.sqlite_sql import SCHEMA, SCHEMA_VERSION

logger = logging.getLogger(__name__)

# The first schema kept every derived column in `events`, with five indexes on it.
_V1_INDEXES = ("events_id", "events_brand_ts", "events_message", "events_click_id",
               "events_unattributed")  # fmt: skip
_V1_TO_V2 = (
    "ALTER TABLE events RENAME TO events_v1",
    *SCHEMA,
    """INSERT INTO events (seq, id, brand, type, ts, message_id, click_id, event)
       SELECT seq, id, brand, type, ts, message_id, click_id, event
       FROM events_v1""",
    # The first open or click of each message per scope, in insertion order.
    *(
        f"""INSERT INTO uniques (brand, message_id, type, scopes, added, ts)
            SELECT brand, message_id, type, {bit}, {bit}, ts FROM events_v1
            WHERE type IN ('open', 'click') AND message_id != '' {condition} ORDER BY seq
            ON CONFLICT (brand, message_id, type) DO UPDATE SET scopes = scopes | {bit}"""
        for bit, condition in ((1, ""), (2, "AND human"), (4, "AND agent = 'mpp'"))
    ),
    """INSERT INTO conversions (id, brand, click_id, ts, day, human, value, campaign,
           job_source, message_id, attributed)
       SELECT id, brand, click_id, ts, day, human, value, campaign, job_source, message_id,
           attributed
       FROM events_v1 WHERE type = 'conversion' AND click_id != ''""",
    "DROP TABLE events_v1",
)


class StoreSchemaError(ConfigurationError):
    """The SQLite file is not one this version of Tracer can use (written by a newer one,
    or not a Tracer store): the process exits 1 instead of waiting for it to change."""


def prepare_schema(conn: sqlite3.Connection, path: object) -> None:
    """Bring the database of `conn` (an autocommit connection) to `SCHEMA_VERSION`."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            _upgrade_unnumbered(conn, path)
        elif version > SCHEMA_VERSION:
            raise StoreSchemaError(
                f"{path}: SQLite store schema version {version} is newer than this Tracer's "
                f"({SCHEMA_VERSION}); use the Tracer that wrote it or move the file away"
            )
        elif version < SCHEMA_VERSION:
            raise StoreSchemaError(f"{path}: unknown SQLite store schema version {version}")
        else:
            for statement in SCHEMA:
                conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _upgrade_unnumbered(conn: sqlite3.Connection, path: object) -> None:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
    if "events" not in tables:
        for statement in SCHEMA:
            conn.execute(statement)
    elif _columns(conn, "events") >= {"human", "agent", "day", "attributed"}:
        _upgrade_from_v1(conn, path)
    else:
        raise StoreSchemaError(f"{path}: has an events table, but not a Tracer store's")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _upgrade_from_v1(conn: sqlite3.Connection, path: object) -> None:
    started = time.monotonic()
    count = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    logger.info("Upgrading the SQLite store %s (%d event(s)) to schema version %d",
                path, count, SCHEMA_VERSION)  # fmt: skip
    for index in _V1_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {index}")
    for statement in _V1_TO_V2:
        conn.execute(statement)
    logger.info("Upgraded the SQLite store to schema version %d in %.1fs",
                SCHEMA_VERSION, time.monotonic() - started)  # fmt: skip


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
