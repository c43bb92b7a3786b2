"""`tracer reclassify` on MongoDB: read a brand's hits page by page, and rewrite a batch of
verdicts with the rollup counts and unique markers they move.

MongoDB has no multi-collection transaction on a standalone server, so a batch is made
safe to repeat the way `MongoStore.write` is: its plan is first saved as a journal
document named after the batch, then applied step by step (rollup increments guarded by
the batch's token in each rollup's `reclassified` list, marker and event updates that set
absolute values), then the journal is deleted. The rollups by client, OS, device and
country move the same way, guarded by the same token. A batch interrupted part-way is completed
from its journal by `finish()` (the command runs it first) or by computing the same batch
again, which finds the same journal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from pymongo import DeleteOne, UpdateOne
from pymongo.errors import DuplicateKeyError

from tracer.classify.replay import REPLAYED_TYPES
from tracer.events import Event
from tracer.store.dimensions import reclassification_increments
from tracer.store.mongo_dimensions import creations, guarded_increments
from tracer.store.mongo_documents import (
    SEPARATOR,
    bson_date,
    dimensions,
    event_from_document,
)
from tracer.store.reclassify import SCOPES, group_by_message, plan, touched_messages
from tracer.store.records import EventPolicy, batch_token

# The rollup document's counters, in the order of a plan's increments.
COUNTERS = ("all", "human", "unique_all", "unique_human", "unique_mpp", "revenue", "value")
TOKENS_KEPT = 64


def page_query(brand: str, since_ts: float, cursor: str) -> dict[str, Any]:
    query: dict[str, Any] = {
        "brand": brand,
        "ts": {"$gte": bson_date(since_ts)},
        "type": {"$in": list(REPLAYED_TYPES)},
    }
    if cursor:
        query["_id"] = {"$gt": cursor}
    return query


async def page(store: Any, brand: str, since_ts: float, cursor: str, limit: int):
    found = (
        await store._events.find(page_query(brand, since_ts, cursor))
        .sort("_id", 1)
        .limit(limit)
        .to_list()
    )
    events = [event_from_document(doc) for doc in found]
    return events, (events[-1].id if events else cursor)


async def count(store: Any, brand: str, since_ts: float) -> int:
    return await store._events.count_documents(page_query(brand, since_ts, ""))


async def apply(store: Any, changed: Sequence[tuple[Event, Event]], policy: EventPolicy) -> None:
    journal = await _journal_of(store, changed, policy)
    await _carry_out(store, journal)


async def finish(store: Any, brand: str) -> int:
    pending = await store._journal.find({"brand": brand}).to_list()
    for journal in pending:
        await _carry_out(store, journal)
    return len(pending)


async def _journal_of(
    store: Any, changed: Sequence[tuple[Event, Event]], policy: EventPolicy
) -> dict[str, Any]:
    """The batch's journal: found if an earlier attempt saved it, else planned and saved."""
    token = "reclassify:" + batch_token(
        f"{new.id}|{new.agent}|{','.join(new.reasons)}|{new.bot}|{new.client}|{new.os}|{new.device}"
        for _, new in changed
    )
    existing = await store._journal.find_one({"_id": token})
    if existing is not None:
        return existing
    messages = sorted(touched_messages(changed))
    found: list[Event] = []
    if messages:
        wanted = [{"brand": b, "message_id": m, "type": t} for b, m, t in messages]
        found = [event_from_document(d) async for d in store._events.find({"$or": wanted})]
    stored = group_by_message(found)
    markers = [SEPARATOR.join((*m, scope)) for m in messages for scope in SCOPES]
    credited: dict[tuple[str, str, str], dict[str, str]] = {}
    async for marker in store._uniques.find({"_id": {"$in": markers}}):
        key = (marker["brand"], marker["message_id"], marker["type"])
        credited.setdefault(key, {})[marker["scope"]] = marker["first_id"]
    result = plan(changed, stored, credited, policy)
    journal = {
        "_id": token,
        "brand": changed[0][1].brand,
        "created": dt.datetime.now(dt.UTC),
        "rollups": result.rollup_rows(),
        "markers": [
            [*message, scope, holder.id if holder else None, holder.ts if holder else None]
            for message, holders in result.holders.items()
            for scope, holder in holders.items()
        ],
        "events": [_event_fields(new, policy) for _, new in changed],
        "dimensions": [
            [*key, *totals] for key, totals in reclassification_increments(changed, policy).items()
        ],
    }
    try:
        await store._journal.insert_one(journal)
    except DuplicateKeyError:
        return await store._journal.find_one({"_id": token})
    return journal


def _event_fields(event: Event, policy: EventPolicy) -> dict[str, Any]:
    human = policy.is_human(event)
    return {
        "_id": event.id,
        "agent": event.agent,
        "reasons": list(event.reasons),
        "bot": event.bot,
        "human": human,
        "revenue": policy.revenue(event, human),
        "client": event.client,
        "client_type": event.client_type,
        "os": event.os,
        "device": event.device,
    }


async def _carry_out(store: Any, journal: dict[str, Any]) -> None:
    token = journal["_id"]
    if journal["rollups"]:
        await store._rollups.bulk_write(
            [UpdateOne({"_id": SEPARATOR.join(row[:5])}, {"$setOnInsert": dimensions(row[:5])},
                       upsert=True) for row in journal["rollups"]],
            ordered=False,
        )  # fmt: skip
        await store._rollups.bulk_write(
            [
                UpdateOne(
                    {"_id": SEPARATOR.join(row[:5]), "reclassified": {"$ne": token}},
                    {
                        "$inc": {n: v for n, v in zip(COUNTERS, row[5:], strict=True) if v},
                        "$push": {"reclassified": {"$each": [token], "$slice": -TOKENS_KEPT}},
                    },
                )
                for row in journal["rollups"]
            ],
            ordered=False,
        )
    # Journals of an earlier release carry no "dimensions".
    moved = {tuple(row[:9]): ({"all": row[9], "human": row[10]}, token)
             for row in journal.get("dimensions", ())}  # fmt: skip
    if moved:
        await store._dimensions.bulk_write(creations(moved, SEPARATOR), ordered=False)
        await store._dimensions.bulk_write(guarded_increments(moved, SEPARATOR), ordered=False)
    marker_updates = [_marker_update(*entry) for entry in journal["markers"]]
    if marker_updates:
        await store._uniques.bulk_write(marker_updates, ordered=False)
    await store._events.bulk_write(
        [UpdateOne({"_id": f["_id"]}, {"$set": _without_id(f)}) for f in journal["events"]],
        ordered=False,
    )
    await store._journal.delete_one({"_id": token})


def _without_id(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if name != "_id"}


def _marker_update(
    brand: str, message_id: str, event_type: str, scope: str, holder: str | None, ts: float | None
) -> UpdateOne | DeleteOne:
    key = SEPARATOR.join((brand, message_id, event_type, scope))
    if holder is None:
        return DeleteOne({"_id": key})
    fields = {"brand": brand, "message_id": message_id, "type": event_type, "scope": scope}
    return UpdateOne(
        {"_id": key},
        {"$set": {"first_id": holder, "ts": bson_date(ts or 0.0)}, "$setOnInsert": fields},
        upsert=True,
    )
