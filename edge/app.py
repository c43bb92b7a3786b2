"""The edge: a bare ASGI application answering clicks, opens and unsubscribes.

The request path decodes the token in-process, classifies the request, appends the event
to the recorder's buffer and sends a precomputed (or nearly) response. It never waits for
Redis or any other I/O; only the unsubscribe POST reads its own request body.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import traceback
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from redis.exceptions import RedisError

from edge import responses
from edge.lru import LruCache
from edge.metrics import EdgeMetrics, SnapshotStore, render
from edge.recorder import EventRecorder
from edge.responses import EMPTY_BODY, REDIRECT_HEADERS, Response
from edge.sites import Site, SiteDirectory
from edge.trust import ClientAddress
from tracer.context import Context
from tracer.errors import TokenError
from tracer.events import EventIds
from tracer.slugs import is_slug
from tracer.slugs import resolve as resolve_slug
from tracer.tokens import CLICK, OPEN, UNSUBSCRIBE, LinkPayload, TokenCodec

logger = logging.getLogger("tracer.edge")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Paths longer than this are refused before any decoding (tokens are at most 6 KB).
MAX_PATH_CHARS = 8192
MAX_FORM_BYTES = 16384
# Slug -> token entries kept per worker (an SMS campaign's links are clicked in bursts).
SHORT_LINK_CACHE_SIZE = 100_000
SNAPSHOT_INTERVAL_S = 1.0
ONE_CLICK = b"List-Unsubscribe=One-Click"
_encode_fields = msgspec.msgpack.Encoder().encode


class Edge:
    """Holds the per-process state; `__call__` is the ASGI application."""

    def __init__(self, context: Context, producer: str | None = None) -> None:
        settings = context.settings
        self.settings = settings
        self.sites = SiteDirectory(context.brands)
        self.codec = TokenCodec(context.keyring)
        self.ids = EventIds()
        self.metrics = EdgeMetrics()
        self._tally_click = self.metrics.route("click")
        self._tally_open = self.metrics.route("open")
        self._tally_short_link = self.metrics.route("short_link")
        self.snapshots = SnapshotStore(settings.metrics_dir)
        self.client_address = ClientAddress(settings.trusted_proxies)
        self.recorder: EventRecorder | None = None
        self.short_links = LruCache(SHORT_LINK_CACHE_SIZE)
        self._location = b""
        self.producer = producer
        self._record: Callable[[bytes], None] = _not_started
        self._routes = {
            "/c/": self._click,
            "/o/": self._open,
            "/u/": self._unsubscribe,
            "/s/": self._short_link,
        }
        self._exact = {
            "/healthz": self._healthz,
            "/readyz": self._readyz,
            "/metrics": self._metrics,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self._lifespan(receive, send)
            return
        path: str = scope["path"]
        handler = self._routes.get(path[:3])
        try:
            if handler is not None and len(path) <= MAX_PATH_CHARS:
                await handler(scope, receive, send, path)
            else:
                await self._other(scope, receive, send, path)
        except Exception:  # a bug must not become a 500 page or a dropped connection
            error_id = os.urandom(6).hex()
            logger.error("request %s failed on %s\n%s", error_id, path[:3], traceback.format_exc())
            self.metrics.reject("internal_error")
            await _answer(send, responses.NOT_FOUND, scope["method"])

    # --- routes -----------------------------------------------------------------------------
    async def _click(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        started = time.perf_counter()
        headers = dict(scope["headers"])
        site = self.sites.find(headers.get(b"host", b""))
        method = scope["method"]
        if site is None:
            return await self._reject(send, "unknown_host", responses.NOT_FOUND, method)
        if method != "GET" and method != "HEAD":
            return await self._reject(send, "method", responses.METHOD_NOT_ALLOWED, method)
        payload = self._payload(path[3:], site, CLICK)
        if payload is None:
            return await self._answer_site(send, site.landing, method)
        agent = self._record_click(scope, headers, site, payload, method)
        await send(
            {
                "type": "http.response.start",
                "status": 302,
                "headers": [(b"location", self._location), *REDIRECT_HEADERS],
            }
        )
        await send(EMPTY_BODY)
        self._tally_click(site.keys["click"][agent], time.perf_counter() - started)

    def _record_click(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        site: Site,
        payload: LinkPayload,
        method: str,
    ) -> str:
        """Classify and record a click; leaves its Location in `self._location` and
        returns the verdict's agent. (A plain call, not a coroutine: cheaper per request.)"""
        now = time.time()
        ip = self.client_address(scope, headers)
        ua = headers.get(b"user-agent", b"").decode("utf-8", "replace")
        verdict = site.classifier.click(
            ip,
            ua,
            method,
            now - payload.issued,
            payload.canary,
            payload.message_id,
            payload.link,
            now,
        )
        event_id = self.ids.next(now)
        self._location = site.redirects.location(
            payload.url,
            payload.channel,
            payload.campaign,
            payload.job_source,
            payload.message_id,
            payload.link,
            event_id,
        )
        self._record_event(site, payload, "click", event_id, now, ip, ua, method, verdict)
        return verdict.agent

    async def _open(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        started = time.perf_counter()
        headers = dict(scope["headers"])
        site = self.sites.find(headers.get(b"host", b""))
        method = scope["method"]
        if site is None:
            return await self._reject(send, "unknown_host", responses.NOT_FOUND, method)
        if method != "GET" and method != "HEAD":
            return await self._reject(send, "method", responses.METHOD_NOT_ALLOWED, method)
        token = path[3:-4] if path.endswith(".gif") else path[3:]
        payload = self._payload(token, site, OPEN)
        if payload is None:
            return await self._answer_site(send, responses.PIXEL_NOT_FOUND, method)
        now = time.time()
        ip = self.client_address(scope, headers)
        ua = headers.get(b"user-agent", b"").decode("utf-8", "replace")
        verdict = site.classifier.open(ip, ua, method, now - payload.issued)
        event_id = self.ids.next(now)
        self._record_event(site, payload, "open", event_id, now, ip, ua, method, verdict)
        pixel = responses.PIXEL
        await send(pixel.start)
        await send(pixel.body if method == "GET" else pixel.head_body)
        self._tally_open(site.keys["open"][verdict.agent], time.perf_counter() - started)

    async def _unsubscribe(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        headers = dict(scope["headers"])
        site = self.sites.find(headers.get(b"host", b""))
        method = scope["method"]
        if site is None:
            return await self._reject(send, "unknown_host", responses.NOT_FOUND, method)
        if method not in ("GET", "HEAD", "POST"):
            return await self._reject(
                send, "method", responses.UNSUBSCRIBE_METHOD_NOT_ALLOWED, method
            )
        payload = self._payload(path[3:], site, UNSUBSCRIBE)
        if payload is None:
            page = site.landing if method != "POST" else site.invalid_page
            return await self._answer_site(send, page, method)
        now = time.time()
        ip = self.client_address(scope, headers)
        ua = headers.get(b"user-agent", b"").decode("utf-8", "replace")
        verdict = site.classifier.page(ip, ua, method)
        if method != "POST":
            event_id = self.ids.next(now)
            self._record_event(
                site, payload, "unsubscribe_view", event_id, now, ip, ua, method, verdict
            )
            page = responses.html_response(200, site.pages.confirm(payload.hint, payload.list_id))
            self.metrics.count("unsubscribe_view", 200, site.id, verdict.agent)
            return await _answer(send, page, method)
        form = await _read_body(receive, MAX_FORM_BYTES)
        if form is None:
            return await self._reject(send, "body_too_large", responses.PAYLOAD_TOO_LARGE, method)
        list_id = _unsubscribe_scope(form, payload.list_id)
        if list_id is None:
            page = responses.html_response(400, site.pages.confirm(payload.hint, payload.list_id))
            return await self._reject(send, "bad_form", page, method)
        event_id = self.ids.next(now)
        self._record_event(
            site, payload, "unsubscribe", event_id, now, ip, ua, method, verdict, list_id
        )
        self.metrics.count("unsubscribe", 200, site.id, verdict.agent)
        await _answer(
            send, responses.html_response(200, site.pages.done(payload.hint, list_id)), method
        )

    async def _short_link(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        started = time.perf_counter()
        headers = dict(scope["headers"])
        site = self.sites.find(headers.get(b"host", b""))
        method = scope["method"]
        if site is None:
            return await self._reject(send, "unknown_host", responses.NOT_FOUND, method)
        if method != "GET" and method != "HEAD":
            return await self._reject(send, "method", responses.METHOD_NOT_ALLOWED, method)
        slug = path[3:]
        token = self.short_links.get(slug)
        if token is None:
            # A slug not seen by this worker yet: the only lookup on any request path.
            token = await self._resolve_slug(slug)
            if token is None:
                return await self._answer_site(send, site.landing, method)
        payload = self._payload(token, site, CLICK)
        if payload is None:
            return await self._answer_site(send, site.landing, method)
        agent = self._record_click(scope, headers, site, payload, method)
        await send(
            {
                "type": "http.response.start",
                "status": 302,
                "headers": [(b"location", self._location), *REDIRECT_HEADERS],
            }
        )
        await send(EMPTY_BODY)
        self._tally_short_link(site.keys["short_link"][agent], time.perf_counter() - started)

    async def _resolve_slug(self, slug: str) -> str | None:
        if not is_slug(slug):
            self.metrics.reject("bad_slug")
            return None
        recorder = self.recorder
        try:
            token = await asyncio.wait_for(
                resolve_slug(recorder.client, slug), self.settings.redis_timeout_s
            )
        except (RedisError, OSError, TimeoutError):
            self.metrics.reject("slug_lookup_failed")
            return None
        if token is None:
            self.metrics.reject("unknown_slug")
            return None
        self.short_links.put(slug, token)
        return token

    async def _other(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        handler = self._exact.get(path)
        if handler is not None:
            return await handler(scope, send)
        reason = "path_too_long" if len(path) > MAX_PATH_CHARS else "unknown_route"
        site = self.sites.find(dict(scope["headers"]).get(b"host", b""))
        if site is not None and path[:3] in self._routes:
            return await self._reject(send, reason, site.landing, scope["method"])
        await self._reject(send, reason, responses.NOT_FOUND, scope["method"])

    async def _healthz(self, scope: Scope, send: Send) -> None:
        await _answer(send, responses.HEALTHY, scope["method"])

    async def _readyz(self, scope: Scope, send: Send) -> None:
        recorder = self.recorder
        ready = recorder is not None and (
            recorder.redis_available or os.access(recorder.spool_dir, os.W_OK)
        )
        await _answer(send, responses.READY if ready else responses.NOT_READY, scope["method"])

    async def _metrics(self, scope: Scope, send: Send) -> None:
        self._update_gauges()
        body = render(self.metrics, self.snapshots.others())
        page = responses.response(
            200, [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")], body
        )
        await _answer(send, page, scope["method"])

    # --- helpers --------------------------------------------------------------------------
    def _payload(self, token: str, site: Site, kind: int) -> LinkPayload | None:
        """The token's payload when it opens and belongs here; None (counted) otherwise."""
        try:
            payload = self.codec.open(token)
        except TokenError as exc:
            self.metrics.reject(_token_reason(str(exc)))
            return None
        if payload.brand != site.id:
            self.metrics.reject("wrong_host")
            return None
        if payload.kind != kind:
            self.metrics.reject("wrong_route")
            return None
        if site.link_ttl_s and payload.issued + site.link_ttl_s < time.time():
            self.metrics.reject("expired")
            return None
        return payload

    def _record_event(
        self,
        site: Site,
        payload: LinkPayload,
        kind: str,
        event_id: str,
        now: float,
        ip: str,
        ua: str,
        method: str,
        verdict: Any,
        list_id: str | None = None,
    ) -> None:
        agent = verdict.agent
        # The fields of `Event`, positionally: msgpack encodes this list exactly as it
        # encodes the array_like Struct (tests/edge/test_event_layout.py holds them equal),
        # without building the Struct on the hot path.
        self._record(
            _encode_fields(
                [
                    event_id,
                    kind,
                    now,
                    site.id,
                    payload.channel,
                    payload.message_id,
                    payload.campaign,
                    payload.job_source,
                    payload.link,
                    payload.url,
                    payload.position,
                    payload.recipient,
                    site.truncate_ip(ip),
                    ua if site.store_user_agent else "",
                    agent,
                    verdict.reasons,
                    agent not in site.human_agents,
                    event_id if kind == "click" else "",
                    method,
                    "",
                    float(payload.issued),
                    payload.list_id if list_id is None else list_id,
                ]
            )
        )

    async def _reject(self, send: Send, reason: str, page: Response, method: str) -> None:
        self.metrics.reject(reason)
        await self._answer_site(send, page, method)

    async def _answer_site(self, send: Send, page: Response, method: str) -> None:
        self.metrics.count("rejected", page.status, "", "")
        await _answer(send, page, method)

    def _update_gauges(self) -> None:
        recorder = self.recorder
        if recorder is None:
            return
        stats = recorder.stats
        self.metrics.gauges.update(
            {
                "tracer_edge_events_buffered": recorder.buffered,
                "tracer_edge_spool_bytes": recorder.spool_bytes,
                "tracer_edge_redis_up": 1 if recorder.redis_available else 0,
            }
        )
        self.metrics.counters.update(
            {f"tracer_edge_{name}_total": getattr(stats, name) for name in stats.__slots__}
        )

    # --- lifespan ---------------------------------------------------------------------------
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception:
                    # Granian would otherwise serve on without a recorder.
                    await send(
                        {"type": "lifespan.startup.failed", "message": traceback.format_exc()}
                    )
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.shutdown()
                except Exception:
                    await send(
                        {"type": "lifespan.shutdown.failed", "message": traceback.format_exc()}
                    )
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        settings = self.settings
        self.ids.reseed()
        producer = self.producer or self.ids.next()[12:20] + os.urandom(2).hex()
        self.recorder = EventRecorder(
            settings.redis_url or "redis://127.0.0.1:6379/0",
            settings.spool_dir,
            shards=settings.queue_shards,
            flush_max_events=settings.flush_max_events,
            flush_interval_s=settings.flush_interval_s,
            redis_timeout_s=settings.redis_timeout_s,
            producer=producer,
        )
        await self.recorder.start()
        self._record = self.recorder.record
        self._snapshot_task = asyncio.get_running_loop().create_task(self._write_snapshots())
        logger.info("edge worker %d ready (producer %s)", os.getpid(), producer)

    async def shutdown(self) -> None:
        self._snapshot_task.cancel()
        recorder = self.recorder
        if recorder is not None:
            pending = recorder.buffered
            await recorder.close()
            logger.info(
                "edge worker %d stopped: flushed %d buffered event(s); %d pushed in all",
                os.getpid(),
                pending,
                recorder.stats.events_pushed,
            )
        self._update_gauges()
        self.snapshots.write(self.metrics)

    async def _write_snapshots(self) -> None:
        while True:
            await asyncio.sleep(SNAPSHOT_INTERVAL_S)
            self._update_gauges()
            try:
                self.snapshots.write(self.metrics)
            except OSError as exc:
                logger.warning("cannot write metrics snapshot: %s", exc)


async def _answer(send: Send, page: Response, method: str) -> None:
    await send(page.start)
    await send(page.body if method != "HEAD" else page.head_body)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _unsubscribe_scope(form: bytes, token_list: str) -> str | None:
    """The suppression scope a POST asks for: the token's own scope for an RFC 8058
    one-click POST, the page's choice otherwise; None for a body that asks for nothing."""
    if ONE_CLICK in form or b'name="List-Unsubscribe"' in form:
        return token_list
    fields = urllib.parse.parse_qs(form.decode("utf-8", "replace"))
    choice = fields.get("scope", [""])[0]
    if choice == "all":
        return ""
    if choice == "list" and token_list:
        return token_list
    return None


def _token_reason(message: str) -> str:
    return {
        "token too long": "token_too_long",
        "not base64url": "bad_encoding",
        "unknown token version": "bad_version",
        "unknown or retired key id": "unknown_key",
        "authentication failed": "tampered",
        "payload does not decode": "bad_payload",
    }.get(message, "bad_token")


def _not_started(event: bytes) -> None:
    raise RuntimeError("the edge has not started (lifespan startup did not run)")


def create_app() -> Edge:
    """Granian's factory target: load settings, brands and keys, validate them, and build
    the application for this worker process."""
    from tracer.context import load_context
    from tracer.logs import configure_logging
    from tracer.observability import init_sentry

    context = load_context()
    configure_logging(context.settings.log_level, role="edge")
    init_sentry("edge", context.settings)
    return Edge(context)
