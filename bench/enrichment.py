"""What the batcher's enrichment step costs: client info (and country, with a GeoIP
database) for each hit, derived while the hit's event is built.

Used by `python -m bench.batcher`, which prints these figures next to the batcher's
throughput with enrichment on and off. Cold: a fresh parser and database cache, every
distinct user agent and address parsed or looked up for the first time (a batcher just
started). Warm: the same events again, every answer cached (the steady state: real
traffic repeats a few thousand user agents).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.wrk.agents import CLICK_AGENTS, OPEN_AGENTS, Agent
from tracer import events as event_codec
from tracer.brands import Brands
from tracer.clients import ClientParser
from tracer.enrichment import ClientEnricher
from tracer.events import HIT_TYPES, Event
from tracer.geo import GeoIP

_HITS = frozenset(HIT_TYPES)


def draw_agent(agents: Sequence[Agent], rng: random.Random) -> Agent:
    return rng.choices(agents, weights=[agent.weight for agent in agents])[0]


def realistic_client(kind: str, rng: random.Random) -> tuple[str, str]:
    """(user agent, client address) of a hit, from the edge benchmark's traffic mix."""
    agent = draw_agent(OPEN_AGENTS if kind == "open" else CLICK_AGENTS, rng)
    return agent.user_agent(rng), agent.address(rng)


@dataclass
class EnrichmentCost:
    events: int
    hits: int
    distinct_agents: int
    distinct_addresses: int
    # µs per distinct string / address, first time seen.
    parse_us: float
    lookup_us: float
    # µs per event of a whole batch (hits and the rest), cold caches and warm.
    cold_per_event_us: float
    warm_per_event_us: float
    warm_per_hit_us: float


def measure_enrichment(
    brands: Brands, events: Sequence[Event], geoip_path: Path | None
) -> EnrichmentCost:
    hits = [event for event in events if event.type in _HITS]
    agents = list(dict.fromkeys(event.ua for event in hits))
    addresses = list(dict.fromkeys(event.ip for event in hits if event.ip))
    payloads = [event_codec.encode(event) for event in events]

    parser = ClientParser()
    started = time.perf_counter()
    for ua in agents:
        parser.parse(ua)
    parse_us = (time.perf_counter() - started) / max(1, len(agents)) * 1e6

    geoip = GeoIP(geoip_path) if geoip_path is not None else None
    try:
        lookup_us = 0.0
        if geoip is not None:
            started = time.perf_counter()
            for ip in addresses:
                geoip.lookup(ip)
            lookup_us = (time.perf_counter() - started) / max(1, len(addresses)) * 1e6
        # Cold: a new parser and an empty address cache.
        enricher = ClientEnricher(brands, geoip, ClientParser())
        if geoip is not None:
            geoip.cache.clear()
        cold = _enrich_all(enricher, events, payloads)
        warm = min(_enrich_all(enricher, events, payloads) for _ in range(3))
    finally:
        if geoip is not None:
            geoip.close()
    return EnrichmentCost(
        events=len(events), hits=len(hits), distinct_agents=len(agents),
        distinct_addresses=len(addresses), parse_us=parse_us, lookup_us=lookup_us,
        cold_per_event_us=cold / len(events) * 1e6, warm_per_event_us=warm / len(events) * 1e6,
        warm_per_hit_us=warm / max(1, len(hits)) * 1e6,
    )  # fmt: skip


def _enrich_all(enricher: ClientEnricher, events: Sequence[Event], payloads) -> float:
    """Seconds to derive the client details of every hit, as the batcher's enrichment
    does while it builds each hit's event (from the hit's user agent and address)."""
    lookup = enricher.lookup
    started = time.perf_counter()
    for event in events:
        if event.type in _HITS:
            lookup(event.brand, event.ua, event.ip, event.agent)
    return time.perf_counter() - started


def render(cost: EnrichmentCost, with_country: bool) -> list[str]:
    what = "client info and country" if with_country else "client info (no GeoIP database)"
    lines = [
        "",
        f"Enrichment ({what}), {cost.events:,} events of which {cost.hits:,} hits; "
        f"{cost.distinct_agents:,} distinct user agents, {cost.distinct_addresses:,} addresses",
        f"  uncached: {cost.parse_us:.1f} µs to parse a new user agent"
        + (f", {cost.lookup_us:.2f} µs to look up a new address" if with_country else ""),
        f"  per event of a batch: cold caches {cost.cold_per_event_us:.2f} µs, "
        f"warm {cost.warm_per_event_us:.2f} µs ({cost.warm_per_hit_us:.2f} µs per hit, "
        "the event built once with them)",
    ]
    return lines
