"""Webhook receivers for the benchmarks: each checks the Standard Webhooks signature of every
request and records `receipt time - event.ts` for every event.

    python -m bench.receivers --port P --secret S [--kind fast|aiohttp]

Both serve `POST /hook` (answers 204, or 401 for a bad signature), `GET /stats` (`count`,
`events`, `bad`, `first`, `last`, and `latency_ms` percentiles, see `event_latency_s`) and
`POST /reset` (clears the stats).

- `aiohttp`: an aiohttp web application (uvloop), what a Python receiver typically is.
- `fast`: a bare asyncio protocol (uvloop) that reads HTTP/1.1 requests with a
  `Content-Length` body, which is what the dispatcher sends, and nothing else. It does the
  same checks for a fraction of the CPU, so that on a small machine the receiver is
  neither the limit of a throughput run nor a large tenant of the cores it shares with
  what is being measured. It is a benchmark fixture, not an HTTP server.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
import time
from collections.abc import Callable, Mapping

import orjson

from tracer.brands import webhook_secret_bytes


def event_latency_s(event: dict, received_at: float) -> float:
    """Seconds from the event's own timestamp (`ts`, set where it happened: the edge for a
    click) to its receipt by the webhook receiver."""
    return received_at - float(event["ts"])


class LatencyRecorder:
    """Collects latencies and reports percentiles in milliseconds."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    def record(self, event: dict, received_at: float) -> None:
        self.samples.append(event_latency_s(event, received_at))

    def percentiles(self, points: tuple[float, ...] = (50, 90, 99, 99.9)) -> dict[str, float]:
        if not self.samples:
            return {}
        ordered = sorted(self.samples)
        last = len(ordered) - 1
        return {
            f"p{point:g}": round(ordered[min(last, int(point / 100 * len(ordered)))] * 1000, 2)
            for point in points
        } | {"max": round(ordered[-1] * 1000, 2)}


class Tally:
    """What a receiver counts, whatever its HTTP stack."""

    def __init__(self, secret: str) -> None:
        self.key = webhook_secret_bytes(secret)
        self.latencies = LatencyRecorder()
        self.reset()

    def reset(self) -> None:
        self.count = self.events = self.bad = 0
        self.first = self.last = 0.0
        self.latencies.samples.clear()

    def verified(self, headers: Mapping[str, str], body: bytes) -> bool:
        signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
        expected = base64.b64encode(hmac.new(self.key, signed, hashlib.sha256).digest()).decode()
        return any(
            hmac.compare_digest(candidate.partition(",")[2], expected)
            for candidate in headers.get("webhook-signature", "").split(" ")
        )

    def receive(self, headers: Mapping[str, str], body: bytes) -> int:
        """Count one webhook request; the status to answer."""
        now = time.time()
        if "webhook-id" in headers and not self.verified(headers, body):
            self.bad += 1
            return 401
        payload = orjson.loads(body)
        items = payload if isinstance(payload, list) else [payload]
        if "ts" in items[0]:
            for item in items:
                self.latencies.record(item, now)
        self.count += 1
        self.events += len(items)
        self.first = self.first or now
        self.last = now
        return 204

    def stats(self) -> dict:
        return {
            "count": self.count,
            "events": self.events,
            "bad": self.bad,
            "first": self.first,
            "last": self.last,
            "latency_ms": self.latencies.percentiles(),
        }


def run_aiohttp(port: int, secret: str) -> int:
    import uvloop
    from aiohttp import web

    tally = Tally(secret)

    async def hook(request: web.Request) -> web.Response:
        return web.Response(status=tally.receive(request.headers, await request.read()))

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(tally.stats())

    async def clear(request: web.Request) -> web.Response:
        tally.reset()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", clear)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None,
                loop=uvloop.new_event_loop())  # fmt: skip
    return 0


_NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"
_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"


def _answer(status: int, body: bytes = b"", content_type: str = "text/plain") -> bytes:
    if status == 204:
        return _NO_CONTENT
    reason = {200: "OK", 401: "Unauthorized"}[status]
    head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\n"
    return f"{head}content-length: {len(body)}\r\n\r\n".encode() + body


def parse_head(head: bytes) -> tuple[str, str, dict[str, str]] | None:
    """(method, path, headers with lower-case names) of a request head, or None."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            return None
        headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1], headers


def run_fast(port: int, secret: str) -> int:
    import asyncio

    import uvloop

    tally = Tally(secret)

    def route(method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        if method == "POST" and path == "/hook":
            return _answer(tally.receive(headers, body), b"bad signature")
        if method == "GET" and path == "/stats":
            return _answer(200, json.dumps(tally.stats()).encode(), "application/json")
        if method == "POST" and path == "/reset":
            tally.reset()
            return _answer(204)
        return _NOT_FOUND

    class Connection(asyncio.Protocol):
        def __init__(self) -> None:
            self.buffer = b""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: asyncio.Transport = transport  # type: ignore[assignment]

        def data_received(self, data: bytes) -> None:
            buffer = self.buffer + data if self.buffer else data
            answers = []
            while (end := buffer.find(b"\r\n\r\n")) >= 0:
                request = parse_head(buffer[:end])
                if request is None or "transfer-encoding" in request[2]:
                    self.transport.write(b"".join(answers) + _BAD_REQUEST)
                    self.transport.close()
                    return
                length = int(request[2].get("content-length", "0"))
                if len(buffer) < end + 4 + length:
                    break
                body, buffer = buffer[end + 4 : end + 4 + length], buffer[end + 4 + length :]
                answers.append(route(*request, body))
            self.buffer = buffer
            if answers:
                self.transport.write(b"".join(answers))

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Connection, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    uvloop.run(serve())
    return 0


RECEIVERS: dict[str, Callable[[int, str], int]] = {"fast": run_fast, "aiohttp": run_aiohttp}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.receivers", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--kind", choices=list(RECEIVERS), default="fast")
    args = parser.parse_args(argv)
    return RECEIVERS[args.kind](args.port, args.secret)


if __name__ == "__main__":
    sys.exit(main())
