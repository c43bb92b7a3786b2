"""The SQLite store's schema version: a store of the first (unnumbered) schema is upgraded
in place and goes on counting where it left off; a newer or foreign file is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.store.events import make_event
from tracer.brands import Brands
from tracer.events import Event
from tracer.events import encode as encode_event
from tracer.store.records import EventPolicy, utc_day
from tracer.store.sqlite import SQLiteStore
from tracer.store.sqlite_schema import StoreSchemaError
from tracer.store.sqlite_sql import SCHEMA_VERSION

V1_SCHEMA = Path(__file__).parents[1] / "data" / "sqlite_store_v1.sql"

_V1_INSERT = """
INSERT INTO events (id, type, ts, day, brand, channel, message_id, campaign, job_source,
    agent, bot, human, recipient, click_id, list_id, revenue, value, attributed, event)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def write_v1_store(path: Path, brands: Brands, events: list[Event]) -> None:
    """A store as the first schema left it: the events' rows with their derived columns,
    and the suppressions (no rollups: the upgrade keeps that table as it is)."""
    policy = EventPolicy(brands)
    conn = sqlite3.connect(path)
    try:
        conn.executescript(V1_SCHEMA.read_text())
        for e in events:
            human = policy.is_human(e)
            conn.execute(
                _V1_INSERT,
                (e.id, e.type, e.ts, utc_day(e.ts), e.brand, e.channel, e.message_id,
                 e.campaign, e.job_source, e.agent, e.bot, human, e.recipient, e.click_id,
                 e.list_id, policy.revenue(e, human), e.value, "", encode_event(e)),
            )  # fmt: skip
            if e.type == "unsubscribe":
                conn.execute(
                    "INSERT OR IGNORE INTO suppressions VALUES (?, ?, ?, ?, ?)",
                    (e.brand, e.recipient, e.list_id, e.ts, e.id),
                )
        conn.commit()
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    finally:
        conn.close()


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


async def test_a_first_schema_store_is_upgraded_and_keeps_counting_where_it_left_off(
    tmp_path: Path, example_brands: Brands
) -> None:
    path = tmp_path / "v1.sqlite3"
    opened_by_a_human = make_event("open", message_id="m-1", campaign="spring")
    opened_by_mpp = make_event("open", message_id="m-2", campaign="spring", agent="mpp")
    orphan_conversion = make_event("conversion", click_id="clk-late", value=42.0, message_id="")
    unsubscribe = make_event("unsubscribe", recipient="hash-r", message_id="m-3")
    old = [opened_by_a_human, opened_by_mpp, orphan_conversion, unsubscribe]
    write_v1_store(path, example_brands, old)

    store = SQLiteStore(path, example_brands)
    await store.open()
    try:
        assert user_version(path) == SCHEMA_VERSION
        assert sorted(await store.event_ids()) == sorted(e.id for e in old)
        # Writing the stored events again counts nothing: the ids survived.
        again = await store.write(old)
        assert (again.inserted, again.duplicates) == (0, len(old))

        # The markers were rebuilt: a message opened before is no unique again, in any
        # scope it already had; a scope it lacked is.
        await store.write(
            [
                make_event("open", message_id="m-1", campaign="spring"),
                make_event("open", message_id="m-2", campaign="spring", agent="mpp"),
                make_event("open", message_id="m-2", campaign="spring"),
                make_event("open", message_id="m-9", campaign="spring"),
            ]
        )
        (opens,) = [r for r in await store.rollups("northjobs") if r.type == "open"]
        # Only the new rows are in the rollups (the first schema's rollups table was empty).
        assert (opens.all, opens.unique_all, opens.unique_human, opens.unique_mpp) == (4, 1, 2, 0)

        # The old conversion was pending: its click arriving now attributes it.
        click = make_event(
            "click", campaign="fall", job_source="indeed", click_id="clk-late", message_id="m-7"
        )
        await store.write([click])
        report = await store.compact()
        assert report.conversions_attributed == 1
        (conversion,) = await store.find_events("northjobs", event_type="conversion")
        assert (conversion.id, conversion.campaign, conversion.job_source) == (
            orphan_conversion.id, "fall", "indeed",
        )  # fmt: skip
        assert conversion.message_id == "m-7"
        # The upgrade keeps the suppressions.
        assert await store.is_suppressed("northjobs", "hash-r")
    finally:
        await store.close()


async def test_an_upgraded_store_opens_again_without_change(
    tmp_path: Path, example_brands: Brands
) -> None:
    path = tmp_path / "v1.sqlite3"
    write_v1_store(path, example_brands, [make_event("open")])
    for _ in range(2):
        store = SQLiteStore(path, example_brands)
        await store.open()
        try:
            assert await store.count_events() == 1
        finally:
            await store.close()
    assert user_version(path) == SCHEMA_VERSION


async def test_a_store_written_by_a_newer_tracer_is_refused(
    tmp_path: Path, example_brands: Brands
) -> None:
    path = tmp_path / "newer.sqlite3"
    store = SQLiteStore(path, example_brands)
    await store.open()
    await store.write([make_event("open")])
    await store.close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()

    store = SQLiteStore(path, example_brands)
    with pytest.raises(StoreSchemaError, match=rf"{path.name}.*newer than this Tracer's"):
        await store.open()
    await store.close()
    # Nothing was changed.
    assert user_version(path) == SCHEMA_VERSION + 1


async def test_a_database_that_is_not_a_tracer_store_is_refused(
    tmp_path: Path, example_brands: Brands
) -> None:
    path = tmp_path / "foreign.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT)")
    conn.execute("INSERT INTO events (what) VALUES ('keep me')")
    conn.commit()
    conn.close()

    store = SQLiteStore(path, example_brands)
    with pytest.raises(StoreSchemaError, match="not a Tracer store"):
        await store.open()
    await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT what FROM events").fetchall() == [("keep me",)]
    conn.close()
