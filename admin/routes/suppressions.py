"""`GET /v1/suppressions` (a page of the brand's suppressed recipients) and
`GET /v1/suppressions/check` (is this address or number suppressed?).

Recipients are stored only as keyed hashes; `check` hashes the address it is given with
the brand's key, exactly as the links did, and looks that up.
"""

from __future__ import annotations

from aiohttp import web
from msgspec import UNSET

from admin.auth import authorize
from admin.errors import ApiError, json_response
from admin.schemas import (
    SuppressionCheck,
    SuppressionCheckQuery,
    SuppressionItem,
    SuppressionPage,
    SuppressionsQuery,
)
from admin.services import SERVICES
from admin.validation import decode_query


async def list_suppressions(request: web.Request) -> web.Response:
    """One page of the brand's suppressions, oldest first."""
    query = decode_query(request.query, SuppressionsQuery)
    brand = authorize(request, query.brand)
    store = await request.app[SERVICES].store.get()
    # The store has no paging of its own: it lists a brand's suppressions, oldest first.
    rows = await store.suppressions(brand)
    if query.scope is not UNSET:
        rows = [row for row in rows if row.scope == query.scope]
    end = query.offset + query.limit
    return json_response(
        SuppressionPage(
            brand=brand,
            total=len(rows),
            offset=query.offset,
            limit=query.limit,
            next_offset=end if end < len(rows) else None,
            items=[
                SuppressionItem(
                    recipient=row.recipient, scope=row.scope, ts=row.ts, event_id=row.event_id
                )
                for row in rows[query.offset : end]
            ],
        )
    )


async def check_suppression(request: web.Request) -> web.Response:
    """Whether a message to this recipient (on `list_id`, if given) must not go out."""
    query = decode_query(request.query, SuppressionCheckQuery)
    brand_id = authorize(request, query.brand)
    services = request.app[SERVICES]
    lists = services.brands.by_id[brand_id].unsubscribe.lists
    if not query.recipient.strip():
        raise ApiError(422, "must not be blank", field="recipient")
    if query.list_id and query.list_id not in lists:
        raise ApiError(
            422, f"{query.list_id!r} is not a list of brand {brand_id!r}", field="list_id"
        )
    recipient = services.builder.hasher.hash(brand_id, query.recipient)
    store = await services.store.get()
    # Scope "" (all of the brand's marketing) first: it covers every list.
    if await store.is_suppressed(brand_id, recipient, ""):
        scopes = [""]
    else:
        scopes = [name for name in lists if await store.is_suppressed(brand_id, recipient, name)]
    return json_response(
        SuppressionCheck(
            brand=brand_id,
            recipient=recipient,
            list_id=query.list_id,
            suppressed="" in scopes or query.list_id in scopes,
            scopes=scopes,
        )
    )
