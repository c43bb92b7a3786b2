"""Responses as ASGI messages, built once and sent as they are.

Granian only reads the message dicts it is given, so one dict can serve every request.
"""

from __future__ import annotations

from typing import NamedTuple

# The smallest transparent GIF: 1x1, 43 bytes.
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
assert len(PIXEL_GIF) == 43

# RFC 9111: no-store alone keeps every cache (browser, proxy, image proxy) from storing it.
NO_STORE = (b"cache-control", b"no-store")
NO_REFERRER = (b"referrer-policy", b"no-referrer")
NO_INDEX = (b"x-robots-tag", b"noindex, nofollow")
# Headers of every redirect; the Location header is added per request.
REDIRECT_HEADERS = [(b"content-length", b"0"), NO_STORE, NO_REFERRER]
PAGE_SECURITY = [
    (
        b"content-security-policy",
        b"default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    NO_INDEX,
    NO_REFERRER,
]

EMPTY_BODY = {"type": "http.response.body", "body": b"", "more_body": False}


class Response(NamedTuple):
    start: dict
    body: dict
    # The same response to a HEAD request: headers only.
    head_body: dict
    status: int


def response(status: int, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> Response:
    headers = [(b"content-length", str(len(body)).encode()), *headers]
    return Response(
        start={"type": "http.response.start", "status": status, "headers": headers},
        body={"type": "http.response.body", "body": body, "more_body": False},
        head_body=EMPTY_BODY,
        status=status,
    )


def redirect_response(location: bytes) -> Response:
    return response(302, [(b"location", location), NO_STORE, NO_REFERRER])


def text_response(status: int, text: str, extra: list[tuple[bytes, bytes]] = ()) -> Response:
    return response(
        status, [(b"content-type", b"text/plain; charset=utf-8"), NO_STORE, *extra], text.encode()
    )


def html_response(status: int, html: bytes) -> Response:
    return response(
        status, [(b"content-type", b"text/html; charset=utf-8"), NO_STORE, *PAGE_SECURITY], html
    )


PIXEL = response(
    200,
    [(b"content-type", b"image/gif"), NO_STORE, (b"pragma", b"no-cache"), (b"expires", b"0")],
    PIXEL_GIF,
)
# A pixel whose token does not open: honest status, but still an image, so mail clients
# draw nothing instead of a broken-image icon.
PIXEL_NOT_FOUND = response(404, [(b"content-type", b"image/gif"), NO_STORE], PIXEL_GIF)
NOT_FOUND = text_response(404, "not found\n")
METHOD_NOT_ALLOWED = text_response(405, "method not allowed\n", [(b"allow", b"GET, HEAD")])
UNSUBSCRIBE_METHOD_NOT_ALLOWED = text_response(
    405, "method not allowed\n", [(b"allow", b"GET, HEAD, POST")]
)
PAYLOAD_TOO_LARGE = text_response(413, "request body too large\n")
REQUEST_TIMEOUT = text_response(
    408, "request body not received in time\n", [(b"connection", b"close")]
)
HEALTHY = text_response(200, "ok\n")
READY = text_response(200, "ready\n")
NOT_READY = text_response(503, "not ready: Redis unreachable and the spool is not writable\n")
