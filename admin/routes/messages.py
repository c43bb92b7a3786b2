"""`POST /v1/messages`: one outgoing message → its tracked form, and a `sent` event.

Email with `html`: the HTML (and text part) rewritten by `tracer.rewrite`. Email with
`urls`: a tracked link per URL, for a sender that renders the message itself. SMS: a short
link per URL. Emails also get their open pixels, a canary link and the List-Unsubscribe
headers. The `sent` event is queued last, once everything was built, and the answer waits
for Redis to have it.
"""

from __future__ import annotations

import time

from aiohttp import web
from msgspec import UNSET

from admin.auth import authorize
from admin.errors import ApiError, json_response
from admin.schemas import (
    MAX_MESSAGE_URLS,
    MessageRequest,
    MessageResponse,
    OpenPixels,
    SkippedUrl,
    TrackedUrl,
    UnsubscribeHeaders,
)
from admin.services import SERVICES, Services
from admin.validation import decode_body, link_error
from tracer.events import POSITIONS, Event
from tracer.links import LinkError, normalize_destination
from tracer.rewrite import ONE_CLICK
from tracer.tokens import LinkPayload

# Message links are numbered from 1: index 0 is the canary's (as in the rewriter).
FIRST_LINK_INDEX = 1


async def post_message(request: web.Request) -> web.Response:
    """The tracked form of one message; answers once its `sent` event is in Redis."""
    message = decode_body(await request.read(), MessageRequest)
    brand = authorize(request, message.brand)
    services = request.app[SERVICES]
    _check_parts(message)
    message_id = message.message_id
    if message_id is UNSET:
        message_id = f"m-{services.ids.next()}"
    if message.channel == "sms":
        response = await _sms(services, brand, message_id, message)
    elif message.html is not UNSET:
        response = await _email_html(services, brand, message_id, message)
    else:
        response = _email_urls(services, brand, message_id, message)
    now = time.time()
    event = Event(
        id=services.ids.next(now),
        type="sent",
        ts=now,
        brand=brand,
        channel=message.channel,
        message_id=message_id,
        campaign=message.campaign,
        job_source=message.job_source,
        recipient=services.builder.hasher.hash(brand, message.recipient),
        agent="human",
        bot=False,
        sent_ts=now,
    )
    await services.queue.push(event)
    response.sent_event_id = event.id
    return json_response(response)


def _check_parts(message: MessageRequest) -> None:
    has_html, has_urls = message.html is not UNSET, message.urls is not UNSET
    if message.channel == "sms" and has_html:
        raise ApiError(422, "an SMS has no HTML: give its urls", field="html")
    if message.channel == "sms" and message.text is not UNSET:
        raise ApiError(422, "an SMS has no text part here: give its urls", field="text")
    if has_html and has_urls:
        raise ApiError(422, "give either html or urls, not both", field="urls")
    if not has_html and not has_urls:
        raise ApiError(422, "give the message's html or its urls", field="html")
    if message.text is not UNSET and not has_html:
        raise ApiError(422, "a text part goes with html", field="text")
    if has_urls and len(message.urls) > MAX_MESSAGE_URLS:
        raise ApiError(413, f"at most {MAX_MESSAGE_URLS} urls per message", field="urls")


async def _email_html(
    services: Services, brand: str, message_id: str, message: MessageRequest
) -> MessageResponse:
    try:
        # Off the event loop, within a time budget (admin.rewrites).
        result = await services.rewrites.rewrite(
            services.builder,
            brand,
            message_id,
            message.recipient,
            message.html,
            message.text if message.text is not UNSET else None,
            campaign=message.campaign,
            job_source=message.job_source,
            list_id=message.list_id,
        )
    except LinkError as exc:
        # Only the message's own fields can fail; a bad link is skipped, not an error.
        raise link_error(exc) from None
    return MessageResponse(
        brand=brand,
        channel="email",
        message_id=message_id,
        sent_event_id="",
        links=[
            TrackedUrl(index=link.index, url=link.url, tracked_url=link.tracked)
            for link in result.links
        ],
        html=result.html,
        text=result.text,
        headers=UnsubscribeHeaders(
            list_unsubscribe=result.list_unsubscribe,
            list_unsubscribe_post=result.list_unsubscribe_post,
        ),
        open_urls=OpenPixels(**result.open_urls),
        unsubscribe_url=result.unsubscribe_url,
        canary_url=result.canary_url,
        skipped=[SkippedUrl(url=skip.url, reason=skip.reason) for skip in result.skipped],
    )


def _email_urls(
    services: Services, brand: str, message_id: str, message: MessageRequest
) -> MessageResponse:
    builder = services.builder
    common = {"campaign": message.campaign, "job_source": message.job_source}
    try:
        # First, as the rewriter does: it checks every message-level field, so a
        # LinkError below can only be about that URL.
        unsubscribe_url = builder.unsubscribe(
            brand, message_id, recipient=message.recipient, list_id=message.list_id, **common
        )
        pixels = {
            position: builder.open(
                brand, message_id, recipient=message.recipient, position=position, **common
            )
            for position in POSITIONS
        }
        canary_url = builder.click(
            brand,
            message_id,
            services.brands.by_id[brand].landing_url,
            recipient=message.recipient,
            link=0,
            canary=True,
            **common,
        )
    except LinkError as exc:
        raise link_error(exc) from None
    links = []
    for position, given in enumerate(message.urls):
        try:
            # The answer names the destination the link carries, not the one given.
            url = normalize_destination(given)
            tracked = builder.click(
                brand,
                message_id,
                url,
                recipient=message.recipient,
                link=FIRST_LINK_INDEX + position,
                **common,
            )
        except LinkError as exc:
            raise link_error(exc, rename={"url": f"urls[{position}]"}) from None
        links.append(TrackedUrl(index=FIRST_LINK_INDEX + position, url=url, tracked_url=tracked))
    return MessageResponse(
        brand=brand,
        channel="email",
        message_id=message_id,
        sent_event_id="",
        links=links,
        html=None,
        text=None,
        headers=UnsubscribeHeaders(
            list_unsubscribe=f"<{unsubscribe_url}>", list_unsubscribe_post=ONE_CLICK
        ),
        open_urls=OpenPixels(**pixels),
        unsubscribe_url=unsubscribe_url,
        canary_url=canary_url,
        skipped=[],
    )


async def _sms(
    services: Services, brand: str, message_id: str, message: MessageRequest
) -> MessageResponse:
    builder = services.builder
    payloads: list[LinkPayload] = []
    for position, url in enumerate(message.urls):
        try:
            payloads.append(
                builder.click_payload(
                    brand,
                    message_id,
                    url,
                    recipient=message.recipient,
                    campaign=message.campaign,
                    job_source=message.job_source,
                    channel="sms",
                    link=FIRST_LINK_INDEX + position,
                )
            )
        except LinkError as exc:
            raise link_error(exc, rename={"url": f"urls[{position}]"}) from None
    slugs = await services.short_links.create(payloads)
    return MessageResponse(
        brand=brand,
        channel="sms",
        message_id=message_id,
        sent_event_id="",
        links=[
            TrackedUrl(
                index=FIRST_LINK_INDEX + position,
                url=payload.url,
                tracked_url=builder.short_url(brand, slug),
            )
            for position, (payload, slug) in enumerate(zip(payloads, slugs, strict=True))
        ],
        html=None,
        text=None,
        headers=None,
        open_urls=None,
        unsubscribe_url=None,
        canary_url=None,
        skipped=[],
    )
