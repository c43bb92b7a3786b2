"""What rewriting stored verdicts changes besides the events: the plan both stores apply.

A batch of (old, new) event pairs moves
- the `human` count (and a click's revenue, at the brand's current CPC) of each event's
  rollup row, when its human verdict flips;
- the per-message unique counts of people and of Apple MPP: for each message and type
  touched, the first event (in id order, i.e. time order) that is a person's (or MPP's)
  may change, and with it the rollup row credited with that unique.

`plan()` works this out from every stored open or click of the touched messages (as
`Summary`), the changes, and where each scope's unique is credited today (`holders`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from tracer.events import Event
from tracer.store.records import UNIQUE_TYPES, EventPolicy, utc_day
from tracer.store.sqlite_batch import HUMAN, REVENUE, UNIQUE_HUMAN, UNIQUE_MPP, RollupKey

# brand, message id, type
MessageKey = tuple[str, str, str]
# Scopes whose first event can change with a verdict ("all" never does).
SCOPES = ("human", "mpp")
_COUNTERS = {"human": UNIQUE_HUMAN, "mpp": UNIQUE_MPP}


@dataclass(frozen=True, slots=True)
class Summary:
    """What the plan needs of a stored open or click."""

    id: str
    ts: float
    rollup_key: RollupKey
    scopes: frozenset[str]


@dataclass
class Plan:
    # Increments per rollup key, in the order of the rollups table's counters.
    rollups: dict[RollupKey, list] = field(default_factory=dict)
    # Per message and scope, the event whose unique it is after the change (None: no
    # event of that scope any more), with its ts.
    holders: dict[MessageKey, dict[str, Summary | None]] = field(default_factory=dict)

    def add(self, key: RollupKey, counter: int, amount: float) -> None:
        totals = self.rollups.get(key)
        if totals is None:
            totals = self.rollups[key] = [0, 0, 0, 0, 0, 0.0, 0.0]
        totals[counter] += amount

    def rollup_rows(self) -> list[tuple]:
        """(key..., increments...) of the rows that move, in a stable order."""
        return [(*k, *v) for k, v in sorted(self.rollups.items()) if any(v)]


def rollup_key(event: Event) -> RollupKey:
    return (event.brand, event.campaign, event.job_source, utc_day(event.ts), event.type)


def summary(event: Event, policy: EventPolicy) -> Summary:
    scopes = set()
    if policy.is_human(event):
        scopes.add("human")
    if event.agent == "mpp":
        scopes.add("mpp")
    return Summary(event.id, event.ts, rollup_key(event), frozenset(scopes))


def touched_messages(changed: Iterable[tuple[Event, Event]]) -> set[MessageKey]:
    return {
        (new.brand, new.message_id, new.type)
        for _, new in changed
        if new.type in UNIQUE_TYPES and new.message_id
    }


def plan(
    changed: Sequence[tuple[Event, Event]],
    stored: Mapping[MessageKey, Sequence[Event]],
    holders: Mapping[MessageKey, Mapping[str, str]],
    policy: EventPolicy,
) -> Plan:
    """The rollup increments and unique holders of a batch of changes.

    `stored`: every stored open/click of each touched message (verdicts as stored now);
    `holders`: per message, the id of the event each scope's unique is credited to today
    (a scope counted whose event is gone, e.g. deleted by retention, maps to "")."""
    result = Plan()
    for old, new in changed:
        before, after = policy.is_human(old), policy.is_human(new)
        if before != after:
            key = rollup_key(new)
            result.add(key, HUMAN, after - before)
            if new.type == "click":
                result.add(key, REVENUE, policy.revenue(new, True) * (after - before))
    replaced = {new.id: new for _, new in changed}
    for message in sorted(touched_messages(changed)):
        events = sorted(stored.get(message, ()), key=lambda e: e.id)
        before = {e.id: summary(e, policy) for e in events}
        after = [summary(replaced.get(e.id, e), policy) for e in events]
        _move_uniques(result, message, before, after, holders.get(message, {}))
    return result


def _move_uniques(
    result: Plan,
    message: MessageKey,
    before: Mapping[str, Summary],
    after: Sequence[Summary],
    credited: Mapping[str, str],
) -> None:
    for scope in SCOPES:
        old_id = credited.get(scope)
        if old_id is not None and old_id not in before:
            continue  # counted for an event no longer stored: leave that count alone
        new = next((s for s in after if scope in s.scopes), None)
        if (new.id if new else None) == old_id:
            continue
        old = before.get(old_id) if old_id else None
        if old is not None:
            result.add(old.rollup_key, _COUNTERS[scope], -1)
        if new is not None:
            result.add(new.rollup_key, _COUNTERS[scope], 1)
        result.holders.setdefault(message, {})[scope] = new


def first_holders(events: Sequence[Event], policy: EventPolicy) -> dict[str, str]:
    """Per scope, the id of the first event (id order) with it: where the store credits
    the scope's unique when it keeps no record of which event that was (SQLite)."""
    found: dict[str, str] = {}
    for event in sorted(events, key=lambda e: e.id):
        for scope in summary(event, policy).scopes:
            found.setdefault(scope, event.id)
    return found


def group_by_message(events: Iterable[Event]) -> dict[MessageKey, list[Event]]:
    grouped: dict[MessageKey, list[Event]] = defaultdict(list)
    for event in events:
        grouped[event.brand, event.message_id, event.type].append(event)
    return grouped
