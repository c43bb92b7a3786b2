"""`POST /v1/links`: tracked links in bulk (up to 10,000 a call; 413 beyond).

Email links are self-contained tokens (`/c/…`); SMS links are short slugs stored in Redis,
allocated in one go for all the SMS links of the call.
"""

from __future__ import annotations

from aiohttp import web

from admin.auth import authorize
from admin.errors import ApiError, json_response
from admin.schemas import MAX_BULK_LINKS, BulkLink, LinkSpec, LinksRequest, LinksResponse
from admin.services import SERVICES
from admin.validation import decode_body, link_error
from tracer.links import LinkError
from tracer.tokens import LinkPayload


async def post_links(request: web.Request) -> web.Response:
    """Tracked URLs for every link asked, in request order; all or none (422)."""
    body = decode_body(await request.read(), LinksRequest)
    brand = authorize(request, body.brand)
    if len(body.links) > MAX_BULK_LINKS:
        raise ApiError(413, f"at most {MAX_BULK_LINKS} links per call", field="links")
    services = request.app[SERVICES]
    builder = services.builder
    tracked: dict[int, str] = {}
    destinations: dict[int, str] = {}
    short: dict[int, LinkPayload] = {}
    for index, spec in enumerate(body.links):
        try:
            payload = builder.click_payload(brand, **_arguments(spec))
            destinations[index] = payload.url
            if spec.channel == "sms":
                short[index] = payload
            else:
                tracked[index] = builder.seal_click(payload)
        except LinkError as exc:
            raise link_error(exc, prefix=f"links[{index}]") from None
    if short:
        slugs = await services.short_links.create(list(short.values()))
        for index, slug in zip(short, slugs, strict=True):
            tracked[index] = builder.short_url(brand, slug)
    links = [
        BulkLink(
            index=index,
            message_id=spec.message_id,
            channel=spec.channel,
            # The destination the link carries (normalised), not the one given.
            url=destinations[index],
            tracked_url=tracked[index],
        )
        for index, spec in enumerate(body.links)
    ]
    return json_response(LinksResponse(brand=brand, links=links))


def _arguments(spec: LinkSpec) -> dict[str, object]:
    return {
        "message_id": spec.message_id,
        "url": spec.url,
        "recipient": spec.recipient,
        "campaign": spec.campaign,
        "job_source": spec.job_source,
        "channel": spec.channel,
        "link": spec.link,
    }
