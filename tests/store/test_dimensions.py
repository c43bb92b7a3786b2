"""Rollups by client, OS, device and country, against SQLite and MongoDB alike."""

from __future__ import annotations

import pytest

from tests.store.events import make_event
from tracer.store import EventStore

DAY = 86_400.0
MAY_28 = 1_779_926_400.0  # 2026-05-28 00:00 UTC


def reader(client: str, device: str, country: str, os: str = "iOS", **fields: object):
    return {"client": client, "device": device, "country": country, "os": os, **fields}


class TestDimensionRollups:
    async def test_hits_per_client_device_and_country_human_and_all(
        self, store: EventStore
    ) -> None:
        await store.write(
            [
                make_event("open", message_id="a", **reader("Apple Mail", "mobile", "US")),
                make_event("open", message_id="b", **reader("Apple Mail", "mobile", "CA")),
                make_event("open", message_id="c", agent="mpp", bot=True,
                           **reader("Apple Mail", "unknown", "US", os="")),
                make_event("open", message_id="d", agent="proxy",
                           **reader("Gmail", "unknown", "", os="")),
                make_event("click", message_id="a", **reader("Mobile Safari", "mobile", "US")),
                make_event("click", message_id="e", agent="scanner", bot=True,
                           **reader("BingPreview", "unknown", "IE", os="Windows")),
                # Not hits: nothing to count.
                make_event("sent", message_id="a"),
            ]
        )  # fmt: skip

        clients = (await store.dimension_stats("northjobs", "client")).to_json_dict()
        assert list(clients) == ["Apple Mail", "BingPreview", "Gmail", "Mobile Safari"]
        assert clients["Apple Mail"]["open"] == {"all": 3, "human": 2}
        # Image-proxy opens are people by northjobs' default bot policy.
        assert clients["Gmail"]["open"] == {"all": 1, "human": 1}
        assert clients["BingPreview"]["click"] == {"all": 1, "human": 0}
        assert clients["Mobile Safari"]["click"] == {"all": 1, "human": 1}
        devices = (await store.dimension_stats("northjobs", "device")).to_json_dict()
        assert devices["mobile"]["open"] == {"all": 2, "human": 2}
        assert devices["unknown"]["open"] == {"all": 2, "human": 1}
        countries = (await store.dimension_stats("northjobs", "country")).to_json_dict()
        assert countries["US"]["open"] == {"all": 2, "human": 1}
        assert countries["US"]["click"] == {"all": 1, "human": 1}
        # Hits without a country are counted under "", so shares add up to the total.
        assert countries[""]["open"] == {"all": 1, "human": 1}
        assert sum(v["open"]["all"] for v in countries.values()) == 4
        systems = (await store.dimension_stats("northjobs", "os")).to_json_dict()
        assert systems["iOS"]["open"]["all"] == 2

    async def test_a_batch_written_again_counts_nothing_twice(self, store: EventStore) -> None:
        events = [make_event("open", message_id=f"m-{i}", **reader("Outlook", "desktop", "DE"))
                  for i in range(30)]  # fmt: skip
        await store.write(events[:20])
        await store.write(events)
        await store.write(events[5:25])

        clients = (await store.dimension_stats("northjobs", "client")).to_json_dict()
        assert clients == {
            "Outlook": {"open": {"all": 30, "human": 30}, "click": {"all": 0, "human": 0},
                        "unsubscribe_view": {"all": 0, "human": 0},
                        "unsubscribe": {"all": 0, "human": 0}},
        }  # fmt: skip

    async def test_narrowed_to_campaign_job_source_and_days(self, store: EventStore) -> None:
        await store.write(
            [
                make_event("open", ts=MAY_28, campaign="spring", job_source="indeed",
                           **reader("Apple Mail", "mobile", "US")),
                make_event("open", ts=MAY_28 + DAY, campaign="spring", job_source="direct",
                           **reader("Outlook", "desktop", "US")),
                make_event("open", ts=MAY_28 + DAY, campaign="summer", job_source="indeed",
                           **reader("Gmail", "unknown", "US")),
            ]
        )  # fmt: skip

        async def clients(**filters: str) -> list[str]:
            stats = await store.dimension_stats("northjobs", "client", **filters)
            return [entry.value for entry in stats.values]

        assert await clients(campaign="spring") == ["Apple Mail", "Outlook"]
        assert await clients(job_source="indeed") == ["Apple Mail", "Gmail"]
        assert await clients(campaign="spring", job_source="direct") == ["Outlook"]
        assert await clients(day_from="2026-05-29") == ["Gmail", "Outlook"]
        assert await clients(day_to="2026-05-28") == ["Apple Mail"]
        assert await clients(campaign="autumn") == []

    async def test_brands_are_kept_apart(self, store: EventStore) -> None:
        await store.write(
            [
                make_event("open", "northjobs", **reader("Apple Mail", "mobile", "US")),
                make_event("open", "coastlinejobs", **reader("Outlook", "desktop", "GB")),
            ]
        )
        north = await store.dimension_stats("northjobs", "country")
        assert [entry.value for entry in north.values] == ["US"]

    async def test_stored_events_can_be_taken_away_and_added_back(self, store: EventStore) -> None:
        """What a recomputation (reclassification) does: subtract the old events' counts,
        add the new ones'."""
        old = [make_event("open", message_id=f"m-{i}", **reader("Other", "unknown", ""))
               for i in range(4)]  # fmt: skip
        await store.write(old)
        new = [
            make_event("open", message_id=e.message_id, **reader("Apple Mail", "mobile", "US"))
            for e in old
        ]

        await store.roll_up_dimensions(old, sign=-1)
        await store.roll_up_dimensions(new, sign=1)

        clients = (await store.dimension_stats("northjobs", "client")).to_json_dict()
        assert list(clients) == ["Apple Mail"]
        assert clients["Apple Mail"]["open"] == {"all": 4, "human": 4}

    async def test_unknown_dimension_is_refused(self, store: EventStore) -> None:
        with pytest.raises(ValueError, match="unknown dimension 'browser'"):
            await store.dimension_stats("northjobs", "browser")
