"""Batcher benchmark: events per second from Redis into the store, the batcher's CPU per
1,000 events, and the edge-to-store lag at a sustained rate, each next to a baseline.

    .venv/bin/python -m bench.batcher [--sqlite-events 50000] [--mongo-events 1000]
                                      [--rate 5000] [--seconds 10] [--no-mongo]

Inputs are realistic: events of the 22 example brands, a message-shaped mix (every
message `sent`, 40% opened, some by Apple MPP, 10% clicked, a few unsubscribes and
conversions), the edge benchmark's mix of real user agents and client addresses, keyed
recipient hashes. Opens, clicks and unsubscribes
are queued as the edge queues them: raw hits in hit batches of 64 (an edge flush), opens
with their sealed token, clicks with their decrypted payload, the full client address in
X-Forwarded-For behind a trusted proxy; so the batcher does its whole enrichment (opens
the tokens, finds the addresses, classifies, derives client info and the country from a
generated GeoIP database, truncates, builds and encodes the events). One row runs
without client info, and the client info's own cost per hit is measured apart, cold and
warm (`bench/enrichment.py`).
`sent` and `conversion` events are queued as events, as the admin API does. Every run
starts from an empty store and a queue filled beforehand over 8 shards, so the
throughput is the batcher's. Baseline: the store's own bulk write of the same events,
already enriched and decoded, with no Redis in between (the ceiling the batcher
approaches).

CPU is this process's user+system time (the batcher's event loop and the SQLite
thread), not redis-server's. MongoDB figures come from mongoeco's wire server, a Python
stand-in: they measure the driver path, *not* what mongod would do.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis
import uvloop

from batcher.config import BatcherConfig
from batcher.enrich import Enricher
from batcher.main import redis_client
from batcher.worker import Batcher, BatchReport
from bench.enrichment import measure_enrichment, realistic_client
from bench.enrichment import render as render_enrichment
from bench.mongoeco import MongoEcoError, MongoEcoServer
from tracer import events as event_codec
from tracer import hits, redis_keys
from tracer.brands import Brands, load_brands
from tracer.enrichment import NO_FIELDS, ClientEnricher, ClientFields
from tracer.events import Event, EventIds
from tracer.geo import GeoIP
from tracer.keyring import KeyRing, new_keyring
from tracer.redis_server import RedisServer
from tracer.runtime import tune_garbage_collector
from tracer.settings import DEFAULT_CONFIG
from tracer.store import EventStore
from tracer.store.mongo import MongoStore
from tracer.store.sqlite import SQLiteStore
from tracer.tokens import CLICK, OPEN, UNSUBSCRIBE, LinkPayload, TokenCodec

SHARDS = 8
BATCH_SIZES = (100, 1_000, 5_000)
USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.6422.165 Mobile Safari/537.36",
)
# Raw hits per hit batch: an edge worker's 2 ms flush under load.
HITS_PER_FLUSH = 64
PROXY = "127.0.0.1"  # the trusted proxy in front of the edge (the default trusted_proxies)
CAMPAIGNS = ("daily-alert", "weekly-digest", "apply-reminder", "reengage-90d", "new-jobs-near")


# --- realistic input --------------------------------------------------------------------
def message_events(brands: Brands, count: int, seed: int = 7, now: float | None = None):
    """About `count` events shaped like real messages' lives, in time order."""
    rng = random.Random(seed)
    ids = EventIds()
    now = time.time() if now is None else now
    out: list[Event] = []
    brand_list = list(brands)
    while len(out) < count:
        brand = rng.choice(brand_list)
        sources = list(brand.cpc) or ["direct"]
        common = {
            "brand": brand.id,
            "message_id": f"msg-{rng.getrandbits(48):012x}",
            "campaign": rng.choice(CAMPAIGNS),
            "job_source": rng.choice(sources),
            "recipient": f"{rng.getrandbits(128):032x}"[:22],
            "host": brand.primary_host,
        }
        ts = now - rng.uniform(0, 3_600)
        out.append(Event(id=ids.next(ts), type="sent", ts=ts, **common))
        if rng.random() < 0.4:
            for _ in range(rng.choice((1, 1, 2, 3))):
                mpp = rng.random() < 0.25
                ts += rng.uniform(1, 600)
                ua, ip = realistic_client("open", rng)
                out.append(Event(
                    id=ids.next(ts), type="open", ts=ts, position="footer",
                    ip=_apple_address(rng) if mpp else ip,
                    ua=rng.choice(USER_AGENTS) if mpp else ua,
                    agent="mpp" if mpp else "human", bot=mpp,
                    reasons=["apple-mpp"] if mpp else [], **common,
                ))  # fmt: skip
        if rng.random() < 0.1:
            ts += rng.uniform(1, 600)
            click_id = ids.next(ts)
            ua, ip = realistic_client("click", rng)
            out.append(Event(
                id=click_id, type="click", ts=ts, link=rng.randrange(12), click_id=click_id,
                url=f"https://{brand.id}.example/jobs/{rng.randrange(10**6)}?src=email",
                ip=ip, ua=ua, **common,
            ))  # fmt: skip
            if rng.random() < 0.05:
                ts += rng.uniform(60, 3_600)
                out.append(Event(id=ids.next(ts), type="conversion", ts=ts, click_id=click_id,
                                 value=25.0, currency=brand.currency, brand=brand.id))  # fmt: skip
        if rng.random() < 0.01:
            ts += rng.uniform(1, 600)
            out.append(Event(id=ids.next(ts), type="unsubscribe", ts=ts, method="POST", **common))
    return out[:count]


class Queued:
    """A message-shaped mix as the queue holds it: entries (hit batches and events) and the
    events the batcher should make of them (for the baseline and the checks)."""

    def __init__(
        self,
        brands: Brands,
        keyring: KeyRing,
        events: list[Event],
        clients: ClientEnricher | None = None,
    ) -> None:
        rng = random.Random(3)
        codec = TokenCodec(keyring)
        kinds = {"open": OPEN, "click": CLICK, "unsubscribe": UNSUBSCRIBE}
        self.keyring = keyring
        self.entries: list[bytes] = []
        pending: list[bytes] = []
        for event in events:
            kind = kinds.get(event.type)
            if kind is None:
                self.entries.append(event_codec.encode(event))
                continue
            payload = LinkPayload(
                kind=kind, brand=event.brand, message_id=event.message_id,
                issued=int(event.ts - rng.uniform(60, 3_600)), url=event.url, link=event.link,
                campaign=event.campaign, job_source=event.job_source,
                recipient=event.recipient, position=event.position,
            )  # fmt: skip
            token = codec.seal(payload)
            route = event.type  # the edge's route names for these are the event types
            address = event.ip or _client_address(rng, event.agent)
            pending.append(hits.encode_hit_fields((
                route, event.brand, token if kind == OPEN else "",
                b"" if kind == OPEN else codec.open_plain(token)[0],
                event.ua.encode(), address.encode(), (PROXY, 41_000), event.method, event.ts,
                event.id, None, hits.ANY_SHARD,
            )))  # fmt: skip
            if len(pending) == HITS_PER_FLUSH:
                self.entries.append(hits.frame(pending))
                pending = []
        if pending:
            self.entries.append(hits.frame(pending))
        enrich = Enricher(brands, keyring, PROXY + "/32", clients=clients)
        self.events: list[Event] = []
        for entry in self.entries:
            queued = hits.decode_queued(entry)
            if isinstance(queued, Event):
                self.events.append(queued)
            else:
                self.events += [e for e in map(enrich, queued) if isinstance(e, Event)]
        self.payloads = [event_codec.encode(e) for e in self.events]


def _apple_address(rng: random.Random) -> str:
    return f"17.58.{rng.randrange(256)}.{rng.randrange(256)}"


class NoClientInfo(ClientEnricher):
    """The batcher as it was before client info: no client, OS, device or country."""

    def lookup(self, brand: str, ua: str, ip: str, agent: str = "") -> ClientFields:
        return NO_FIELDS


def _client_address(rng: random.Random, agent: str) -> str:
    if agent == "mpp":
        return f"17.58.{rng.randrange(256)}.{rng.randrange(256)}"
    if rng.random() < 0.2:
        return f"2001:db8:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
    return ".".join(str(rng.randrange(1, 224) if i == 0 else rng.randrange(256)) for i in range(4))


def fill(url: str, payloads: Sequence[bytes], shards: int) -> None:
    client = redis.Redis.from_url(url)
    try:
        for start in range(0, len(payloads), 10_000):
            pipe = client.pipeline(transaction=False)
            for index in range(start, min(start + 10_000, len(payloads))):
                pipe.rpush(redis_keys.event_shard(index % shards), payloads[index])
            pipe.execute()
    finally:
        client.close()


# --- throughput ---------------------------------------------------------------------------
@dataclass
class Throughput:
    store: str
    batch: int
    events: int
    batcher_per_s: float
    store_only_per_s: float
    cpu_ms_per_1k: float
    # Client info and country derived in the batcher ("on"), or not ("off").
    enrichment: str = "on"


async def through_batcher(
    url: str,
    store: EventStore,
    brands: Brands,
    queued: Queued,
    batch: int,
    shards: int,
    clients: ClientEnricher | None = None,
) -> tuple[float, float]:
    """(events/s, CPU ms per 1,000 events) of one burst drain of `queued`."""
    fill(url, queued.entries, shards)
    expected = len(queued.events)
    client = redis_client(url)
    config = BatcherConfig(batch_max_events=batch, periodic_jobs=False, idle_poll_s=0.001)
    batcher = Batcher(client, store, brands, shards=shards, config=config,
                      keyring=queued.keyring, trusted_proxies=PROXY + "/32",
                      enricher=clients)  # fmt: skip
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        stats = await batcher.run(burst=True)
    finally:
        await client.aclose()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    # A write retried after a timeout may find its events already stored: still once each.
    assert stats.inserted + stats.duplicates == expected, stats
    assert await store.count_events() == expected
    return expected / wall, cpu / expected * 1e6


async def store_only(store: EventStore, events: Sequence[Event], payloads, batch: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(events), batch):
        await store.write(events[start : start + batch], payloads[start : start + batch])
    return len(events) / (time.perf_counter() - started)


async def measure(
    kind, url, make_store, brands, queued: Queued, batch, shards, clients=None, variant=""
) -> Throughput:
    """`variant` names the run's stores apart from other runs of the same kind and batch."""
    store = await make_store(f"{kind}-{batch}{variant}-batcher")
    try:
        per_s, cpu = await through_batcher(url, store, brands, queued, batch, shards, clients)
    finally:
        await store.close()
    store = await make_store(f"{kind}-{batch}{variant}-baseline")
    try:
        baseline = await store_only(store, queued.events, queued.payloads, batch)
    finally:
        await store.close()
    return Throughput(kind, batch, len(queued.events), per_s, baseline, cpu)


# --- lag at a sustained rate ----------------------------------------------------------------
def produce(url: str, rate: int, seconds: float, tokens: list[str], flush_s: float = 0.002) -> None:
    """The edge's shape: every `flush_s`, the open hits due so far, as one hit batch
    RPUSHed to one shard."""
    client = redis.Redis.from_url(url)
    ids = EventIds()
    encode = hits.encode_hit_fields
    ua = USER_AGENTS[0].encode()
    started = time.monotonic()
    total = int(rate * seconds)
    sent = tick = 0
    try:
        while sent < total:
            due = min(int(rate * (time.monotonic() - started)), total) - sent
            if due > 0:
                now = time.time()
                records = [
                    encode((hits.OPEN, "northjobs", tokens[(sent + i) % len(tokens)], b"", ua,
                            b"203.0.113.9", (PROXY, 41_000), "GET", now, ids.next(now), None,
                            hits.ANY_SHARD))
                    for i in range(due)
                ]  # fmt: skip
                client.rpush(redis_keys.event_shard(tick % SHARDS), hits.frame(records))
                sent += due
                tick += 1
            time.sleep(flush_s)
    finally:
        client.close()


@dataclass
class Lag:
    rate: int
    seconds: float
    events: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_percent: float


async def sustained_lag(
    url: str, store: EventStore, brands: Brands, keyring: KeyRing, rate: int, seconds: float
):
    lags: list[float] = []
    expected = int(rate * seconds)
    all_stored = asyncio.Event()

    def record(report: BatchReport) -> None:
        lags.extend(report.stored_at - event.ts for event in report.events)
        if len(lags) >= expected:
            all_stored.set()

    client = redis_client(url)
    config = BatcherConfig(batch_max_events=1_000, periodic_jobs=False)
    batcher = Batcher(client, store, brands, shards=SHARDS, config=config, on_batch=record,
                      keyring=keyring, trusted_proxies=PROXY + "/32")  # fmt: skip
    codec = TokenCodec(keyring)
    tokens = [
        codec.seal(LinkPayload(kind=OPEN, brand="northjobs", message_id=f"lag-{n}",
                               issued=int(time.time()) - 600, campaign="lag",
                               job_source="indeed", position="footer"))
        for n in range(2_000)
    ]  # fmt: skip
    producer = multiprocessing.get_context("spawn").Process(
        target=produce, args=(url, rate, seconds, tokens)
    )
    run = asyncio.create_task(batcher.run())
    cpu, wall = time.process_time(), time.perf_counter()
    producer.start()
    try:
        await asyncio.to_thread(producer.join)
        await asyncio.wait_for(all_stored.wait(), 60)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        batcher.request_stop()
        await run
        await client.aclose()
        producer.join()
    ordered = sorted(lags)
    return Lag(
        rate, seconds, len(ordered),
        p50_ms=statistics.median(ordered) * 1e3,
        p99_ms=ordered[int(len(ordered) * 0.99)] * 1e3,
        max_ms=ordered[-1] * 1e3,
        cpu_percent=cpu / wall * 100,
    )  # fmt: skip


# --- driver ---------------------------------------------------------------------------------
async def run_all(args: argparse.Namespace, workdir: Path):
    """(throughput rows, lag, client info's cost)."""
    brands = load_brands(DEFAULT_CONFIG)
    results: list[Throughput] = []
    geoip_path = country_database(workdir)
    geoip = GeoIP(geoip_path) if geoip_path is not None else None
    clients = ClientEnricher(brands, geoip)
    with RedisServer(workdir / "redis", persistent=False) as redis_server:
        url = redis_server.url
        keyring = new_keyring()
        events = message_events(brands, args.sqlite_events)
        queued = Queued(brands, keyring, events, clients)
        print("  client info cost ...", flush=True)
        cost = measure_enrichment(brands, events, geoip_path)
        # As `tracer batcher` does once started; here it also keeps the benchmark's own
        # data set (which a batcher does not hold) out of the collector's way.
        tune_garbage_collector()

        async def sqlite(name: str) -> EventStore:
            store = SQLiteStore(workdir / f"{name}.sqlite3", brands)
            await store.open()
            return store

        for batch in BATCH_SIZES:
            print(f"  sqlite, batch {batch} ...", flush=True)
            results.append(
                await measure("sqlite", url, sqlite, brands, queued, batch, SHARDS, clients)
            )
        print("  sqlite, batch 1000, no client info ...", flush=True)
        plain = Queued(brands, keyring, events, NoClientInfo(brands))
        off = await measure("sqlite", url, sqlite, brands, plain, 1_000, SHARDS,
                            NoClientInfo(brands), variant="-plain")  # fmt: skip
        off.enrichment = "off"
        results.append(off)
        if not args.no_mongo:
            results += await mongo_runs(args, url, brands, keyring, workdir)
        lag = None
        if args.seconds > 0:
            print(f"  lag at {args.rate}/s for {args.seconds:g}s (sqlite) ...", flush=True)
            store = await sqlite("lag")
            try:
                lag = await sustained_lag(url, store, brands, keyring, args.rate, args.seconds)
            finally:
                await store.close()
    if geoip is not None:
        geoip.close()
    return results, lag, cost


def country_database(workdir: Path) -> Path | None:
    """A GeoIP country database of ~20,000 networks for the enrichment step, built with
    mmdb-writer (a dev dependency; without it, client info only)."""
    try:
        from bench.geoip import world_networks, write_country_db
    except ImportError:
        print("  no mmdb-writer: enrichment without countries", flush=True)
        return None
    return write_country_db(workdir / "countries.mmdb", world_networks())


async def mongo_runs(
    args, url: str, brands: Brands, keyring: KeyRing, workdir: Path
) -> list[Throughput]:
    try:
        server = MongoEcoServer().start()
    except MongoEcoError as exc:
        print(f"  mongodb skipped: {exc}", flush=True)
        return []
    try:
        queued = Queued(brands, keyring, message_events(brands, args.mongo_events, seed=11))

        async def mongo(name: str) -> EventStore:
            # mongoeco serves one request at a time, so a large insert leaves pymongo's
            # heartbeat unanswered; generous timeouts keep the driver from giving up.
            database = f"bench_{name}".replace("-", "_")
            url = server.url(database=database, connectTimeoutMS=120_000,
                             socketTimeoutMS=300_000)  # fmt: skip
            store = MongoStore(url, brands)
            await store.open()
            return store

        results = []
        for batch in BATCH_SIZES:
            print(f"  mongodb (mongoeco), batch {batch} ...", flush=True)
            # One shard, so that a batch really holds up to `batch` events.
            results.append(await measure("mongoeco", url, mongo, brands, queued, batch,
                                         shards=1))  # fmt: skip
        return results
    finally:
        server.stop()


def render(results: list[Throughput], lag: Lag | None, load: str, cost=None) -> str:
    lines = [
        "",
        "Batcher: Redis -> store, burst drain of a pre-filled queue (one process, this machine)",
        f"  {os.cpu_count()} CPU(s); load average at start {load} (other work slows every figure)",
        f"{'store':<28}{'batch':>7}{'events':>9}{'batcher ev/s':>15}"
        f"{'baseline ev/s':>16}{'CPU ms/1k ev':>15}{'ev/CPU-s':>11}",
    ]
    for r in results:
        label = "sqlite (WAL)" if r.store == "sqlite" else "mongodb via mongoeco *"
        if r.enrichment == "off":
            label += ", no client info"
        lines.append(
            f"{label:<28}{r.batch:>7}{r.events:>9}{r.batcher_per_s:>15,.0f}"
            f"{r.store_only_per_s:>16,.0f}{r.cpu_ms_per_1k:>15.1f}"
            f"{1e6 / r.cpu_ms_per_1k:>11,.0f}"
        )
    lines += [
        "  raw hits enriched by the batcher (tokens opened, addresses, classification, client",
        "  info and country from a ~20,000-network GeoIP database) unless the row says not",
        "  baseline = the store's own bulk write of the same events, enriched, no Redis",
        "  * mongoeco is a Python MongoDB wire stand-in, NOT mongod: says nothing of mongod",
    ]
    if lag is not None:
        lines += [
            "",
            f"Lag edge -> store at {lag.rate:,} events/s for {lag.seconds:g}s "
            f"(sqlite, batches up to 1,000): {lag.events:,} events",
            f"  p50 {lag.p50_ms:.1f} ms   p99 {lag.p99_ms:.1f} ms   max {lag.max_ms:.1f} ms"
            f"   batcher CPU {lag.cpu_percent:.0f}% of one core",
            "  baseline: the edge's own flush interval, 2 ms",
        ]
    if cost is not None:
        lines += render_enrichment(cost, with_country=cost.lookup_us > 0)
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    quick = os.environ.get("BENCH_QUICK") == "1"
    parser = argparse.ArgumentParser(prog="python -m bench.batcher", description=__doc__)
    parser.add_argument("--sqlite-events", type=int, default=20_000 if quick else 50_000)
    parser.add_argument("--mongo-events", type=int, default=300 if quick else 1_000)
    parser.add_argument("--rate", type=int, default=5_000, help="events/s for the lag test")
    parser.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get("BENCH_DURATION_S") or (5 if quick else 10)),
        help="duration of the lag test (0 skips it)",
    )
    parser.add_argument("--no-mongo", action="store_true", help="skip the MongoDB runs")
    args = parser.parse_args(argv)
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="tracer-bench-batcher-") as workdir:
        results, lag, cost = uvloop.run(run_all(args, Path(workdir)))
    sys.stdout.write(render(results, lag, load, cost))
    return 0


if __name__ == "__main__":
    sys.exit(main())
