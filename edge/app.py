"""The edge: a bare ASGI application answering clicks, opens and unsubscribes.

The request path does only what the answer needs: a click opens its token (the
destination is inside it) and redirects; an open checks its token's shape and sends the
pixel. Each answered request leaves a raw hit (`tracer.hits`) with the recorder, which
journals it before the answer goes out; the batcher opens open tokens, finds the client
address and classifies. Nothing on the request path waits for Redis or any other I/O;
only the unsubscribe POST reads its own request body.
"""

from __future__ import annotations

import asyncio
import logging
import os
import traceback
import urllib.parse
from collections.abc import Awaitable, Callable
from time import time
from typing import Any

from edge import responses
from edge.forms import BodyTimeout, read_form
from edge.journal import DEFAULT_JOURNAL_BYTES
from edge.lru import LruCache
from edge.metrics import EdgeMetrics, SnapshotStore, render
from edge.metrics_port import MetricsPort
from edge.recorder import EventRecorder
from edge.responses import EMPTY_BODY, PIXEL, REDIRECT_HEADERS, Response
from edge.revocations import RevocationSync
from edge.sites import Site, SiteDirectory
from edge.unknown_slugs import UnknownSlugs
from tracer import hits
from tracer.context import Context
from tracer.errors import TokenError
from tracer.events import EventIds
from tracer.redis_cluster import REDIS_ERRORS
from tracer.revocations import RevocationSet
from tracer.slugs import is_slug
from tracer.slugs import resolve as resolve_slug
from tracer.tokens import CLICK, UNSUBSCRIBE, LinkPayload, TokenCodec, TokenShape

logger = logging.getLogger(__name__)

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
# The status each recording route answers with (the request counter's `status` label).
_STATUS_OF_ROUTE = {
    hits.CLICK: 302,
    hits.SHORT_LINK: 302,
    hits.REVOKED_CLICK: 302,
    hits.OPEN: 200,
    hits.UNSUBSCRIBE_VIEW: 200,
    hits.UNSUBSCRIBE: 200,
}


class Edge:
    """Holds the per-process state; `__call__` is the ASGI application."""

    def __init__(self, context: Context, producer: str | None = None) -> None:
        settings = context.settings
        self.settings = settings
        self.sites = SiteDirectory(context.brands)
        self.codec = TokenCodec(context.keyring)
        self.token_shape = TokenShape(context.keyring)
        self.ids = EventIds()
        self.metrics = EdgeMetrics()
        self._click_latency = self.metrics.latency_of("click")
        self._open_latency = self.metrics.latency_of("open")
        self._short_link_latency = self.metrics.latency_of("short_link")
        self.snapshots = SnapshotStore(settings.metrics_dir)
        self._sites_by_host = self.sites.cached
        self.recorder: EventRecorder | None = None
        self.short_links = LruCache(SHORT_LINK_CACHE_SIZE)
        self.unknown_slugs = UnknownSlugs()
        # Replaced as a whole by `RevocationSync` whenever the rules change.
        self.revoked = RevocationSet()
        self.producer = producer
        # Size of the worker's journal ring (0: no journal; only benchmarks turn it off).
        self.journal_bytes = DEFAULT_JOURNAL_BYTES
        self._record: Callable[[tuple], None] = _not_started
        self._shard_of: Callable[[str], int] = _not_started
        self._routes = {
            "/c/": self._click,
            "/o/": self._open,
            "/u/": self._unsubscribe,
            "/s/": self._short_link,
        }
        # /metrics is not among them: it names every brand and its traffic, so it is
        # served on a loopback-only port of its own (edge.metrics_port).
        self._exact = {
            "/healthz": self._healthz,
            "/readyz": self._readyz,
        }

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The ASGI application. A plain function that returns the route handler's own
        coroutine: one coroutine per request rather than two (under granian every µs of
        Python on the request path costs several of throughput). Each handler therefore
        catches its own failures (`_failed`)."""
        if scope["type"] == "http":
            path: str = scope["path"]
            handler = self._routes.get(path[:3])
            if handler is not None and len(path) <= MAX_PATH_CHARS:
                return handler(scope, receive, send, path)
            return self._other(scope, receive, send, path)
        if scope["type"] == "lifespan":
            return self._lifespan(receive, send)
        return _ignored()

    async def _failed(self, scope: Scope, send: Send, path: str) -> None:
        """A bug must not become a 500 page or a dropped connection: log it, answer 404."""
        error_id = os.urandom(6).hex()
        logger.error("request %s failed on %s\n%s", error_id, path[:3], traceback.format_exc())
        self.metrics.reject("internal_error")
        await _answer(send, responses.NOT_FOUND, scope["method"])

    # --- routes -----------------------------------------------------------------------------
    # The click and open handlers are the hot path: find the brand, check or open the token,
    # leave a raw hit with the recorder, answer. The batcher does everything else.

    async def _click(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        try:
            now = time()
            headers = dict(scope["headers"])
            site = self._site(headers)
            method = scope["method"]
            if site is None or (method != "GET" and method != "HEAD"):
                return await self._refuse(send, site, method)
            opened = self._opened(path[3:], site, CLICK)
            if opened is None:
                return await self._answer_site(send, site.landing, method)
            await send(self._redirect(hits.CLICK, site, opened, headers, scope, method, now))
            await send(EMPTY_BODY)
            self._click_latency(time() - now)
        except Exception:
            await self._failed(scope, send, path)

    async def _short_link(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        try:
            now = time()
            headers = dict(scope["headers"])
            site = self._site(headers)
            method = scope["method"]
            if site is None or (method != "GET" and method != "HEAD"):
                return await self._refuse(send, site, method)
            slug = path[3:]
            token = self.short_links.get(slug)
            if token is None:
                # A slug not seen by this worker yet: the only lookup on any request path.
                token = await self._resolve_slug(slug)
                if token is None:
                    return await self._answer_site(send, site.landing, method)
            opened = self._opened(token, site, CLICK)
            if opened is None:
                return await self._answer_site(send, site.landing, method)
            await send(self._redirect(hits.SHORT_LINK, site, opened, headers, scope, method, now))
            await send(EMPTY_BODY)
            self._short_link_latency(time() - now)
        except Exception:
            await self._failed(scope, send, path)

    def _redirect(
        self,
        route: str,
        site: Site,
        opened: tuple[bytes, LinkPayload],
        headers: dict[bytes, bytes],
        scope: Scope,
        method: str,
        now: float,
    ) -> dict[str, Any]:
        """Record the click and return the start of its 302 response. (A plain call, not a
        coroutine: on the hot path every coroutine frame counts.)"""
        plain, payload = opened
        event_id = self.ids.next(now)
        if payload.brand in self.revoked.brands:  # the one lookup while a brand has no rule
            rule = self.revoked.rule_for(payload)
            if rule is not None:
                # Revoked: to the landing page, recorded as a revoked click with the kind
                # of its rule (in the hit's list_id: the batcher makes it a reason code).
                self._record(
                    (hits.REVOKED_CLICK, site.id, "", plain, headers.get(b"user-agent", b""),
                     headers.get(b"x-forwarded-for", b""), scope["client"], method, now,
                     event_id, rule, self._shard_of(payload.message_id))
                )  # fmt: skip
                site.counts[hits.REVOKED_CLICK] += 1
                return site.landing.start
        location = site.redirects.location(
            payload.url,
            payload.channel,
            payload.campaign,
            payload.job_source,
            payload.message_id,
            payload.link,
            event_id,
        )
        # The fields of `tracer.hits.RawHit`, in order.
        self._record(
            (route, site.id, "", plain, headers.get(b"user-agent", b""),
             headers.get(b"x-forwarded-for", b""), scope["client"], method, now, event_id,
             None, self._shard_of(payload.message_id))
        )  # fmt: skip
        site.counts[route] += 1
        return {
            "type": "http.response.start",
            "status": 302,
            "headers": [(b"location", location), *REDIRECT_HEADERS],
        }

    async def _open(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        """The pixel does not depend on the token: only its shape is checked here; the
        batcher opens it, and counts and drops it if it does not authenticate."""
        try:
            now = time()
            headers = dict(scope["headers"])
            site = self._site(headers)
            method = scope["method"]
            if site is None or (method != "GET" and method != "HEAD"):
                return await self._refuse(send, site, method)
            token = path[3:-4] if path.endswith(".gif") else path[3:]
            if not self.token_shape(token):
                self.metrics.reject(self.token_shape.problem(token))
                return await self._answer_site(send, responses.PIXEL_NOT_FOUND, method)
            self._record(
                (hits.OPEN, site.id, token, b"", headers.get(b"user-agent", b""),
                 headers.get(b"x-forwarded-for", b""), scope["client"], method, now,
                 self.ids.next(now), None, hits.ANY_SHARD)
            )  # fmt: skip
            site.counts[hits.OPEN] += 1
            await send(PIXEL.start)
            await send(PIXEL.body if method == "GET" else PIXEL.head_body)
            self._open_latency(time() - now)
        except Exception:
            await self._failed(scope, send, path)

    async def _unsubscribe(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        try:
            await self._unsubscribe_page(scope, receive, send, path)
        except Exception:
            await self._failed(scope, send, path)

    async def _unsubscribe_page(
        self, scope: Scope, receive: Receive, send: Send, path: str
    ) -> None:
        headers = dict(scope["headers"])
        site = self._site(headers)
        method = scope["method"]
        if site is None:
            return await self._reject(send, "unknown_host", responses.NOT_FOUND, method)
        if method not in ("GET", "HEAD", "POST"):
            return await self._reject(
                send, "method", responses.UNSUBSCRIBE_METHOD_NOT_ALLOWED, method
            )
        opened = self._opened(path[3:], site, UNSUBSCRIBE)
        if opened is None:
            page = site.landing if method != "POST" else site.invalid_page
            return await self._answer_site(send, page, method)
        _plain, payload = opened
        if method != "POST":
            self._record_page(hits.UNSUBSCRIBE_VIEW, site, opened, headers, scope, None)
            page = responses.html_response(200, site.pages.confirm(payload.hint, payload.list_id))
            return await _answer(send, page, method)
        try:
            form = await read_form(receive, MAX_FORM_BYTES)
        except BodyTimeout:
            return await self._reject(send, "body_timeout", responses.REQUEST_TIMEOUT, method)
        if form is None:
            return await self._reject(send, "body_too_large", responses.PAYLOAD_TOO_LARGE, method)
        list_id = _unsubscribe_scope(form, payload.list_id)
        if list_id is None:
            page = responses.html_response(400, site.pages.confirm(payload.hint, payload.list_id))
            return await self._reject(send, "bad_form", page, method)
        self._record_page(hits.UNSUBSCRIBE, site, opened, headers, scope, list_id)
        await _answer(
            send, responses.html_response(200, site.pages.done(payload.hint, list_id)), method
        )

    def _record_page(
        self,
        route: str,
        site: Site,
        opened: tuple[bytes, LinkPayload],
        headers: dict[bytes, bytes],
        scope: Scope,
        list_id: str | None,
    ) -> None:
        now = time()
        plain, payload = opened
        self._record(
            (route, site.id, "", plain, headers.get(b"user-agent", b""),
             headers.get(b"x-forwarded-for", b""), scope["client"], scope["method"], now,
             self.ids.next(now), list_id, self._shard_of(payload.message_id))
        )  # fmt: skip
        site.counts[route] += 1

    def _site(self, headers: dict[bytes, bytes]) -> Site | None:
        """The brand whose tracking host the request names (None: no Host, or not ours)."""
        host = headers.get(b"host")
        if host is None:
            return None
        return self._sites_by_host(host) or self.sites.find(host)

    async def _refuse(self, send: Send, site: Site | None, method: str) -> None:
        if site is None:
            return await self._reject(send, "unknown_host", responses.NOT_FOUND, method)
        await self._reject(send, "method", responses.METHOD_NOT_ALLOWED, method)

    async def _resolve_slug(self, slug: str) -> str | None:
        if not is_slug(slug):
            self.metrics.reject("bad_slug")
            return None
        if slug in self.unknown_slugs:
            self.metrics.reject("unknown_slug_cached")
            return None
        recorder = self.recorder
        try:
            token = await asyncio.wait_for(
                resolve_slug(recorder.client, slug), self.settings.redis_timeout_s
            )
        except (*REDIS_ERRORS, OSError, TimeoutError):
            self.metrics.reject("slug_lookup_failed")
            return None
        if token is None:
            self.metrics.reject("unknown_slug")
            self.unknown_slugs.add(slug)
            return None
        self.short_links.put(slug, token)
        return token

    async def _other(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        try:
            handler = self._exact.get(path)
            if handler is not None:
                return await handler(scope, send)
            reason = "path_too_long" if len(path) > MAX_PATH_CHARS else "unknown_route"
            site = self.sites.find(dict(scope["headers"]).get(b"host", b""))
            if site is not None and path[:3] in self._routes:
                return await self._reject(send, reason, site.landing, scope["method"])
            await self._reject(send, reason, responses.NOT_FOUND, scope["method"])
        except Exception:
            await self._failed(scope, send, path)

    async def _healthz(self, scope: Scope, send: Send) -> None:
        await _answer(send, responses.HEALTHY, scope["method"])

    async def _readyz(self, scope: Scope, send: Send) -> None:
        recorder = self.recorder
        ready = recorder is not None and (
            recorder.redis_available or os.access(recorder.spool_dir, os.W_OK)
        )
        await _answer(send, responses.READY if ready else responses.NOT_READY, scope["method"])

    def _render_metrics(self) -> bytes:
        """Prometheus text for the metrics port (edge.metrics_port), never the public one."""
        self._update_gauges()
        return render(self.metrics, self.snapshots.others())

    # --- helpers --------------------------------------------------------------------------
    def _opened(self, token: str, site: Site, kind: int) -> tuple[bytes, LinkPayload] | None:
        """The token's plaintext and payload when it opens and belongs here; None
        (counted) otherwise."""
        try:
            opened = self.codec.open_plain(token)
        except TokenError as exc:
            self.metrics.reject(exc.reason)
            return None
        payload = opened[1]
        if payload.brand != site.id:
            self.metrics.reject("wrong_host")
            return None
        if payload.kind != kind:
            self.metrics.reject("wrong_route")
            return None
        if site.link_ttl_s and payload.issued + site.link_ttl_s < time():
            self.metrics.reject("expired")
            return None
        return opened

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
        self.metrics.requests.update(
            {
                (route, _STATUS_OF_ROUTE[route], site.id, ""): count
                for site in self.sites.by_id.values()
                for route, count in site.counts.items()
                if count
            }
        )
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
        self.metrics.counters["tracer_edge_journal_overflows_total"] = recorder.journal_overflows

    # --- lifespan ---------------------------------------------------------------------------
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        steps = {"lifespan.startup": self.startup, "lifespan.shutdown": self.shutdown}
        while True:
            message = await receive()
            phase = message["type"]
            try:
                await steps[phase]()
            except Exception:
                # Report the failure: granian would otherwise serve on without a recorder.
                await send({"type": f"{phase}.failed", "message": traceback.format_exc()})
                return
            await send({"type": f"{phase}.complete"})
            if phase == "lifespan.shutdown":
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
            cluster=settings.redis_cluster,
            journal_bytes=self.journal_bytes,
        )
        await self.recorder.start()
        self._record = self.recorder.record
        self._shard_of = self.recorder.shard_of
        self.revocations = RevocationSync(
            settings.redis_url or "redis://127.0.0.1:6379/0",
            cluster=settings.redis_cluster,
            timeout_s=settings.redis_timeout_s,
            snapshot=settings.data_dir / "revocations.json",
            apply=self._apply_revocations,
        )
        await self.revocations.start()
        self.metrics_port = MetricsPort(
            settings.edge_metrics_host, settings.edge_metrics_port, self._render_metrics
        )
        await self.metrics_port.start()
        self._snapshot_task = asyncio.get_running_loop().create_task(self._write_snapshots())
        logger.info("edge worker %d ready (producer %s)", os.getpid(), producer)

    def _apply_revocations(self, revoked: RevocationSet) -> None:
        self.revoked = revoked
        self.metrics.gauges["tracer_edge_revocation_rules"] = revoked.size

    async def shutdown(self) -> None:
        self._snapshot_task.cancel()
        await self.metrics_port.close()
        await self.revocations.close()
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


async def _ignored() -> None:
    """Scopes other than http and lifespan (websocket): not served."""


def _not_started(*hit: object) -> Any:
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
