"""The SQLite store's rollups by client, OS, device and country (`tracer.store.dimensions`):
their table, the upsert a batch's increments go through, and the query behind
`EventStore.dimension_stats`."""

from __future__ import annotations

import sqlite3

from tracer.store.dimensions import DimensionKey
from tracer.store.sqlite_rows import RowsStatement

# Created (if missing) by every open, like the rest of `sqlite_sql.SCHEMA`: a store made
# before these rollups existed gets the table on its next open.
DIMENSION_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS dimension_rollups (
    brand TEXT NOT NULL,
    dimension TEXT NOT NULL,        -- client, os, device, country
    day TEXT NOT NULL,
    value TEXT NOT NULL,            -- '' when the hits had none (no user agent, no database)
    campaign TEXT NOT NULL,
    job_source TEXT NOT NULL,
    type TEXT NOT NULL,
    all_count INTEGER NOT NULL DEFAULT 0,
    human_count INTEGER NOT NULL DEFAULT 0,
    -- Queries read one brand's dimension over a range of days.
    PRIMARY KEY (brand, dimension, day, value, campaign, job_source, type)
) WITHOUT ROWID
""",
)

ADD_TO_DIMENSIONS = RowsStatement(
    "INSERT INTO dimension_rollups (brand, campaign, job_source, day, type, dimension, value, "
    "all_count, human_count)",
    9,
    """ON CONFLICT (brand, dimension, day, value, campaign, job_source, type) DO UPDATE SET
        all_count = all_count + excluded.all_count,
        human_count = human_count + excluded.human_count""",
)


def add_dimension_rollups(
    db: sqlite3.Connection, increments: dict[DimensionKey, list[int]]
) -> None:
    """Apply increments (negative ones subtract) inside the caller's transaction."""
    if increments:
        ADD_TO_DIMENSIONS.execute(db, [(*key, *totals) for key, totals in increments.items()])


def dimension_rows(
    db: sqlite3.Connection,
    brand: str,
    dimension: str,
    *,
    campaign: str | None = None,
    job_source: str | None = None,
    day_from: str | None = None,
    day_to: str | None = None,
) -> list[tuple[str, str, int, int]]:
    """(value, type, all, human) summed over days, campaigns and job sources in range."""
    sql = (
        "SELECT value, type, sum(all_count), sum(human_count) FROM dimension_rollups "
        "WHERE brand = ? AND dimension = ? AND day >= ? AND day <= ?"
    )
    params: list[str] = [brand, dimension, day_from or "", day_to or "9999-12-31"]
    if campaign is not None:
        sql += " AND campaign = ?"
        params.append(campaign)
    if job_source is not None:
        sql += " AND job_source = ?"
        params.append(job_source)
    return db.execute(sql + " GROUP BY value, type", params).fetchall()
