"""The production event store: MongoDB through pymongo.

We use pymongo's native asyncio client (`AsyncMongoClient`, GA since pymongo 4.13) rather
than the blocking client in a thread pool: the batcher is an asyncio program, the async
client's I/O and timeouts live on the same loop as Redis, cancelling a write at shutdown
needs no thread to finish, and BSON encoding holds the GIL either way, so threads would
buy no parallelism.

MongoDB has no multi-collection transaction on a standalone server, so idempotence is
built per step, each safe to repeat:

1. `insert_many(ordered=False)` of the events with `rolled: false`; a duplicate `_id`
   (E11000) means "already stored". Other per-document errors reject that event only.
2. The batch's events still `rolled: false` (new ones, or ones a crashed batcher stored
   without finishing) are *pending*.
3. Unique markers (one document per message x type x scope, `$setOnInsert` of the first
   event id) and suppressions (unique index on brand, recipient, scope) are upserts.
4. Rollups are `bulk_write` of `$inc` upserts. Each increment is tagged with a token
   naming the pending events it counts and is skipped when the document already holds
   that token, so repeating step 4 for the same batch counts nothing twice.
5. `rolled: true` on the pending events.

A batch is retried with the same events (it stays in one Redis processing list), so a
repeated step 4 computes the same tokens.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pymongo import AsyncMongoClient, UpdateMany, UpdateOne, uri_parser
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
    WTimeoutError,
)
from pymongo.write_concern import WriteConcern

from tracer.brands import Brands
from tracer.events import Event
from tracer.store import mongo_reclassify
from tracer.store.base import (
    BrandStats,
    CompactionReport,
    EventStore,
    Rejected,
    RollupRow,
    StoreUnavailable,
    Suppression,
    TypeStats,
    WriteResult,
)
from tracer.store.dimensions import DimensionStats, check_dimension, summarize
from tracer.store.mongo_dimensions import (
    creations,
    document_increments,
    guarded_increments,
)
from tracer.store.mongo_dimensions import query as dimension_query
from tracer.store.mongo_documents import (
    ATTRIBUTION_FIELDS,
    SEPARATOR,
    attribution,
    bson_date,
    dimensions,
    event_document,
    event_from_document,
    filters,
    rollup_from_document,
    rollup_key,
    scopes,
)
from tracer.store.records import EventPolicy, batch_token, utc_day

logger = logging.getLogger(__name__)

DUPLICATE_KEY = 11000
# Server answers that mean "try again later", not "this document is bad".
TRANSIENT_CODES = frozenset(
    {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 64, 50}
)
# Connection settings used unless the URL sets them: fail fast enough for the batcher to
# back off (instead of hanging), a pool sized for one batcher plus the stats readers.
CLIENT_DEFAULTS: dict[str, Any] = {
    "serverSelectionTimeoutMS": 5_000,
    "connectTimeoutMS": 5_000,
    "socketTimeoutMS": 30_000,
    "maxPoolSize": 16,
    "retryWrites": True,
    "appname": "tracer",
}
# Acknowledged by a majority (journaled): an event is "recorded" only once it survives
# a primary failover. The URL's own `w` wins.
DEFAULT_WRITE_CONCERN = WriteConcern(w="majority", wtimeout=10_000)
# Rollup documents keep the tokens of their last increments for retried batches.
APPLIED_TOKENS_KEPT = 64


class MongoStore(EventStore):
    """Events, rollups, unique markers and suppressions in a MongoDB database (the one named
    in the URL's path, `tracer` otherwise)."""

    name = "mongodb"

    def __init__(self, url: str, brands: Brands | None = None, database: str | None = None):
        self.url = url
        self._policy = EventPolicy(brands)
        self._database_name = database
        self._client: AsyncMongoClient | None = None

    # --- lifecycle ---------------------------------------------------------------------
    async def open(self) -> None:
        if self._client is not None:
            return
        options = {key.lower() for key in uri_parser.parse_uri(self.url)["options"]}
        defaults = {k: v for k, v in CLIENT_DEFAULTS.items() if k.lower() not in options}
        # tz_aware: `ts` comes back as an aware UTC datetime, so .timestamp() is right.
        client: AsyncMongoClient = AsyncMongoClient(self.url, tz_aware=True, **defaults)
        write_concern = None if "w" in options else DEFAULT_WRITE_CONCERN
        if self._database_name:
            db = client.get_database(self._database_name)
        else:
            db = client.get_default_database("tracer")
        if write_concern is not None:
            db = db.with_options(write_concern=write_concern)
        self._client = client
        self._events = db["events"]
        self._rollups = db["rollups"]
        self._uniques = db["uniques"]
        self._suppressions = db["suppressions"]
        self._journal = db["reclassify_journal"]
        self._dimensions = db["client_rollups"]
        try:
            await self._create_indexes()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def ping(self) -> None:
        try:
            await self._db_client.admin.command("ping")
        except PyMongoError as exc:
            raise StoreUnavailable(f"mongodb: {exc}") from exc

    @property
    def _db_client(self) -> AsyncMongoClient:
        if self._client is None:
            raise RuntimeError("MongoStore is not open")
        return self._client

    async def _create_indexes(self) -> None:
        try:
            await self._events.create_index([("brand", 1), ("ts", 1)])
            await self._events.create_index([("message_id", 1)])
            await self._events.create_index([("brand", 1), ("campaign", 1), ("ts", 1)])
            await self._events.create_index([("type", 1), ("ts", 1)])
            # Conversions find their click by click id.
            await self._events.create_index([("click_id", 1)], sparse=True)
            await self._rollups.create_index([("brand", 1), ("day", 1)])
            await self._uniques.create_index([("brand", 1), ("ts", 1)])
            await self._dimensions.create_index([("brand", 1), ("day", 1)])
            await self._suppressions.create_index(
                [("brand", 1), ("recipient", 1), ("scope", 1)], unique=True
            )
        except PyMongoError as exc:
            raise _unavailable_or_raise(exc) from exc

    # --- writing -----------------------------------------------------------------------
    async def write(
        self, events: Sequence[Event], payloads: Sequence[bytes] | None = None
    ) -> WriteResult:
        if not events:
            return WriteResult()
        try:
            return await self._write([event_document(event, self._policy) for event in events])
        except PyMongoError as exc:
            raise _unavailable_or_raise(exc) from exc

    async def _write(self, documents: list[dict[str, Any]]) -> WriteResult:
        await self._attribute(documents)
        result, duplicate_ids = await self._insert(documents)
        rejected = {r.index for r in result.rejected}
        duplicates = set(duplicate_ids)
        pending = [
            doc
            for index, doc in enumerate(documents)
            if index not in rejected and doc["_id"] not in duplicates
        ]
        if duplicate_ids:
            # Stored before by a batcher that died before finishing the steps below.
            pending += await self._events.find(
                {"_id": {"$in": duplicate_ids}, "rolled": False}
            ).to_list()
        if pending:
            firsts = await self._mark_uniques(pending)
            await self._suppress(pending)
            await self._roll_up(pending, firsts)
            await self._increment_dimensions(document_increments(pending))
            await self._events.update_many(
                {"_id": {"$in": [doc["_id"] for doc in pending]}}, {"$set": {"rolled": True}}
            )
        return result

    async def _attribute(self, documents: list[dict[str, Any]]) -> None:
        """Give conversions the campaign and job source of their click (same brand)."""
        conversions = [d for d in documents if d["type"] == "conversion" and d["click_id"]]
        if not conversions:
            return
        wanted = list({d["click_id"] for d in conversions})
        clicks = {
            (d["brand"], d["click_id"]): d
            for d in documents
            if d["type"] == "click" and d["click_id"] in wanted
        }
        cursor = self._events.find(
            {"click_id": {"$in": wanted}, "type": "click"},
            {"brand": 1, "click_id": 1, "campaign": 1, "job_source": 1, "message_id": 1},
        )
        async for click in cursor:
            clicks.setdefault((click["brand"], click["click_id"]), click)
        for conversion in conversions:
            click = clicks.get((conversion["brand"], conversion["click_id"]))
            if click is not None:
                conversion.update(attribution(conversion, click))

    async def _insert(self, documents: list[dict[str, Any]]) -> tuple[WriteResult, list[str]]:
        try:
            outcome = await self._events.insert_many(documents, ordered=False)
            return WriteResult(inserted=len(outcome.inserted_ids)), []
        except BulkWriteError as exc:
            details = exc.details
        duplicate_ids: list[str] = []
        rejected: list[Rejected] = []
        for error in details.get("writeErrors", []):
            if error.get("code") == DUPLICATE_KEY:
                duplicate_ids.append(documents[error["index"]]["_id"])
            elif error.get("code") in TRANSIENT_CODES:
                raise StoreUnavailable(f"mongodb: {error.get('errmsg')}")
            else:
                rejected.append(Rejected(error["index"], f"mongodb: {error.get('errmsg')}"))
        if details.get("writeConcernErrors"):
            # Inserted on the primary but not confirmed by a majority: not recorded yet.
            raise StoreUnavailable(f"mongodb: {details['writeConcernErrors'][0].get('errmsg')}")
        result = WriteResult(
            inserted=details.get("nInserted", 0), duplicates=len(duplicate_ids), rejected=rejected
        )
        return result, duplicate_ids

    async def _mark_uniques(self, pending: list[dict[str, Any]]) -> set[tuple[str, str]]:
        """(event id, scope) of the pending events that are the first of their message.
        The first writer's id stays in the marker, so a retry finds the same answer."""
        operations = []
        keys = []
        for doc in sorted(pending, key=lambda d: d["_id"]):
            for scope in scopes(doc):
                key = SEPARATOR.join((doc["brand"], doc["message_id"], doc["type"], scope))
                keys.append(key)
                fields = {
                    "brand": doc["brand"],
                    "message_id": doc["message_id"],
                    "type": doc["type"],
                    "scope": scope,
                    "first_id": doc["_id"],
                    "ts": doc["ts"],
                }
                operations.append(UpdateOne({"_id": key}, {"$setOnInsert": fields}, upsert=True))
        if not operations:
            return set()
        await _bulk_ignoring_duplicates(self._uniques, operations)
        firsts = set()
        async for marker in self._uniques.find({"_id": {"$in": keys}}, {"first_id": 1, "scope": 1}):
            firsts.add((marker["first_id"], marker["scope"]))
        return firsts

    async def _suppress(self, pending: list[dict[str, Any]]) -> None:
        operations = [
            UpdateOne(
                {"brand": doc["brand"], "recipient": doc["recipient"], "scope": doc["list_id"]},
                {"$setOnInsert": {"ts": doc["ts"], "event_id": doc["_id"]}},
                upsert=True,
            )
            for doc in sorted(pending, key=lambda d: d["_id"])
            if doc["type"] == "unsubscribe" and doc["recipient"]
        ]
        if operations:
            await _bulk_ignoring_duplicates(self._suppressions, operations)

    async def _roll_up(self, pending: list[dict[str, Any]], firsts: set[tuple[str, str]]) -> None:
        deltas: dict[tuple[str, ...], dict[str, float]] = defaultdict(lambda: defaultdict(int))
        members: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for doc in pending:
            key = rollup_key(doc)
            delta = deltas[key]
            delta["all"] += 1
            delta["human"] += int(doc["human"])
            for scope in ("all", "human", "mpp"):
                if (doc["_id"], scope) in firsts:
                    delta[f"unique_{scope}"] += 1
            if doc["revenue"]:
                delta["revenue"] += doc["revenue"]
            if doc["value"]:
                delta["value"] += doc["value"]
            members[key].append(doc["_id"])
        increments = {
            key: (dict(delta), batch_token(members[key])) for key, delta in deltas.items()
        }
        await self._increment(increments)

    async def _increment(self, increments: dict[tuple[str, ...], tuple[dict, str]]) -> None:
        """Token-guarded `$inc` of rollup documents, created first by plain upserts (an
        upsert whose filter holds the token guard could not be retried by the server)."""
        creations = [
            UpdateOne({"_id": SEPARATOR.join(key)}, {"$setOnInsert": dimensions(key)}, upsert=True)
            for key in increments
        ]
        await _bulk_ignoring_duplicates(self._rollups, creations)
        updates = [
            UpdateOne(
                {"_id": SEPARATOR.join(key), "applied": {"$ne": token}},
                {
                    "$inc": delta,
                    "$push": {"applied": {"$each": [token], "$slice": -APPLIED_TOKENS_KEPT}},
                },
            )
            for key, (delta, token) in increments.items()
        ]
        await self._rollups.bulk_write(updates, ordered=False)

    async def _increment_dimensions(self, increments: dict) -> None:
        if not increments:
            return
        await _bulk_ignoring_duplicates(self._dimensions, creations(increments, SEPARATOR))
        await self._dimensions.bulk_write(guarded_increments(increments, SEPARATOR), ordered=False)

    # --- rollups by client, OS, device, country ------------------------------------------
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
        check_dimension(dimension)
        conditions = dimension_query(brand, campaign, job_source, day_from, day_to)
        projection = {dimension: 1, "type": 1, "all": 1, "human": 1}
        cursor = self._dimensions.find(conditions, projection)
        documents = await self._guard(cursor.to_list())
        rows = [(d[dimension], d["type"], d.get("all", 0), d.get("human", 0)) for d in documents]
        return summarize(brand, dimension, rows)

    async def roll_up_dimensions(self, events: Sequence[Event], sign: int = 1) -> None:
        documents = [event_document(event, self._policy) for event in events]
        # Tokens of their own: the same events adjusted again count once per direction.
        increments = document_increments(documents, sign, token_prefix=f"adjust{sign:+d}:")
        try:
            await self._increment_dimensions(increments)
        except PyMongoError as exc:
            raise _unavailable_or_raise(exc) from exc

    # --- queries -----------------------------------------------------------------------
    async def count_events(self, brand: str | None = None, event_type: str | None = None) -> int:
        query = filters(brand=brand, type=event_type)
        return await self._guard(self._events.count_documents(query))

    async def find_events(
        self,
        brand: str,
        *,
        message_id: str | None = None,
        event_type: str | None = None,
        limit: int = 100,
    ) -> list[Event]:
        query = filters(brand=brand, message_id=message_id, type=event_type)
        cursor = self._events.find(query).sort("ts", -1).limit(limit)
        return [event_from_document(doc) for doc in await self._guard(cursor.to_list())]

    async def event_ids(self, brand: str | None = None) -> list[str]:
        cursor = self._events.find(filters(brand=brand), {"_id": 1}).sort("_id", 1)
        return [doc["_id"] for doc in await self._guard(cursor.to_list())]

    async def rollups(
        self, brand: str, day_from: str | None = None, day_to: str | None = None
    ) -> list[RollupRow]:
        query = {"brand": brand, "day": {"$gte": day_from or "", "$lte": day_to or "9999-12-31"}}
        documents = await self._guard(self._rollups.find(query, {"applied": 0}).to_list())
        return [rollup_from_document(doc) for doc in documents]

    async def stats(self, brand: str) -> BrandStats:
        types: dict[str, TypeStats] = {}
        for row in await self.rollups(brand):
            types.setdefault(row.type, TypeStats()).add(row)
        suppressed = await self._guard(self._suppressions.count_documents({"brand": brand}))
        return BrandStats(brand=brand, types=types, suppressions=suppressed)

    async def is_suppressed(self, brand: str, recipient: str, list_id: str = "") -> bool:
        query = {"brand": brand, "recipient": recipient, "scope": {"$in": ["", list_id]}}
        return await self._guard(self._suppressions.find_one(query, {"_id": 1})) is not None

    async def suppressions(self, brand: str) -> list[Suppression]:
        cursor = self._suppressions.find({"brand": brand}).sort("ts", 1)
        return [
            Suppression(
                brand=doc["brand"],
                recipient=doc["recipient"],
                scope=doc["scope"],
                ts=doc["ts"].timestamp(),
                event_id=doc["event_id"],
            )
            for doc in await self._guard(cursor.to_list())
        ]

    async def _guard(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except PyMongoError as exc:
            raise _unavailable_or_raise(exc) from exc

    # --- reclassification ------------------------------------------------------------
    async def count_replayable(self, brand: str, since_ts: float) -> int:
        return await self._guard(mongo_reclassify.count(self, brand, since_ts))

    async def replayable_page(
        self, brand: str, since_ts: float, cursor: str, limit: int
    ) -> tuple[list[Event], str]:
        return await self._guard(mongo_reclassify.page(self, brand, since_ts, cursor, limit))

    async def apply_reclassification(self, changed: Sequence[tuple[Event, Event]]) -> None:
        if changed:
            await self._guard(mongo_reclassify.apply(self, changed, self._policy))

    async def finish_reclassification(self, brand: str) -> int:
        return await self._guard(mongo_reclassify.finish(self, brand))

    # --- maintenance -------------------------------------------------------------------
    async def delete_before(self, brand: str, cutoff_ts: float) -> int:
        cutoff = bson_date(cutoff_ts)
        query = {"brand": brand, "ts": {"$lt": cutoff}}
        deleted = await self._guard(self._events.delete_many(query))
        await self._guard(self._uniques.delete_many(query))
        return deleted.deleted_count

    async def compact(self) -> CompactionReport:
        report = CompactionReport()
        try:
            report.conversions_attributed = await self._attribute_late_conversions()
            report.details["rollup_tokens_dropped"] = await self._drop_old_tokens()
        except PyMongoError as exc:
            raise _unavailable_or_raise(exc) from exc
        return report

    async def _attribute_late_conversions(self) -> int:
        """Conversions stored before their click: attribute them now and move their rollup
        counts from their own campaign/job source to the click's."""
        query = {"type": "conversion", "attributed": "", "click_id": {"$ne": ""}, "rolled": True}
        conversions = await self._events.find(query).to_list()
        before = {doc["_id"]: rollup_key(doc) for doc in conversions}
        await self._attribute(conversions)
        moved = 0
        for conversion in conversions:
            if not conversion["attributed"]:
                continue
            claimed = await self._events.update_one(
                {"_id": conversion["_id"], "attributed": ""},
                {"$set": {k: conversion[k] for k in ATTRIBUTION_FIELDS}},
            )
            if not claimed.modified_count:
                continue  # another batcher's compaction got there first
            moved += 1
            old_key, new_key = before[conversion["_id"]], rollup_key(conversion)
            if old_key == new_key:
                continue
            delta = {"all": 1, "human": int(conversion["human"]), "value": conversion["value"]}
            negative = {name: -amount for name, amount in delta.items()}
            token = f"attribution:{conversion['_id']}"
            await self._increment({old_key: (negative, token), new_key: (delta, token)})
        return moved

    async def _drop_old_tokens(self) -> int:
        """Batches are only retried within minutes, so rollups of days before yesterday no
        longer need the tokens of their increments."""
        yesterday = utc_day(dt.datetime.now(dt.UTC).timestamp() - 86_400)
        dropped = 0
        for collection in (self._rollups, self._dimensions):
            outcome = await collection.bulk_write(
                [UpdateMany({"day": {"$lt": yesterday}, "applied": {"$exists": True}},
                            {"$unset": {"applied": ""}})]
            )  # fmt: skip
            dropped += outcome.modified_count
        return dropped


async def _bulk_ignoring_duplicates(collection: Any, operations: list) -> None:
    """Upserts of keys that may be created concurrently: a duplicate key means the
    document exists, which is all the upsert wanted."""
    try:
        await collection.bulk_write(operations, ordered=False)
    except BulkWriteError as exc:
        others = [e for e in exc.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY]
        if others or exc.details.get("writeConcernErrors"):
            raise


def _unavailable_or_raise(exc: PyMongoError) -> Exception:
    """Map pymongo's errors: unreachable or overloaded servers mean "retry later"."""
    if isinstance(exc, ConnectionFailure | ExecutionTimeout | WTimeoutError):
        return StoreUnavailable(f"mongodb: {exc}")
    if isinstance(exc, OperationFailure) and exc.code in TRANSIENT_CODES:
        return StoreUnavailable(f"mongodb: {exc}")
    if isinstance(exc, BulkWriteError) and exc.details.get("writeConcernErrors"):
        return StoreUnavailable(f"mongodb: {exc}")
    return exc
