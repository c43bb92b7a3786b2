"""The SQL of the SQLite store: its schema (version `SCHEMA_VERSION`, kept in
`PRAGMA user_version`) and the statements of a batch's transaction.

The `events` table holds only what queries filter or sort on, plus the whole event as
msgpack; everything a batch adds besides its rows (rollup increments, unique markers,
conversion attribution, suppressions) is worked out in Python once per batch
(`sqlite_batch.py`) and written with one statement per table.
"""

from __future__ import annotations

from tracer.store.sqlite_dimensions import DIMENSION_SCHEMA
from tracer.store.sqlite_rows import RowsStatement

SCHEMA_VERSION = 2

# Applied to a new, empty file only: a WAL database keeps its page size. 8 KiB pages hold
# twice the rows of the default 4 KiB, so a batch dirties (and the WAL copies) fewer pages.
PAGE_SIZE = 8192

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,        -- insertion order: "the rows this batch added"
    id TEXT NOT NULL,
    brand TEXT NOT NULL,
    type TEXT NOT NULL,
    ts REAL NOT NULL,
    message_id TEXT NOT NULL,       -- a conversion's: its click's once attributed, if it had none
    click_id TEXT NOT NULL,
    event BLOB NOT NULL             -- the whole event, msgpack (tracer.events.encode)
)
""",
    """
CREATE UNIQUE INDEX IF NOT EXISTS events_id ON events (id)
""",
    """
-- Retention, listing newest first, counts per brand.
CREATE INDEX IF NOT EXISTS events_brand_ts ON events (brand, ts)
""",
    """
-- Every open and click of a message: the unique counts `tracer reclassify` moves.
CREATE INDEX IF NOT EXISTS events_brand_message ON events (brand, message_id, type)
""",
    """
-- A conversion's click (only clicks are in it).
CREATE INDEX IF NOT EXISTS events_clicks ON events (brand, click_id)
    WHERE type = 'click' AND click_id != ''
""",
    """
-- One marker per message and type (open, click): which scopes have had their first such
-- event. An event is a unique of each scope it adds.
CREATE TABLE IF NOT EXISTS uniques (
    brand TEXT NOT NULL,
    message_id TEXT NOT NULL,
    type TEXT NOT NULL,
    scopes INTEGER NOT NULL,        -- bits: 1 any agent, 2 human, 4 Apple MPP
    added INTEGER NOT NULL,         -- the bits the last write added (read by RETURNING)
    ts REAL NOT NULL,               -- of the first event: retention deletes the marker with it
    PRIMARY KEY (brand, message_id, type)
) WITHOUT ROWID
""",
    """
CREATE INDEX IF NOT EXISTS uniques_brand_ts ON uniques (brand, ts)
""",
    """
-- Conversions with a click id: where they are rolled up, and whether their click was found.
CREATE TABLE IF NOT EXISTS conversions (
    id TEXT PRIMARY KEY,            -- the conversion's event id
    brand TEXT NOT NULL,
    click_id TEXT NOT NULL,
    ts REAL NOT NULL,
    day TEXT NOT NULL,
    human INTEGER NOT NULL,         -- the brand's bot policy, when stored
    value REAL NOT NULL,
    campaign TEXT NOT NULL,         -- rolled up under: its own until attributed, then the click's
    job_source TEXT NOT NULL,
    message_id TEXT NOT NULL,
    attributed TEXT NOT NULL        -- id of the click it is attributed to, '' until found
) WITHOUT ROWID
""",
    """
CREATE INDEX IF NOT EXISTS conversions_pending ON conversions (brand, click_id)
    WHERE attributed = ''
""",
    """
CREATE TABLE IF NOT EXISTS rollups (
    brand TEXT NOT NULL,
    campaign TEXT NOT NULL,
    job_source TEXT NOT NULL,
    day TEXT NOT NULL,
    type TEXT NOT NULL,
    all_count INTEGER NOT NULL DEFAULT 0,
    human_count INTEGER NOT NULL DEFAULT 0,
    unique_all INTEGER NOT NULL DEFAULT 0,
    unique_human INTEGER NOT NULL DEFAULT 0,
    unique_mpp INTEGER NOT NULL DEFAULT 0,
    revenue REAL NOT NULL DEFAULT 0,
    value REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (brand, campaign, job_source, day, type)
) WITHOUT ROWID
""",
    """
CREATE TABLE IF NOT EXISTS suppressions (
    brand TEXT NOT NULL,
    recipient TEXT NOT NULL,
    scope TEXT NOT NULL,            -- '' = all marketing of the brand, else a list id
    ts REAL NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (brand, recipient, scope)
) WITHOUT ROWID
""",
    *DIMENSION_SCHEMA,
)

# --- a batch ----------------------------------------------------------------------------
LAST_SEQ = "SELECT coalesce(max(seq), 0) FROM events"

INSERT_EVENTS = RowsStatement(
    "INSERT OR IGNORE INTO events (id, brand, type, ts, message_id, click_id, event)", 7
)

# Only read when some of a batch's events were already stored (or repeated in it).
IDS_SINCE = "SELECT id FROM events WHERE seq > ?"

# `type` and `click_id != ''` let SQLite use the partial index; the earliest click wins.
CLICK_OF = """
SELECT event FROM events
WHERE brand = ? AND click_id = ? AND type = 'click' AND click_id != ''
ORDER BY seq LIMIT 1
"""

INSERT_CONVERSION = """
INSERT INTO conversions (id, brand, click_id, ts, day, human, value, campaign, job_source,
    message_id, attributed)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

SET_MESSAGE_ID = "UPDATE events SET message_id = ? WHERE id = ?"

# A batch's markers: (brand, message_id, type, scopes, scopes, ts). In an upsert's SET,
# `scopes` is still the stored value, so `added` gets the bits this batch adds; RETURNING
# lists the markers that gained any: the batch's uniques.
ADD_MARKERS = RowsStatement(
    "INSERT INTO uniques (brand, message_id, type, scopes, added, ts)",
    6,
    """ON CONFLICT (brand, message_id, type) DO UPDATE SET
        scopes = scopes | excluded.scopes, added = excluded.scopes & ~scopes
        WHERE excluded.scopes & ~scopes != 0
    RETURNING brand, message_id, type, added""",
)

_ROLLUP_HEAD = """INSERT INTO rollups (brand, campaign, job_source, day, type, all_count,
    human_count, unique_all, unique_human, unique_mpp, revenue, value)"""
_ROLLUP_ADD = """ON CONFLICT (brand, campaign, job_source, day, type) DO UPDATE SET
    all_count = all_count + excluded.all_count,
    human_count = human_count + excluded.human_count,
    unique_all = unique_all + excluded.unique_all,
    unique_human = unique_human + excluded.unique_human,
    unique_mpp = unique_mpp + excluded.unique_mpp,
    revenue = revenue + excluded.revenue,
    value = value + excluded.value"""
# Increments per rollup key: (brand, campaign, job_source, day, type, all, human,
# unique_all, unique_human, unique_mpp, revenue, value).
ADD_TO_ROLLUPS = RowsStatement(_ROLLUP_HEAD, 12, _ROLLUP_ADD)

SUPPRESS = """
INSERT OR IGNORE INTO suppressions (brand, recipient, scope, ts, event_id)
VALUES (?, ?, ?, ?, ?)
"""

# --- compaction -------------------------------------------------------------------------
PENDING_CONVERSIONS = """
SELECT conv.id, conv.brand, conv.campaign, conv.job_source, conv.day, conv.human,
    conv.value, conv.message_id, (
        SELECT click.event FROM events AS click
        WHERE click.brand = conv.brand AND click.click_id = conv.click_id
          AND click.type = 'click' AND click.click_id != ''
        ORDER BY click.seq LIMIT 1
    ) AS click
FROM conversions AS conv
WHERE conv.attributed = '' AND click IS NOT NULL
"""

ATTRIBUTE = """
UPDATE conversions SET campaign = ?, job_source = ?, message_id = ?, attributed = ?
WHERE id = ?
"""

# --- retention --------------------------------------------------------------------------
DELETE_EVENTS = """
DELETE FROM events WHERE seq IN (
    SELECT seq FROM events WHERE brand = ? AND ts < ? LIMIT ?)
"""

DELETE_UNIQUES = """
DELETE FROM uniques WHERE (brand, message_id, type) IN (
    SELECT brand, message_id, type FROM uniques WHERE brand = ? AND ts < ? LIMIT ?)
"""

DELETE_CONVERSIONS = "DELETE FROM conversions WHERE brand = ? AND ts < ?"

# --- reading ----------------------------------------------------------------------------
FIND_EVENTS = """
SELECT e.event, c.attributed, c.campaign, c.job_source, c.message_id
FROM events AS e LEFT JOIN conversions AS c ON c.id = e.id
{where} ORDER BY e.ts DESC LIMIT ?
"""

ROLLUP_COLUMNS = (
    "brand, campaign, job_source, day, type, all_count, human_count, "
    "unique_all, unique_human, unique_mpp, revenue, value"
)
