"""`POST /v1/conversions`: the job board reports an application (or any conversion) back
with the click id the redirect gave it.

The conversion is queued as an event of the key's brand; the batcher attributes it to the
campaign, job source and message of the click with that id (same brand only). 202: the
event is in the queue, not yet in the store.
"""

from __future__ import annotations

import time

from aiohttp import web
from msgspec import UNSET

from admin.auth import authorize
from admin.errors import json_response
from admin.schemas import ConversionAccepted, ConversionRequest
from admin.services import SERVICES
from admin.validation import decode_body
from tracer.events import Event


async def post_conversion(request: web.Request) -> web.Response:
    """202 once the `conversion` event is in Redis."""
    conversion = decode_body(await request.read(), ConversionRequest)
    brand = authorize(request, conversion.brand)
    services = request.app[SERVICES]
    currency = conversion.currency
    if currency is UNSET:
        currency = services.brands.by_id[brand].currency
    now = time.time()
    event = Event(
        id=services.ids.next(now),
        type="conversion",
        ts=now,
        brand=brand,
        click_id=conversion.click_id,
        value=conversion.value,
        currency=currency,
        attrs=conversion.attrs,
        agent="human",
        bot=False,
    )
    await services.queue.push(event)
    return json_response(
        ConversionAccepted(id=event.id, brand=brand, click_id=conversion.click_id), status=202
    )
