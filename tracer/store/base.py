"""The event store's contract: one small abstract class, two implementations.

`EventStore.write` is the batcher's single bulk call. It is idempotent on the event id:
writing a batch again (after a crash, a retry or a duplicate delivery) stores nothing twice
and counts nothing twice in the rollups, unique counts or suppressions. Everything else is a
query used by `tracer stats`, the admin API and the periodic jobs.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from tracer.errors import TracerError
from tracer.events import EVENT_TYPES, Event
from tracer.store.dimensions import DimensionStats


class StoreUnavailable(TracerError):
    """The store cannot take the write now (server down, database locked): back off and
    retry the same batch later; the events stay in Redis meanwhile."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """An event the store refused for a reason that retrying will not fix."""

    index: int
    reason: str


@dataclass(slots=True)
class WriteResult:
    inserted: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)


class TypeStats(msgspec.Struct, kw_only=True):
    """Counts of one event type for one brand, from the rollups."""

    all: int = 0
    human: int = 0
    # Messages with at least one such event (opens and clicks only).
    unique_all: int = 0
    unique_human: int = 0
    unique_mpp: int = 0
    # Human clicks x the brand's CPC of their job source, summed when the click was stored.
    revenue: float = 0.0
    # Sum of `value` (conversions).
    value: float = 0.0

    def add(self, row: RollupRow) -> None:
        """Add one rollup row's counts (rows of one type, any day/campaign/source)."""
        self.all += row.all
        self.human += row.human
        self.unique_all += row.unique_all
        self.unique_human += row.unique_human
        self.unique_mpp += row.unique_mpp
        self.revenue += row.revenue
        self.value += row.value


class BrandStats(msgspec.Struct, kw_only=True):
    brand: str
    types: dict[str, TypeStats]
    suppressions: int = 0

    def of(self, event_type: str) -> TypeStats:
        return self.types.get(event_type) or TypeStats()

    @property
    def revenue(self) -> float:
        return round(self.of("click").revenue, 6)

    @property
    def mpp_adjusted_opens(self) -> float:
        """Estimated messages really opened, correcting for Apple Mail Privacy Protection.

        MPP fetches every image of every message, so an MPP "open" says nothing; and since
        Apple then serves the image from its cache, a real open by an MPP reader never
        reaches us. We assume MPP readers open at the rate the others do: the human
        unique-open rate among messages without an MPP fetch, applied to the messages
        with one. Without `sent` events that rate is unknown and the estimate is just the
        human unique opens.
        """
        opens = self.of("open")
        sent = self.of("sent").all
        others = sent - opens.unique_mpp
        if others <= 0:
            return float(opens.unique_human)
        rate = min(1.0, opens.unique_human / others)
        return round(opens.unique_human + rate * opens.unique_mpp, 2)

    def to_json_dict(self) -> dict[str, dict[str, object]]:
        """`tracer stats --json`: one object per event type, each with `all` and `human`."""
        out: dict[str, dict[str, object]] = {}
        for event_type in EVENT_TYPES:
            stats = self.of(event_type)
            entry: dict[str, object] = {"all": stats.all, "human": stats.human}
            if event_type in ("open", "click"):
                entry["unique_all"] = stats.unique_all
                entry["unique_human"] = stats.unique_human
            if event_type == "open":
                entry["unique_mpp"] = stats.unique_mpp
                entry["mpp_adjusted"] = self.mpp_adjusted_opens
            if event_type == "click":
                entry["revenue"] = self.revenue
            if event_type == "conversion":
                entry["value"] = round(stats.value, 6)
            if event_type == "unsubscribe":
                entry["suppressed"] = self.suppressions
            out[event_type] = entry
        return out


class RollupRow(msgspec.Struct, kw_only=True):
    brand: str
    campaign: str
    job_source: str
    # UTC day, YYYY-MM-DD.
    day: str
    type: str
    all: int = 0
    human: int = 0
    unique_all: int = 0
    unique_human: int = 0
    unique_mpp: int = 0
    revenue: float = 0.0
    value: float = 0.0


class Suppression(msgspec.Struct, kw_only=True):
    brand: str
    # The recipient's keyed hash (never an address or a number).
    recipient: str
    # "" for all marketing of the brand, otherwise a named list id.
    scope: str
    ts: float
    event_id: str


@dataclass(slots=True)
class CompactionReport:
    conversions_attributed: int = 0
    details: dict[str, int] = field(default_factory=dict)


class EventStore(abc.ABC):
    """Where events become *recorded*. Implementations: `SQLiteStore`, `MongoStore`."""

    #: Short name for logs and benchmarks ("sqlite", "mongodb").
    name: str = "store"
    #: True when writing events again counts nothing twice *however they are grouped*
    #: into calls (SQLite: one transaction per call). The batcher may then write several
    #: queue batches in one call; otherwise each batch is always written alone.
    batches_may_be_combined: bool = False

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and create the schema or indexes (idempotent)."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise `StoreUnavailable` unless the store answers."""

    @abc.abstractmethod
    async def write(
        self, events: Sequence[Event], payloads: Sequence[bytes] | None = None
    ) -> WriteResult:
        """Store a batch in one bulk call, with its rollups, unique counts, conversion
        attribution and suppressions. `payloads` are the events' msgpack bytes when the
        caller has them (saves encoding them again). Raises `StoreUnavailable` when the
        whole batch should be retried later."""

    # --- queries ---------------------------------------------------------------------
    @abc.abstractmethod
    async def count_events(
        self, brand: str | None = None, event_type: str | None = None
    ) -> int: ...

    @abc.abstractmethod
    async def find_events(
        self,
        brand: str,
        *,
        message_id: str | None = None,
        event_type: str | None = None,
        limit: int = 100,
    ) -> list[Event]:
        """A brand's events, newest first; conversions carry their attributed campaign and
        job source."""

    @abc.abstractmethod
    async def event_ids(self, brand: str | None = None) -> list[str]:
        """Every stored event id (tests and audits; not for large stores)."""

    @abc.abstractmethod
    async def rollups(
        self, brand: str, day_from: str | None = None, day_to: str | None = None
    ) -> list[RollupRow]: ...

    @abc.abstractmethod
    async def stats(self, brand: str) -> BrandStats: ...

    @abc.abstractmethod
    async def is_suppressed(self, brand: str, recipient: str, list_id: str = "") -> bool:
        """True when the recipient left all of the brand's marketing or the named list."""

    @abc.abstractmethod
    async def suppressions(self, brand: str) -> list[Suppression]: ...

    # --- rollups by client, OS, device, country (tracer.store.dimensions) ----------------
    @abc.abstractmethod
    async def dimension_stats(
        self,
        brand: str,
        dimension: str,
        *,
        campaign: str | None = None,
        job_source: str | None = None,
        day_from: str | None = None,
        day_to: str | None = None,
    ) -> DimensionStats:
        """A brand's hits per value of `dimension` (one of `DIMENSIONS`) and event type,
        all and human, narrowed to a campaign, a job source and a range of UTC days."""

    @abc.abstractmethod
    async def roll_up_dimensions(self, events: Sequence[Event], sign: int = 1) -> None:
        """Add (`sign=1`) or take away (`-1`) what stored `events` count in the dimension
        rollups: for recomputing them when events are reclassified. The batcher's writes
        do this by themselves."""

    # --- maintenance -----------------------------------------------------------------
    @abc.abstractmethod
    async def delete_before(self, brand: str, cutoff_ts: float) -> int:
        """Retention: delete the brand's events (and per-message unique markers) older than
        `cutoff_ts`. Rollups and suppressions are kept. Returns the events deleted."""

    @abc.abstractmethod
    async def compact(self) -> CompactionReport:
        """Rollup compaction: attribute conversions whose click arrived after them, then
        the implementation's own housekeeping."""

    # --- reclassification (`tracer reclassify`) ---------------------------------------
    async def count_replayable(self, brand: str, since_ts: float) -> int:
        """How many of the brand's hits (opens, clicks, unsubscribe page views and
        unsubscribes) are stored from `since_ts` on."""
        raise NotImplementedError

    async def replayable_page(
        self, brand: str, since_ts: float, cursor: str, limit: int
    ) -> tuple[list[Event], str]:
        """The next `limit` of those hits in stored (time) order after `cursor` ("" for
        the first page), and the cursor to pass for the page after."""
        raise NotImplementedError

    async def apply_reclassification(self, changed: Sequence[tuple[Event, Event]]) -> None:
        """Replace the stored events of (old, new) pairs by the new ones and move the
        rollup counts and unique markers their new verdicts move. Applying the same
        batch again, or after a crash part-way, moves nothing twice."""
        raise NotImplementedError

    async def finish_reclassification(self, brand: str) -> int:
        """Complete batches a crash interrupted part-way (stores without transactions);
        the number completed."""
        return 0

    async def __aenter__(self) -> EventStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
