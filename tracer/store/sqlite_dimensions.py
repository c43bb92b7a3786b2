"""The SQLite store's rollups of hits by client, OS, device and country
(`tracer.store.dimensions`): their table, the upsert a batch's increments go through, and
the query behind `EventStore.dimension_stats`."""

from __future__ import annotations

import sqlite3

from tracer.store.dimensions import DIMENSIONS, DimensionKey
from tracer.store.sqlite_rows import RowsStatement

# Created (if missing) by every open, like the rest of `sqlite_sql.SCHEMA`: a store made
# before these rollups existed gets the table on its next open.
DIMENSION_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS client_rollups (
    brand TEXT NOT NULL,
    day TEXT NOT NULL,
    campaign TEXT NOT NULL,
    job_source TEXT NOT NULL,
    type TEXT NOT NULL,
    client TEXT NOT NULL,           -- '' when the hits had none (no user agent, turned off)
    os TEXT NOT NULL,
    device TEXT NOT NULL,
    country TEXT NOT NULL,          -- '' without a GeoIP database
    all_count INTEGER NOT NULL DEFAULT 0,
    human_count INTEGER NOT NULL DEFAULT 0,
    -- Queries read one brand over a range of days.
    PRIMARY KEY (brand, day, campaign, job_source, type, client, os, device, country)
) WITHOUT ROWID
""",
)

ADD_TO_DIMENSIONS = RowsStatement(
    "INSERT INTO client_rollups (brand, campaign, job_source, day, type, client, os, device, "
    "country, all_count, human_count)",
    11,
    """ON CONFLICT (brand, day, campaign, job_source, type, client, os, device, country)
    DO UPDATE SET all_count = all_count + excluded.all_count,
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
    """(value, type, all, human) summed over days, campaigns, job sources and the other
    dimensions in range."""
    if dimension not in DIMENSIONS:  # a column name: never from outside the list
        raise ValueError(f"unknown dimension {dimension!r}")
    sql = (
        f"SELECT {dimension}, type, sum(all_count), sum(human_count) FROM client_rollups "
        "WHERE brand = ? AND day >= ? AND day <= ?"
    )
    params: list[str] = [brand, day_from or "", day_to or "9999-12-31"]
    if campaign is not None:
        sql += " AND campaign = ?"
        params.append(campaign)
    if job_source is not None:
        sql += " AND job_source = ?"
        params.append(job_source)
    return db.execute(sql + f" GROUP BY {dimension}, type", params).fetchall()
