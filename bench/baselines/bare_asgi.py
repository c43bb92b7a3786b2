"""The ceiling of the edge's stack: a bare ASGI callable under granian that answers every
request with one precomputed 302 and does nothing else (no routing, no token, no event).

    granian --interface asgi --loop uvloop --workers 1 bench.baselines.bare_asgi:app
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Same shape of answer as the edge's click: a job page with UTM parameters and a click id.
LOCATION = (
    b"https://northjobs.example/jobs/48213-senior-welder-duluth-mn"
    b"?utm_source=northjobs&utm_medium=email&utm_campaign=daily-alert&tclid=bench"
)
RESPONSE_START: Message = {
    "type": "http.response.start",
    "status": 302,
    "headers": [
        (b"location", LOCATION),
        (b"content-length", b"0"),
        (b"cache-control", b"no-store"),
    ],
}
RESPONSE_BODY: Message = {"type": "http.response.body", "body": b""}


async def app(scope: Message, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send(RESPONSE_START)
        await send(RESPONSE_BODY)
    elif scope["type"] == "lifespan":
        await lifespan(receive, send)


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
