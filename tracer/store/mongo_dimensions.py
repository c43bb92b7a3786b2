"""The MongoDB store's rollups of hits by client, OS, device and country
(`tracer.store.dimensions`), in a collection of their own (`client_rollups`): one document
per brand, campaign, job source, day, type and combination of client, OS, device and
country, with `all` and `human` counters.

Increments are token-guarded like the main rollups' (`MongoStore._increment`): a batch
written again after a crash computes the same token per document, which is skipped where
it was already applied.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo import UpdateOne

from tracer.events import HIT_TYPES
from tracer.store.dimensions import DIMENSIONS, DimensionKey
from tracer.store.records import batch_token

# Same bound as the main rollups' applied tokens.
APPLIED_TOKENS_KEPT = 64
_HITS = frozenset(HIT_TYPES)
_KEY_FIELDS = ("brand", "campaign", "job_source", "day", "type", *DIMENSIONS)
# Events stored before client info existed have none of the fields.
_MISSING = {"client": "", "os": "", "device": "unknown", "country": ""}


def document_increments(
    documents: Iterable[dict[str, Any]], sign: int = 1, token_prefix: str = ""
) -> dict[DimensionKey, tuple[dict[str, int], str]]:
    """({"all": n, "human": n}, token) per key, for the hits among event documents (as
    `mongo_documents.event_document` makes them, with `day` and `human`)."""
    deltas: dict[DimensionKey, dict[str, int]] = {}
    members: dict[DimensionKey, list[str]] = {}
    for doc in documents:
        if doc["type"] not in _HITS:
            continue
        key = (doc["brand"], doc["campaign"], doc["job_source"], doc["day"], doc["type"],
               *(doc.get(name, _MISSING[name]) for name in DIMENSIONS))  # fmt: skip
        delta = deltas.get(key)
        if delta is None:
            delta = deltas[key] = {"all": 0, "human": 0}
            members[key] = []
        delta["all"] += sign
        delta["human"] += sign if doc["human"] else 0
        members[key].append(doc["_id"])
    return {key: (delta, token_prefix + batch_token(members[key])) for key, delta in deltas.items()}


def document_id(key: DimensionKey, separator: str) -> str:
    return separator.join(key)


def creations(increments: dict[DimensionKey, Any], separator: str) -> list[UpdateOne]:
    """Plain upserts that make the documents exist (the guarded `$inc` cannot upsert)."""
    return [
        UpdateOne(
            {"_id": document_id(key, separator)},
            {"$setOnInsert": dict(zip(_KEY_FIELDS, key, strict=True))},
            upsert=True,
        )
        for key in increments
    ]


def guarded_increments(
    increments: dict[DimensionKey, tuple[dict[str, int], str]], separator: str
) -> list[UpdateOne]:
    return [
        UpdateOne(
            {"_id": document_id(key, separator), "applied": {"$ne": token}},
            {
                "$inc": delta,
                "$push": {"applied": {"$each": [token], "$slice": -APPLIED_TOKENS_KEPT}},
            },
        )
        for key, (delta, token) in increments.items()
    ]


def query(
    brand: str,
    campaign: str | None,
    job_source: str | None,
    day_from: str | None,
    day_to: str | None,
) -> dict[str, Any]:
    conditions: dict[str, Any] = {
        "brand": brand,
        "day": {"$gte": day_from or "", "$lte": day_to or "9999-12-31"},
    }
    if campaign is not None:
        conditions["campaign"] = campaign
    if job_source is not None:
        conditions["job_source"] = job_source
    return conditions
