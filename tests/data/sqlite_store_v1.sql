-- The SQLite store schema before it was numbered (user_version 0): the upgrade tests
-- build a store of that version from it.
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
