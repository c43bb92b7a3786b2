"""How events, rollups and unique markers look as MongoDB documents."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tracer.events import Event
from tracer.store.base import RollupRow
from tracer.store.records import EventPolicy, unique_scopes, utc_day

# Joins the parts of a compound `_id` (ASCII unit separator: never in ids or names).
SEPARATOR = "\x1f"
EVENT_FIELDS = tuple(f for f in Event.__struct_fields__ if f != "id")
UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def event_document(event: Event, policy: EventPolicy) -> dict[str, Any]:
    """The document of an event: its fields by name (`_id` = event id), plus what the
    store derives (`day`, `human`, `revenue`) and its own bookkeeping (`attributed`,
    `rolled`)."""
    human = policy.is_human(event)
    doc: dict[str, Any] = {"_id": event.id}
    for name in EVENT_FIELDS:
        doc[name] = getattr(event, name)
    # A BSON date (for queries, indexes, TTL) keeps milliseconds; the exact float too.
    doc["ts"] = bson_date(event.ts)
    doc["ts_unix"] = event.ts
    doc["day"] = utc_day(event.ts)
    doc["human"] = human
    doc["revenue"] = policy.revenue(event, human)
    doc["attributed"] = ""
    doc["rolled"] = False
    return doc


def bson_date(ts: float) -> dt.datetime:
    return UNIX_EPOCH + dt.timedelta(seconds=ts)


ATTRIBUTION_FIELDS = ("campaign", "job_source", "message_id", "attributed")


def attribution(conversion: dict[str, Any], click: dict[str, Any]) -> dict[str, Any]:
    return {
        "campaign": click["campaign"],
        "job_source": click["job_source"],
        "message_id": conversion["message_id"] or click["message_id"],
        "attributed": click["_id"],
    }


def scopes(doc: dict[str, Any]) -> list[str]:
    return unique_scopes(doc["type"], doc["message_id"], doc["agent"], doc["human"])


def rollup_key(doc: dict[str, Any]) -> tuple[str, str, str, str, str]:
    return (doc["brand"], doc["campaign"], doc["job_source"], doc["day"], doc["type"])


def dimensions(key: tuple[str, ...]) -> dict[str, str]:
    brand, campaign, job_source, day, event_type = key
    return {
        "brand": brand,
        "campaign": campaign,
        "job_source": job_source,
        "day": day,
        "type": event_type,
    }


def filters(**conditions: str | None) -> dict[str, str]:
    return {field: value for field, value in conditions.items() if value is not None}


def event_from_document(doc: dict[str, Any]) -> Event:
    fields = {name: doc[name] for name in EVENT_FIELDS if name in doc}
    fields["id"] = doc["_id"]
    fields["ts"] = doc.get("ts_unix", doc["ts"].timestamp())
    # Event is array_like, so msgspec.convert would want a list: build it directly.
    return Event(**fields)


def rollup_from_document(doc: dict[str, Any]) -> RollupRow:
    return RollupRow(
        brand=doc["brand"],
        campaign=doc["campaign"],
        job_source=doc["job_source"],
        day=doc["day"],
        type=doc["type"],
        all=doc.get("all", 0),
        human=doc.get("human", 0),
        unique_all=doc.get("unique_all", 0),
        unique_human=doc.get("unique_human", 0),
        unique_mpp=doc.get("unique_mpp", 0),
        revenue=doc.get("revenue", 0.0),
        value=doc.get("value", 0.0),
    )
