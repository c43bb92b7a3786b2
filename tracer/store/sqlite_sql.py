"""The SQL of the SQLite store: its schema and the statements of a batch's transaction.

Every derived-data statement works on "the rows this batch added": events whose `seq`
(the rowid, in insertion order) is above `:since`, the largest `seq` before the insert.
"""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,        -- insertion order: "the rows this batch added"
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    ts REAL NOT NULL,
    day TEXT NOT NULL,
    brand TEXT NOT NULL,
    channel TEXT NOT NULL,
    message_id TEXT NOT NULL,
    campaign TEXT NOT NULL,         -- for a conversion: its click's, once attributed
    job_source TEXT NOT NULL,
    agent TEXT NOT NULL,
    bot INTEGER NOT NULL,
    human INTEGER NOT NULL,         -- the brand's bot policy, when stored
    recipient TEXT NOT NULL,
    click_id TEXT NOT NULL,
    list_id TEXT NOT NULL,
    revenue REAL NOT NULL,
    value REAL NOT NULL,
    attributed TEXT NOT NULL DEFAULT '',   -- id of the click a conversion is attributed to
    event BLOB NOT NULL             -- the whole event, msgpack (tracer.events.encode)
);
CREATE UNIQUE INDEX IF NOT EXISTS events_id ON events (id);
CREATE INDEX IF NOT EXISTS events_brand_ts ON events (brand, ts);
-- Per-message lookups, and "is there an earlier open of this message" for unique counts.
CREATE INDEX IF NOT EXISTS events_message ON events (brand, message_id, type, human);
CREATE INDEX IF NOT EXISTS events_click_id ON events (click_id) WHERE click_id != '';
CREATE INDEX IF NOT EXISTS events_unattributed ON events (seq)
    WHERE type = 'conversion' AND attributed = '' AND click_id != '';

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
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS suppressions (
    brand TEXT NOT NULL,
    recipient TEXT NOT NULL,
    scope TEXT NOT NULL,            -- '' = all marketing of the brand, else a list id
    ts REAL NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (brand, recipient, scope)
) WITHOUT ROWID;
"""

INSERT_EVENT = """
INSERT OR IGNORE INTO events (id, type, ts, day, brand, channel, message_id, campaign,
    job_source, agent, bot, human, recipient, click_id, list_id, revenue, value, event)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

# `click.click_id != ''` lets SQLite use the partial index on click ids.
_CLICK_OF_CONVERSION = """FROM events AS click WHERE click.click_id = conv.click_id
    AND click.click_id != '' AND click.type = 'click' AND click.brand = conv.brand"""

# Driven by the batch's conversions (a join would let SQLite scan every click).
ATTRIBUTE_NEW_CONVERSIONS = f"""
UPDATE events AS conv SET (campaign, job_source, message_id, attributed) = (
    SELECT click.campaign, click.job_source,
        CASE WHEN conv.message_id = '' THEN click.message_id ELSE conv.message_id END,
        click.id
    {_CLICK_OF_CONVERSION} LIMIT 1)
WHERE conv.seq > :since AND conv.type = 'conversion' AND conv.click_id != ''
  AND EXISTS (SELECT 1 {_CLICK_OF_CONVERSION})
"""

# An open or click is the first of its message (per scope) when no earlier row exists;
# `seq < e.seq` also orders the rows of the batch itself.
_FIRST = """NOT EXISTS (SELECT 1 FROM events AS p WHERE p.brand = e.brand
    AND p.message_id = e.message_id AND p.type = e.type AND p.seq < e.seq {extra})"""
_COUNTABLE = "e.type IN ('open', 'click') AND e.message_id != ''"

ROLL_UP_NEW = f"""
INSERT INTO rollups (brand, campaign, job_source, day, type, all_count, human_count,
    unique_all, unique_human, unique_mpp, revenue, value)
SELECT brand, campaign, job_source, day, type, count(*), sum(human),
    sum(first_all), sum(first_human), sum(first_mpp), sum(revenue), sum(value)
FROM (
    SELECT e.brand, e.campaign, e.job_source, e.day, e.type, e.human, e.revenue, e.value,
        CASE WHEN {_COUNTABLE} THEN {_FIRST.format(extra="")} ELSE 0 END AS first_all,
        CASE WHEN e.human AND {_COUNTABLE}
            THEN {_FIRST.format(extra="AND p.human = 1")} ELSE 0 END AS first_human,
        CASE WHEN e.agent = 'mpp' AND {_COUNTABLE}
            THEN {_FIRST.format(extra="AND p.agent = 'mpp'")} ELSE 0 END AS first_mpp
    FROM events AS e WHERE e.seq > :since
) WHERE true
GROUP BY brand, campaign, job_source, day, type
ON CONFLICT (brand, campaign, job_source, day, type) DO UPDATE SET
    all_count = all_count + excluded.all_count,
    human_count = human_count + excluded.human_count,
    unique_all = unique_all + excluded.unique_all,
    unique_human = unique_human + excluded.unique_human,
    unique_mpp = unique_mpp + excluded.unique_mpp,
    revenue = revenue + excluded.revenue,
    value = value + excluded.value
"""

SUPPRESS_NEW = """
INSERT OR IGNORE INTO suppressions (brand, recipient, scope, ts, event_id)
SELECT brand, recipient, list_id, ts, id FROM events
WHERE seq > :since AND type = 'unsubscribe' AND recipient != '' ORDER BY seq
"""

UNATTRIBUTED = """
SELECT conv.seq, conv.brand, conv.campaign, conv.job_source, conv.day, conv.human,
    conv.value, click.id, click.campaign, click.job_source, click.message_id
FROM events AS conv CROSS JOIN events AS click  -- CROSS: the few conversions drive
  ON click.click_id = conv.click_id AND click.click_id != '' AND click.type = 'click'
  AND click.brand = conv.brand
WHERE conv.type = 'conversion' AND conv.attributed = '' AND conv.click_id != ''
"""

MOVE_CONVERSION = """
INSERT INTO rollups (brand, campaign, job_source, day, type, all_count, human_count, value)
VALUES (?, ?, ?, ?, 'conversion', ?, ?, ?)
ON CONFLICT (brand, campaign, job_source, day, type) DO UPDATE SET
    all_count = all_count + excluded.all_count,
    human_count = human_count + excluded.human_count,
    value = value + excluded.value
"""

ROLLUP_COLUMNS = (
    "brand, campaign, job_source, day, type, all_count, human_count, "
    "unique_all, unique_human, unique_mpp, revenue, value"
)
