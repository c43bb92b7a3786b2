"""What a batch adds to the SQLite store besides its rows, worked out in Python in one
pass over the batch's new events: rollup increments per key, the candidate unique
markers, the conversions to attribute and the suppressions.

Summing per rollup key here means one upsert per key and batch instead of per event, and
the unique markers are one `INSERT … RETURNING` for the whole batch. Only *new* events
(not stored before) may be passed: that is what keeps the write exactly-once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tracer.events import Event
from tracer.store.records import EventPolicy, utc_day

# brand, campaign, job_source, UTC day, type
RollupKey = tuple[str, str, str, str, str]
# brand, message_id, type (open or click)
MarkerKey = tuple[str, str, str]

# Positions in a rollup's increments, in the order of the rollups table's counters.
ALL, HUMAN, UNIQUE_ALL, UNIQUE_HUMAN, UNIQUE_MPP, REVENUE, VALUE = range(7)
# Scope bits of a marker, with the counter each one's unique adds to.
SCOPE_ALL, SCOPE_HUMAN, SCOPE_MPP = 1, 2, 4
_SCOPES = ((SCOPE_ALL, UNIQUE_ALL), (SCOPE_HUMAN, UNIQUE_HUMAN), (SCOPE_MPP, UNIQUE_MPP))
_SECONDS_PER_DAY = 86_400.0


class Marker:
    """A message's marker as the batch would leave it: its scope bits, the time of the
    batch's first event of it, and per scope bit the rollup key of the batch's first event
    with that scope (whose unique it is, if the store did not have that scope yet)."""

    __slots__ = ("firsts", "scopes", "ts")

    def __init__(self, scopes: int, ts: float, key: RollupKey) -> None:
        self.scopes = scopes
        self.ts = ts
        # Indexed by scope bit (1, 2, 4).
        self.firsts: list[RollupKey | None] = [
            None, key, key if scopes & SCOPE_HUMAN else None, None,
            key if scopes & SCOPE_MPP else None,
        ]  # fmt: skip

    def add(self, scopes: int, key: RollupKey) -> None:
        new = scopes & ~self.scopes
        self.scopes |= new
        for bit in (SCOPE_HUMAN, SCOPE_MPP):
            if new & bit:
                self.firsts[bit] = key


@dataclass(slots=True)
class Derived:
    # Increments per rollup key: ALL ... VALUE.
    rollups: dict[RollupKey, list] = field(default_factory=dict)
    # The markers of the batch's opens and clicks.
    markers: dict[MarkerKey, Marker] = field(default_factory=dict)
    # Conversions with a click id, and their human verdict: rolled up once attributed.
    conversions: list[tuple[Event, bool]] = field(default_factory=list)
    # (brand, recipient, scope, ts, event id) of the unsubscribes, in batch order.
    suppressions: list[tuple[str, str, str, float, str]] = field(default_factory=list)

    def add(self, key: RollupKey, human: bool, value: float) -> None:
        totals = self.rollups.get(key)
        if totals is None:
            totals = self.rollups[key] = [0, 0, 0, 0, 0, 0.0, 0.0]
        totals[ALL] += 1
        totals[HUMAN] += human
        totals[VALUE] += value

    def marker_rows(self) -> list[tuple[str, str, str, int, int, float]]:
        """(brand, message_id, type, scopes, scopes, ts): `ADD_MARKERS`' rows."""
        return [(*key, m.scopes, m.scopes, m.ts) for key, m in self.markers.items()]

    def count_uniques(self, added: Iterable[tuple[str, str, str, int]]) -> None:
        """Credit each scope a marker gained in the store to the rollup of the batch's
        first event with that scope: (brand, message_id, type, bits added) rows."""
        markers, rollups = self.markers, self.rollups
        for brand, message_id, event_type, bits in added:
            firsts = markers[brand, message_id, event_type].firsts
            for bit, counter in _SCOPES:
                if bits & bit:
                    rollups[firsts[bit]][counter] += 1  # type: ignore[index]

    def rollup_rows(self) -> list[tuple]:
        return [(*key, *totals) for key, totals in self.rollups.items()]


def derive(events: Iterable[Event], policy: EventPolicy) -> Derived:
    """Rollup increments, markers, conversions and suppressions of new events, in batch
    order (of two events of the batch, the earlier is the first)."""
    derived = Derived()
    rollups, markers = derived.rollups, derived.markers
    # The verdict depends on these three only: worked out once per batch for each.
    verdicts: dict[tuple[str, str, bool], bool] = {}
    days: dict[float, str] = {}
    for event in events:
        brand = event.brand
        verdict = (brand, event.agent, event.bot)
        human = verdicts.get(verdict)
        if human is None:
            human = verdicts[verdict] = policy.is_human(event)
        kind = event.type
        if kind == "conversion" and event.click_id:
            derived.conversions.append((event, human))
            continue
        ts = event.ts
        day = days.get(ts // _SECONDS_PER_DAY)
        if day is None:
            day = days[ts // _SECONDS_PER_DAY] = utc_day(ts)
        key = (brand, event.campaign, event.job_source, day, kind)
        totals = rollups.get(key)
        if totals is None:
            totals = rollups[key] = [0, 0, 0, 0, 0, 0.0, 0.0]
        totals[ALL] += 1
        if human:
            totals[HUMAN] += 1
        if event.value:
            totals[VALUE] += event.value
        if kind == "open" or kind == "click":
            if human and kind == "click":
                totals[REVENUE] += policy.revenue(event, human)
            if event.message_id:
                scopes = SCOPE_ALL
                if human:
                    scopes |= SCOPE_HUMAN
                if event.agent == "mpp":
                    scopes |= SCOPE_MPP
                marker = markers.get((brand, event.message_id, kind))
                if marker is None:
                    markers[brand, event.message_id, kind] = Marker(scopes, ts, key)
                elif scopes & ~marker.scopes:
                    marker.add(scopes, key)
        elif kind == "unsubscribe" and event.recipient:
            derived.suppressions.append((brand, event.recipient, event.list_id, ts, event.id))
    return derived
