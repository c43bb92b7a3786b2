"""The event store contract, run against SQLite and MongoDB alike (saq-style: one class,
every backend)."""

from __future__ import annotations

import time

import pytest

from tests.store.events import make_event
from tracer.events import EVENT_TYPES
from tracer.store import EventStore

DAY = 86_400.0


class TestEventStore:
    async def test_write_is_idempotent_on_event_id(self, store: EventStore) -> None:
        events = [make_event("click", message_id=f"m-{i}", job_source="indeed") for i in range(20)]

        first = await store.write(events)
        again = await store.write(events[:10] + events)

        assert (first.inserted, first.duplicates) == (20, 0)
        assert (again.inserted, again.duplicates) == (0, 30)
        assert sorted(await store.event_ids()) == sorted(e.id for e in events)
        stats = await store.stats("northjobs")
        assert (stats.of("click").all, stats.of("click").unique_all) == (20, 20)

    async def test_counts_human_only_and_all_by_the_brands_bot_policy(
        self, store: EventStore
    ) -> None:
        # Image-proxy opens are people for northjobs, machines for coastlinejobs.
        events = []
        for brand in ("northjobs", "coastlinejobs"):
            events += [
                make_event("open", brand, message_id="a", agent="human"),
                make_event("open", brand, message_id="b", agent="proxy"),
                make_event("open", brand, message_id="c", agent="mpp", bot=True),
                make_event("click", brand, message_id="a", agent="scanner", bot=True),
            ]
        await store.write(events)

        north = (await store.stats("northjobs")).to_json_dict()
        coast = (await store.stats("coastlinejobs")).to_json_dict()
        assert north["open"]["all"] == 3 and north["open"]["human"] == 2
        assert coast["open"]["all"] == 3 and coast["open"]["human"] == 1
        assert north["click"]["all"] == 1 and north["click"]["human"] == 0
        assert set(north) == set(EVENT_TYPES)
        assert all({"all", "human"} <= set(entry) for entry in north.values())

    async def test_unique_opens_and_clicks_per_message(self, store: EventStore) -> None:
        await store.write(
            [
                make_event("open", message_id="a"),
                make_event("open", message_id="a"),
                make_event("open", message_id="b", agent="mpp", bot=True),
                make_event("open", message_id="b"),
                make_event("click", message_id="a"),
            ]
        )
        # A later batch: more opens of the same messages are not new uniques.
        await store.write([make_event("open", message_id="a"), make_event("open", message_id="c")])

        opens = (await store.stats("northjobs")).of("open")
        assert (opens.all, opens.unique_all, opens.unique_human, opens.unique_mpp) == (6, 3, 3, 1)
        assert (await store.stats("northjobs")).of("click").unique_human == 1

    async def test_mpp_adjusted_opens_apply_the_others_open_rate(self, store: EventStore) -> None:
        # 10 sent; 4 opened by Apple MPP (uninformative); of the 6 others, 3 opened.
        events = [make_event("sent", message_id=f"m{i}") for i in range(10)]
        events += [make_event("open", message_id=f"m{i}", agent="mpp", bot=True) for i in range(4)]
        events += [make_event("open", message_id=f"m{i}") for i in range(4, 7)]
        await store.write(events)

        stats = await store.stats("northjobs")
        # 3 human opens + 4 MPP messages x (3/6) = 5.
        assert stats.mpp_adjusted_opens == 5.0
        assert stats.to_json_dict()["open"]["mpp_adjusted"] == 5.0

    async def test_revenue_is_human_clicks_times_the_brands_cpc(self, store: EventStore) -> None:
        # northjobs pays 0.38 per indeed click and 1.81 per talent click.
        await store.write(
            [
                make_event("click", job_source="indeed", message_id="a"),
                make_event("click", job_source="indeed", message_id="b"),
                make_event("click", job_source="talent", message_id="c"),
                make_event("click", job_source="talent", agent="scanner", bot=True),
                make_event("click", job_source="nobody-pays", message_id="d"),
            ]
        )
        stats = await store.stats("northjobs")
        assert stats.revenue == pytest.approx(0.38 * 2 + 1.81)
        assert stats.to_json_dict()["click"]["revenue"] == pytest.approx(2.57)

    async def test_rollups_by_campaign_job_source_day_and_type(self, store: EventStore) -> None:
        day_one = 1_780_000_000.0  # 2026-05-28 UTC
        await store.write(
            [
                make_event("click", campaign="spring", job_source="indeed", ts=day_one),
                make_event("click", campaign="spring", job_source="indeed", ts=day_one + 60),
                make_event("click", campaign="spring", job_source="jobg8", ts=day_one),
                make_event("open", campaign="spring", job_source="indeed", ts=day_one + DAY),
            ]
        )
        rows = {
            (r.campaign, r.job_source, r.day, r.type): (r.all, r.human)
            for r in await store.rollups("northjobs")
        }
        assert rows == {
            ("spring", "indeed", "2026-05-28", "click"): (2, 2),
            ("spring", "jobg8", "2026-05-28", "click"): (1, 1),
            ("spring", "indeed", "2026-05-29", "open"): (1, 1),
        }
        only_second_day = await store.rollups("northjobs", day_from="2026-05-29")
        assert [r.type for r in only_second_day] == ["open"]

    async def test_conversion_is_attributed_to_its_click(self, store: EventStore) -> None:
        click = make_event(
            "click", campaign="spring", job_source="talent", click_id="clk-1", message_id="m9"
        )
        await store.write([click])
        conversion = make_event("conversion", click_id="clk-1", message_id="", value=120.0)
        await store.write([conversion])

        rows = [r for r in await store.rollups("northjobs") if r.type == "conversion"]
        assert [(r.campaign, r.job_source, r.all, r.value) for r in rows] == [
            ("spring", "talent", 1, 120.0)
        ]
        (stored,) = await store.find_events("northjobs", event_type="conversion")
        assert (stored.campaign, stored.job_source, stored.message_id) == ("spring", "talent", "m9")

    async def test_conversion_in_the_same_batch_as_its_click(self, store: EventStore) -> None:
        click = make_event("click", campaign="c1", job_source="indeed", click_id="clk-2")
        conversion = make_event("conversion", click_id="clk-2")
        await store.write([click, conversion])
        rows = [r for r in await store.rollups("northjobs") if r.type == "conversion"]
        assert [(r.campaign, r.job_source) for r in rows] == [("c1", "indeed")]

    async def test_conversion_before_its_click_is_attributed_by_compaction(
        self, store: EventStore
    ) -> None:
        await store.write([make_event("conversion", click_id="clk-3", value=5.0)])
        await store.write(
            [make_event("click", campaign="late", job_source="jobg8", click_id="clk-3")]
        )

        report = await store.compact()
        again = await store.compact()

        assert (report.conversions_attributed, again.conversions_attributed) == (1, 0)
        rows = {
            (r.campaign, r.job_source): (r.all, r.value)
            for r in await store.rollups("northjobs")
            if r.type == "conversion"
        }
        assert rows[("late", "jobg8")] == (1, 5.0)
        assert rows.get(("", ""), (0, 0.0)) == (0, 0.0)
        assert (await store.stats("northjobs")).of("conversion").all == 1

    async def test_conversion_never_crosses_brands(self, store: EventStore) -> None:
        await store.write([make_event("click", "northjobs", campaign="x", click_id="clk-4")])
        await store.write([make_event("conversion", "metrohire", click_id="clk-4")])
        rows = [r for r in await store.rollups("metrohire") if r.type == "conversion"]
        assert [(r.campaign, r.all) for r in rows] == [("", 1)]

    async def test_unsubscribe_suppresses_the_recipient_per_scope(self, store: EventStore) -> None:
        await store.write(
            [
                make_event("unsubscribe", recipient="hash-a"),
                make_event("unsubscribe", recipient="hash-a"),
                make_event("unsubscribe", recipient="hash-b", list_id="newsletter"),
                make_event("unsubscribe_view", recipient="hash-c"),
            ]
        )
        assert await store.is_suppressed("northjobs", "hash-a")
        assert await store.is_suppressed("northjobs", "hash-a", "newsletter")
        assert await store.is_suppressed("northjobs", "hash-b", "newsletter")
        assert not await store.is_suppressed("northjobs", "hash-b")
        assert not await store.is_suppressed("northjobs", "hash-b", "partner-offers")
        assert not await store.is_suppressed("northjobs", "hash-c")
        assert not await store.is_suppressed("metrohire", "hash-a")
        listed = await store.suppressions("northjobs")
        assert sorted((s.recipient, s.scope) for s in listed) == [
            ("hash-a", ""),
            ("hash-b", "newsletter"),
        ]
        assert (await store.stats("northjobs")).to_json_dict()["unsubscribe"]["suppressed"] == 2

    async def test_retention_deletes_old_events_and_keeps_rollups(self, store: EventStore) -> None:
        now = time.time()
        old = [make_event("open", ts=now - 400 * DAY, message_id=f"o{i}") for i in range(3)]
        recent = [make_event("open", ts=now - DAY)]
        other_brand = [make_event("open", "metrohire", ts=now - 400 * DAY)]
        await store.write(old + recent + other_brand)

        deleted = await store.delete_before("northjobs", now - 395 * DAY)

        assert deleted == 3
        assert await store.event_ids("northjobs") == [recent[0].id]
        assert await store.count_events("metrohire") == 1
        assert (await store.stats("northjobs")).of("open").all == 4

    async def test_find_events_newest_first_with_filters(self, store: EventStore) -> None:
        now = time.time()
        events = [make_event("open", message_id="x", ts=now - i) for i in range(5)]
        events.append(make_event("click", message_id="y", url="https://northjobs.example/j/1"))
        await store.write(events)

        found = await store.find_events("northjobs", message_id="x", limit=3)
        assert [e.id for e in found] == [e.id for e in events[:3]]
        (click,) = await store.find_events("northjobs", event_type="click")
        assert click == events[-1]
        assert await store.count_events("northjobs", "open") == 5

    async def test_events_of_an_unknown_brand_are_stored_with_default_policy(
        self, store: EventStore
    ) -> None:
        await store.write([make_event("click", "gone-brand", agent="proxy", job_source="indeed")])
        stats = await store.stats("gone-brand")
        assert (stats.of("click").all, stats.of("click").human, stats.revenue) == (1, 1, 0.0)
