"""`tracer reclassify` on the SQLite store: read a brand's hits page by page, and rewrite
a batch of verdicts with the rollup counts and unique markers they move, in one
transaction (so a batch is applied whole or not at all, and applying it again finds
nothing left to change)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from tracer import events as event_codec
from tracer.classify.replay import REPLAYED_TYPES
from tracer.events import Event
from tracer.store.reclassify import (
    SCOPES,
    MessageKey,
    Plan,
    first_holders,
    plan,
    touched_messages,
)
from tracer.store.records import EventPolicy
from tracer.store.sqlite_batch import SCOPE_HUMAN, SCOPE_MPP
from tracer.store.sqlite_sql import ADD_TO_ROLLUPS

_TYPES = ", ".join(f"'{t}'" for t in REPLAYED_TYPES)
PAGE = f"""
SELECT seq, event FROM events
WHERE seq > ? AND brand = ? AND ts >= ? AND type IN ({_TYPES})
ORDER BY seq LIMIT ?
"""
COUNT = f"SELECT count(*) FROM events WHERE brand = ? AND ts >= ? AND type IN ({_TYPES})"
MESSAGE_EVENTS = "SELECT event FROM events WHERE brand = ? AND message_id = ? AND type = ?"
MARKER = "SELECT scopes FROM uniques WHERE brand = ? AND message_id = ? AND type = ?"
SET_MARKER = """UPDATE uniques SET scopes = (scopes & ~?) | ?
WHERE brand = ? AND message_id = ? AND type = ?"""
REWRITE = "UPDATE events SET event = ? WHERE id = ?"
_BITS = {"human": SCOPE_HUMAN, "mpp": SCOPE_MPP}


def page(db: sqlite3.Connection, brand: str, since_ts: float, cursor: str, limit: int):
    """(events, cursor of the last one) after `cursor` (a row's `seq`; "" = the start)."""
    rows = db.execute(PAGE, (int(cursor or 0), brand, since_ts, limit)).fetchall()
    events = [event_codec.decode(raw) for _, raw in rows]
    return events, (str(rows[-1][0]) if rows else cursor)


def count(db: sqlite3.Connection, brand: str, since_ts: float) -> int:
    return db.execute(COUNT, (brand, since_ts)).fetchone()[0]


def apply(
    db: sqlite3.Connection, changed: Sequence[tuple[Event, Event]], policy: EventPolicy
) -> Plan:
    """Rewrite the changed events and move what they move; the caller holds the
    transaction."""
    messages = sorted(touched_messages(changed))
    stored = {m: _message_events(db, m) for m in messages}
    credited = {m: _credited(db, m, stored[m], policy) for m in messages}
    result = plan(changed, stored, credited, policy)
    db.executemany(REWRITE, [(bytearray(event_codec.encode(new)), new.id) for _, new in changed])
    rows = result.rollup_rows()
    if rows:
        ADD_TO_ROLLUPS.execute(db, rows)
    for (brand, message_id, event_type), holders in result.holders.items():
        for scope, holder in holders.items():
            bit = _BITS[scope]
            db.execute(SET_MARKER, (bit, bit if holder else 0, brand, message_id, event_type))
    return result


def _message_events(db: sqlite3.Connection, message: MessageKey) -> list[Event]:
    return [event_codec.decode(row[0]) for row in db.execute(MESSAGE_EVENTS, message)]


def _credited(
    db: sqlite3.Connection, message: MessageKey, events: list[Event], policy: EventPolicy
) -> dict[str, str]:
    """Where each scope's unique is credited today. SQLite keeps only the marker's bits,
    and a batch credits its first event: the first stored event with the scope."""
    row = db.execute(MARKER, message).fetchone()
    bits = row[0] if row else 0
    firsts = first_holders(events, policy)
    return {scope: firsts.get(scope, "") for scope in SCOPES if bits & _BITS[scope]}
