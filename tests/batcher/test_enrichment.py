"""The batcher's enrichment step on a real redis-server, against each store backend:
hits are stored and handed to webhooks with their client fields and country."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
import redis

from batcher.worker import Batcher
from bench.geoip import write_country_db
from tests.batcher.helpers import SHARDS, push
from tests.store.events import make_event
from tracer import events as event_codec
from tracer import redis_keys
from tracer.brands import Brands
from tracer.enrichment import ClientEnricher, ClientFields
from tracer.geo import GeoIP
from tracer.store import EventStore
from tracer.webhooks import decode_job

MakeBatcher = Callable[..., Batcher]
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.6422.165 Mobile Safari/537.36"
)


class TestEnrichment:
    async def test_hits_are_stored_and_sent_with_client_and_country(
        self, store: EventStore, make_batcher: MakeBatcher, redis_client: redis.Redis,
        example_brands: Brands, tmp_path: Path,
    ) -> None:  # fmt: skip
        geoip = GeoIP(write_country_db(tmp_path / "countries.mmdb"))
        sent = make_event("sent", message_id="a")
        outlook = make_event("open", message_id="a", ua=OUTLOOK, ip="203.0.113.0")
        gmail = make_event("open", message_id="b", ua=GMAIL, ip="198.51.100.0", agent="proxy")
        phone = make_event("click", message_id="a", ua=ANDROID_CHROME, ip="73.12.0.0")
        # Events of another brand whose privacy settings turn both off.
        private = make_event("open", "nordlys-jobb", message_id="c", ua=OUTLOOK,
                             ip="192.0.0.0")  # fmt: skip
        push(redis_client, [sent, outlook, gmail, phone, private])

        batcher = make_batcher(store, enricher=ClientEnricher(example_brands, geoip))
        try:
            await batcher.run(burst=True)
        finally:
            geoip.close()

        stored = {e.id: e for e in await store.find_events("northjobs", limit=10)}
        fields = lambda e: (e.client, e.client_type, e.os, e.device, e.country)  # noqa: E731
        assert fields(stored[outlook.id]) == ("Outlook", "mail", "Windows", "desktop", "AU")
        assert fields(stored[gmail.id]) == ("Gmail", "webmail", "", "unknown", "CA")
        assert fields(stored[phone.id]) == ("Chrome Mobile", "browser", "Android", "mobile",
                                            "US")  # fmt: skip
        assert fields(stored[sent.id]) == ("", "", "", "unknown", "")
        (nordlys,) = await store.find_events("nordlys-jobb")
        assert fields(nordlys) == ("", "", "", "unknown", "")
        countries = (await store.dimension_stats("northjobs", "country")).to_json_dict()
        assert {value: entry["open"]["all"] for value, entry in countries.items()} == {
            "AU": 1, "CA": 1, "US": 0}  # fmt: skip

        jobs = [
            decode_job(raw)
            for shard in range(SHARDS)
            for raw in redis_client.lrange(redis_keys.webhook_shard(shard), 0, -1)
        ]
        delivered = {job.event.id: job.event for job in jobs}
        assert fields(delivered[outlook.id]) == fields(stored[outlook.id])
        assert fields(delivered[phone.id]) == fields(stored[phone.id])
        assert fields(delivered[sent.id]) == ("", "", "", "unknown", "")

    async def test_without_a_database_hits_get_client_info_only(
        self, store: EventStore, make_batcher: MakeBatcher, redis_client: redis.Redis
    ) -> None:
        opens = [make_event("open", message_id=f"m-{i}", ua=OUTLOOK, ip="203.0.113.0")
                 for i in range(25)]  # fmt: skip
        push(redis_client, opens)

        await make_batcher(store).run(burst=True)

        stored = await store.find_events("northjobs", limit=50)
        assert {(e.client, e.device, e.country) for e in stored} == {("Outlook", "desktop", "")}
        clients = await store.dimension_stats("northjobs", "client")
        assert [(v.value, v.of("open").all, v.of("open").human) for v in clients.values] == [
            ("Outlook", 25, 25)]  # fmt: skip

    async def test_events_queued_before_the_new_fields_still_decode_and_enrich(
        self, store: EventStore, make_batcher: MakeBatcher, redis_client: redis.Redis
    ) -> None:
        """An edge of the previous release encodes 22 fields; the batcher takes them."""
        event = make_event("open", message_id="old", ua=OUTLOOK, ip="203.0.113.0")
        old_payload = event_codec.encode(event)
        fields = msgspec.msgpack.decode(old_payload)[:22]
        push(redis_client, [msgspec.msgpack.encode(fields)])

        stats = await make_batcher(store).run(burst=True)

        assert (stats.inserted, stats.dead) == (1, 0)
        (stored,) = await store.find_events("northjobs")
        assert (stored.id, stored.client, stored.device) == (event.id, "Outlook", "desktop")


class FailingEnricher(ClientEnricher):
    """Fault injection: every lookup raises, as a bug in a rule would."""

    def lookup(self, brand: str, ua: str, ip: str, agent: str = "") -> ClientFields:
        raise RuntimeError("rule bug")


async def test_an_enrichment_failure_stores_the_event_as_it_came(
    store: EventStore, make_batcher: MakeBatcher, redis_client: redis.Redis,
    example_brands: Brands,
) -> None:  # fmt: skip
    opens = [make_event("open", message_id=f"f-{i}", ua=OUTLOOK) for i in range(5)]
    push(redis_client, opens)

    stats = await make_batcher(store, enricher=FailingEnricher(example_brands)).run(burst=True)

    assert (stats.inserted, stats.dead, stats.enrichment_failures) == (5, 0, 5)
    stored = await store.find_events("northjobs")
    assert {(e.id, e.client) for e in stored} == {(e.id, "") for e in opens}
