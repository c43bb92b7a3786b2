"""Rollups of hits by who read them: per brand, campaign, job source, UTC day, event type
and combination of client, OS, device class and country, one counter pair (all, human).
Both stores keep them in a table (collection) of their own, beside the main rollups, and
answer `EventStore.dimension_stats` from it by summing over the other dimensions.

One row per combination rather than one per dimension and value: a client mostly implies
its OS and device, so the combinations seen are few more than the clients, and a batch
writes one row per combination instead of four (the per-dimension layout cost the
batcher a third of its SQLite throughput).

`dimension_increments` is the one place that decides what an event adds: the stores call
it for each batch's new events, and a recomputation (reclassification) can call it with
`sign=-1` for the old events and `+1` for the new ones.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from tracer.events import HIT_TYPES, Event
from tracer.store.records import EventPolicy, utc_day

# Event field per dimension name (`tracer stats --by`, `GET /v1/stats?by=`).
DIMENSIONS = ("client", "os", "device", "country")
_HITS = frozenset(HIT_TYPES)
# brand, campaign, job_source, UTC day, type, client, os, device, country
DimensionKey = tuple[str, str, str, str, str, str, str, str, str]


def dimension_increments(
    events: Iterable[Event], policy: EventPolicy, sign: int = 1
) -> dict[DimensionKey, list[int]]:
    """[all, human] per key for the hits among `events` ("" where an event has no value
    for a dimension)."""
    increments: dict[DimensionKey, list[int]] = {}
    verdicts: dict[tuple[str, str, bool], bool] = {}
    for event in events:
        kind = event.type
        if kind not in _HITS:
            continue
        verdict = (event.brand, event.agent, event.bot)
        human = verdicts.get(verdict)
        if human is None:
            human = verdicts[verdict] = policy.is_human(event)
        key = (event.brand, event.campaign, event.job_source, utc_day(event.ts), kind,
               event.client, event.os, event.device, event.country)  # fmt: skip
        totals = increments.get(key)
        if totals is None:
            totals = increments[key] = [0, 0]
        totals[0] += sign
        if human:
            totals[1] += sign
    return increments


def reclassification_increments(
    changed: Iterable[tuple[Event, Event]], policy: EventPolicy
) -> dict[DimensionKey, list[int]]:
    """What rewriting each (old, new) pair moves: the old hits out, the new ones in (keys
    whose counts cancel out are left out)."""
    pairs = list(changed)
    moved = dimension_increments((old for old, _ in pairs), policy, -1)
    for key, (all_, human) in dimension_increments((new for _, new in pairs), policy).items():
        totals = moved.setdefault(key, [0, 0])
        totals[0] += all_
        totals[1] += human
    return {key: totals for key, totals in moved.items() if totals != [0, 0]}


class Counts(msgspec.Struct, kw_only=True):
    all: int = 0
    human: int = 0


class DimensionValue(msgspec.Struct, kw_only=True):
    """One value of a dimension (a client, a country, ...) and its hits per event type."""

    value: str
    types: dict[str, Counts]

    def of(self, event_type: str) -> Counts:
        return self.types.get(event_type) or Counts()

    @property
    def total(self) -> int:
        return sum(counts.all for counts in self.types.values())


class DimensionStats(msgspec.Struct, kw_only=True):
    brand: str
    dimension: str
    # Busiest first (all hits), then by value.
    values: list[DimensionValue]

    def to_json_dict(self) -> dict[str, dict[str, dict[str, int]]]:
        """`tracer stats --by D --json`: value -> event type -> {all, human}."""
        return {
            entry.value: {
                kind: {"all": entry.of(kind).all, "human": entry.of(kind).human}
                for kind in HIT_TYPES
            }
            for entry in self.values
        }


def summarize(
    brand: str, dimension: str, rows: Iterable[tuple[str, str, int, int]]
) -> DimensionStats:
    """Stats from (value, type, all, human) rows, summed over whatever else they differ in."""
    by_value: dict[str, dict[str, Counts]] = {}
    for value, kind, all_count, human in rows:
        counts = by_value.setdefault(value, {}).setdefault(kind, Counts())
        counts.all += all_count
        counts.human += human
    values = [
        DimensionValue(value=value, types=types)
        for value, types in by_value.items()
        if any(c.all or c.human for c in types.values())
    ]
    values.sort(key=lambda v: (-v.total, v.value))
    return DimensionStats(brand=brand, dimension=dimension, values=values)


def check_dimension(dimension: str) -> None:
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r} (one of {', '.join(DIMENSIONS)})")
