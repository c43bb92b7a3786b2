"""What the store derives from an event before writing it, the same for every backend:
whether it counts as a person's (the brand's bot policy), the revenue of a click (the
brand's CPC table) and the UTC day it is rolled up under."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable

from tracer.brands import BotPolicy, Brands
from tracer.events import Event

# Only these types get per-message unique counts.
UNIQUE_TYPES = frozenset({"open", "click"})
_DEFAULT_HUMAN_AGENTS = frozenset(BotPolicy().human_agents)
_SECONDS_PER_DAY = 86_400
_days: dict[int, str] = {}


def utc_day(ts: float) -> str:
    """YYYY-MM-DD of a Unix time, cached per day number (it is computed for every event)."""
    number = int(ts // _SECONDS_PER_DAY)
    day = _days.get(number)
    if day is None:
        day = dt.datetime.fromtimestamp(number * _SECONDS_PER_DAY, dt.UTC).strftime("%Y-%m-%d")
        _days[number] = day
    return day


class EventPolicy:
    """Per-brand human/machine verdict and click value. Events of a brand that is not in
    the brands file (removed since the link was made) get the default policy and no CPC."""

    def __init__(self, brands: Brands | None = None) -> None:
        brand_list = list(brands) if brands is not None else []
        self._human_agents = {b.id: frozenset(b.bot_policy.human_agents) for b in brand_list}
        self._cpc = {b.id: dict(b.cpc) for b in brand_list}

    def is_human(self, event: Event) -> bool:
        # The edge's `bot` flag and the brand's list of agents counted as people must agree.
        agents = self._human_agents.get(event.brand, _DEFAULT_HUMAN_AGENTS)
        return not event.bot and event.agent in agents

    def revenue(self, event: Event, human: bool) -> float:
        if event.type != "click" or not human:
            return 0.0
        return self._cpc.get(event.brand, {}).get(event.job_source, 0.0)


def unique_scopes(event_type: str, message_id: str, agent: str, human: bool) -> list[str]:
    """The unique counters an open or click may be the first of: any agent, people only,
    and Apple MPP prefetches (for the MPP-adjusted open estimate)."""
    if event_type not in UNIQUE_TYPES or not message_id:
        return []
    scopes = ["all"]
    if human:
        scopes.append("human")
    if agent == "mpp":
        scopes.append("mpp")
    return scopes


def batch_token(event_ids: Iterable[str]) -> str:
    """A stable name for a set of events, whatever their order (idempotent increments)."""
    digest = hashlib.sha256("\n".join(sorted(event_ids)).encode()).hexdigest()
    return digest[:20]
