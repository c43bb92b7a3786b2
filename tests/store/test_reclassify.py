"""Reclassifying stored history on each backend: verdicts rewritten, and the rollups and
unique counts left exactly as if the events had been stored with the new verdicts.

The oracle is a second, fresh store written with the events as today's classifier sees
them: after `tracer reclassify`, the first store must hold the same verdicts, rollup rows
and stats.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cli.commands.reclassify import Progress, Tally, replay_all
from tests.store.backends import FAST_FAILURE, drop_database, with_database
from tests.store.events import make_event
from tracer.brands import Brands
from tracer.classify.replay import Replay
from tracer.enrichment import ClientEnricher
from tracer.events import Event
from tracer.store import EventStore, mongo_reclassify
from tracer.store.mongo import MongoStore
from tracer.store.sqlite import SQLiteStore

DAY = 86_400.0
T0 = 1_790_000_000.0  # a day boundary is crossed between the events below
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
OUTLOOK = (
    "Microsoft Office/16.0 (Microsoft Outlook 16.0.12329; Pro), Mozilla/4.0 (compatible; "
    "ms-office; MSOffice 16)"
)
RESIDENTIAL = "93.184.216.0"  # stored truncated to /24, as the brand's privacy says


def stale(type: str, message: str, ts: float, ua: str, agent: str, *reasons: str, **fields):
    """An event as an older classifier stored it (its verdict is the one given), with the
    client details the batcher derived from its user agent and that verdict."""
    client = ClientEnricher().lookup("northjobs", ua, "", agent)
    for name in ("client", "client_type", "os", "device"):
        fields.setdefault(name, getattr(client, name))
    fields.setdefault("ip", RESIDENTIAL)
    fields.setdefault("campaign", "spring")
    fields.setdefault("job_source", "indeed")
    fields.setdefault("sent_ts", ts - 3600.0)
    return make_event(
        type, message_id=message, ts=ts, ua=ua, agent=agent, reasons=list(reasons),
        bot=agent not in ("human", "proxy"), **fields,
    )  # fmt: skip


def history() -> list[Event]:
    events = [
        # Outlook desktop's opens were thrown away as a link check; the first one of m-1
        # becomes its first human open (the unique moves to day 1)
        stale("open", "m-1", T0 + 10, OUTLOOK, "scanner", "ua:ms-office-link-check"),
        stale("open", "m-1", T0 + DAY + 10, CHROME, "human", "no_signal"),
        # A crawler counted as a person: its click (and its revenue) leave the human counts
        stale("click", "m-2", T0 + 20, "echocrawl 2.0", "human", "no_signal", link=1),
        stale(
            "click", "m-2", T0 + 2 * DAY, CHROME, "human", "no_signal", link=2, job_source="jobg8"
        ),
        # A Defender detonation from Microsoft's address space 5 s after sending
        stale(
            "click", "m-3", T0 + 30, CHROME, "human", "no_signal", ip="40.94.12.0", sent_ts=T0 + 25
        ),
        # MPP prefetches: one already right, one stored as a person
        stale(
            "open",
            "m-4",
            T0 + 40,
            "Mozilla/5.0",
            "mpp",
            "net:apple",
            "ua:apple-mpp",
            ip="17.58.63.0",
        ),
        stale("open", "m-5", T0 + 50, "Mozilla/5.0", "human", "no_signal"),
        # A script on the unsubscribe page
        stale("unsubscribe_view", "m-6", T0 + 60, "curl/8.5.0", "human", "no_signal"),
        # A person, stored right: nothing moves
        stale("click", "m-7", T0 + 70, CHROME, "human", "no_signal", link=0),
    ]
    return sorted(events, key=lambda e: e.id)


def as_today(events: list[Event], brands: Brands) -> list[Event]:
    outcome = Replay.for_brand(brands.get("northjobs"))(events)
    changed = {new.id: new for _, new in outcome.changed}
    return [changed.get(e.id, e) for e in events]


@pytest.fixture
async def oracle(
    store_kind: str, request: pytest.FixtureRequest, tmp_path: Path, example_brands: Brands
) -> AsyncIterator[EventStore]:
    """A fresh store of the same backend, for the events written with today's verdicts."""
    if store_kind == "sqlite":
        store: EventStore = SQLiteStore(tmp_path / "oracle.sqlite3", example_brands)
        database = ""
    else:
        base = request.getfixturevalue("mongo_base_url")
        database = f"tracer_oracle_{uuid.uuid4().hex[:12]}"
        store = MongoStore(with_database(base, database, **FAST_FAILURE), example_brands)
    await store.open()
    yield store
    await store.close()
    if database:
        drop_database(request.getfixturevalue("mongo_base_url"), database)


async def reclassify(store: EventStore, brands: Brands, batch: int = 3) -> Tally:
    tally = Tally()
    brand = brands.get("northjobs")
    await replay_all(store, brand, 0.0, batch, False, tally, Progress(0, io.StringIO()))
    return tally


def rows(rollups) -> list[tuple]:
    return sorted(
        (r.campaign, r.job_source, r.day, r.type, r.all, r.human, r.unique_all,
         r.unique_human, r.unique_mpp, round(r.revenue, 6))
        for r in rollups
    )  # fmt: skip


async def verdicts(store: EventStore) -> dict[str, tuple]:
    found = await store.find_events("northjobs", limit=1000)
    return {e.id: (e.agent, tuple(e.reasons), e.bot) for e in found}


async def test_rollups_and_uniques_match_a_store_written_with_the_new_verdicts(
    store: EventStore, oracle: EventStore, example_brands: Brands
) -> None:
    events = history()
    await store.write(events)
    await oracle.write(as_today(events, example_brands))
    before = rows(await store.rollups("northjobs"))
    assert before != rows(await oracle.rollups("northjobs"))  # the history is stale

    tally = await reclassify(store, example_brands)

    assert tally.scanned == len(events) and tally.changed == 5
    assert await verdicts(store) == await verdicts(oracle)
    assert rows(await store.rollups("northjobs")) == rows(await oracle.rollups("northjobs"))
    assert (await store.stats("northjobs")).to_json_dict() == (
        await oracle.stats("northjobs")
    ).to_json_dict()
    for dimension in ("client", "device"):
        assert (await store.dimension_stats("northjobs", dimension)).to_json_dict() == (
            await oracle.dimension_stats("northjobs", dimension)
        ).to_json_dict()


async def test_events_stored_before_client_info_get_it_and_their_rollups_move(
    store: EventStore, oracle: EventStore, example_brands: Brands
) -> None:
    """1. Hits stored before client details existed (no client, OS or device).
    2. `reclassify`. Result: each gets the details parsed from its stored user agent, and
    the rollups by client and device match a store written with them."""
    bare = {"client": "", "client_type": "", "os": "", "device": "unknown"}
    events = [
        stale("open", "m-1", T0 + 10, OUTLOOK, "human", "no_signal", **bare),
        stale("click", "m-2", T0 + 20, CHROME, "human", "no_signal", **bare),
        stale("click", "m-3", T0 + 30, "curl/8.5.0", "bot", "ua:curl", **bare),
    ]
    await store.write(events)
    await oracle.write(as_today(events, example_brands))

    tally = await reclassify(store, example_brands)

    assert tally.changed == 3
    found = {e.message_id: (e.client, e.client_type, e.os, e.device)
             for e in await store.find_events("northjobs", limit=10)}  # fmt: skip
    assert found == {
        "m-1": ("Outlook", "mail", "", "desktop"),  # its string names no OS
        "m-2": ("Chrome", "browser", "Windows", "desktop"),
        "m-3": ("curl", "robot", "", "unknown"),
    }
    for dimension in ("client", "os", "device"):
        assert (await store.dimension_stats("northjobs", dimension)).to_json_dict() == (
            await oracle.dimension_stats("northjobs", dimension)
        ).to_json_dict()


async def test_the_verdicts_it_writes_are_todays(store: EventStore, example_brands: Brands) -> None:
    await store.write(history())
    await reclassify(store, example_brands)
    found = {(e.message_id, e.type, e.ua[:12]): (e.agent, e.reasons) for e in
             await store.find_events("northjobs", limit=100)}  # fmt: skip
    assert found["m-1", "open", OUTLOOK[:12]] == ("human", ["no_signal"])
    assert found["m-2", "click", "echocrawl 2."][0] == "bot"
    assert found["m-3", "click", CHROME[:12]] == ("scanner", ["cloud-scan:microsoft-registry"])
    assert found["m-5", "open", "Mozilla/5.0"] == ("mpp", ["ua:apple-mpp"])
    assert found["m-6", "unsubscribe_view", "curl/8.5.0"] == ("bot", ["ua:curl"])


async def test_a_second_run_changes_nothing(store: EventStore, example_brands: Brands) -> None:
    await store.write(history())
    await reclassify(store, example_brands)
    after_first = rows(await store.rollups("northjobs"))
    again = await reclassify(store, example_brands, batch=100)
    assert again.changed == 0 and again.scanned == len(history())
    assert rows(await store.rollups("northjobs")) == after_first


async def test_since_leaves_older_events_alone(store: EventStore, example_brands: Brands) -> None:
    events = history()
    await store.write(events)
    tally = Tally()
    brand = example_brands.get("northjobs")
    await replay_all(store, brand, T0 + DAY, 10, False, tally, Progress(0, io.StringIO()))
    assert tally.scanned == 2  # m-1's second open and m-2's second click
    stored = await verdicts(store)
    assert stored[events[0].id][0] == "scanner"  # day 1's Outlook open: not reread


async def test_a_dry_run_writes_nothing(store: EventStore, example_brands: Brands) -> None:
    await store.write(history())
    before = (rows(await store.rollups("northjobs")), await verdicts(store))
    tally = Tally()
    brand = example_brands.get("northjobs")
    await replay_all(store, brand, 0.0, 4, True, tally, Progress(0, io.StringIO()))
    assert tally.changed == 5
    assert tally.after["open", "human"] == tally.before["open", "human"]  # +1 -1
    assert (rows(await store.rollups("northjobs")), await verdicts(store)) == before


@pytest.mark.parametrize("store_kind", ["mongo"])
async def test_mongo_completes_a_batch_a_crash_interrupted(
    store: EventStore, oracle: EventStore, example_brands: Brands, store_kind: str
) -> None:
    """1. A batch's journal is saved, then the process dies before applying it.
    2. Another batch is applied whole, but the process dies before deleting its journal.
    Result: the next run completes the first and re-applying the second moves nothing."""
    events = history()
    await store.write(events)
    await oracle.write(as_today(events, example_brands))
    outcome = Replay.for_brand(example_brands.get("northjobs"))(events)
    first, second = outcome.changed[:3], outcome.changed[3:]
    await mongo_reclassify._journal_of(store, first, store._policy)  # 1: saved, not applied
    journal = await mongo_reclassify._journal_of(store, second, store._policy)
    await mongo_reclassify._carry_out(store, journal)
    await store._journal.insert_one(journal)  # 2: applied, journal still there

    assert await store.finish_reclassification("northjobs") == 2
    assert await store.finish_reclassification("northjobs") == 0
    assert (await reclassify(store, example_brands)).changed == 0
    assert rows(await store.rollups("northjobs")) == rows(await oracle.rollups("northjobs"))
    assert await verdicts(store) == await verdicts(oracle)
