"""One webhook endpoint at run time: its connection pool, concurrency limit, signer and
circuit breaker, and the send of one request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiohttp
import yarl

from dispatcher.breaker import CircuitBreaker, Permit
from dispatcher.deadlines import Deadlines
from dispatcher.delivery import CIRCUIT_OPEN, DISABLED, Disposition, Outcome, post
from dispatcher.metrics import EndpointStats
from dispatcher.options import DispatcherOptions
from dispatcher.payload import message
from dispatcher.signing import Signer
from dispatcher.ssrf import guarded_socket
from dispatcher.workers import WorkerPool
from tracer.brands import Webhook
from tracer.events import Event
from tracer.webhooks import WebhookJob


def client_session(hook: Webhook) -> aiohttp.ClientSession:
    """The connection pool of one endpoint (inside the running loop)."""
    connector = aiohttp.TCPConnector(
        limit=hook.max_concurrency,
        # The SSRF guard checks every address actually connected to.
        socket_factory=None if hook.allow_private else guarded_socket,
    )
    return aiohttp.ClientSession(
        connector=connector,
        # `timeout_s` is enforced by `Deadlines`, without a timer per request.
        timeout=aiohttp.ClientTimeout(total=None),
        # Receivers' cookies are neither kept nor sent back.
        cookie_jar=aiohttp.DummyCookieJar(),
        # The body is read only for an error message: never inflated.
        auto_decompress=False,
    )


@dataclass(slots=True)
class Claim:
    """A job this dispatcher took: it sits in `webhook_processing(shard, consumer)` as
    `raw` until its outcome is recorded."""

    shard: int
    raw: bytes
    job: WebhookJob


class Endpoint:
    def __init__(
        self,
        brand: str,
        endpoint_id: str,
        hook: Webhook,
        options: DispatcherOptions,
        stats: EndpointStats,
    ) -> None:
        self.brand = brand
        self.id = endpoint_id
        self.hook = hook
        self.stats = stats
        self.signer = Signer.for_webhook(hook)
        self.batched = hook.batch_max_events > 1
        # Parsed once: aiohttp would parse a string URL again for every request.
        self.url = yarl.URL(hook.url)
        self.disabled = False
        self.breaker = CircuitBreaker(
            options.breaker_failure_threshold,
            options.breaker_open_s,
            options.breaker_max_open_s,
            probe_timeout_s=hook.timeout_s + 5.0,
        )
        # Called after the breaker changed state (to publish it).
        self.on_breaker_change: Callable[[Endpoint], None] = lambda endpoint: None
        self._session: aiohttp.ClientSession | None = None
        self._pool: WorkerPool[list[Claim]] | None = None
        self._deadlines: Deadlines | None = None

    def open(
        self,
        deliver: Callable[[Endpoint, list[Claim]], Awaitable[None]],
        deadlines: Deadlines,
    ) -> None:
        """Create the connection pool and the workers (inside the running loop): each job
        (or batch) submitted is handed to `deliver(endpoint, claims)` by one of at most
        `max_concurrency` workers, each with its own connection. `deadlines` times the
        requests out."""
        self._session = client_session(self.hook)
        self._deadlines = deadlines
        self._pool = WorkerPool(
            self.hook.max_concurrency,
            lambda claims: deliver(self, claims),
            name=f"deliver-{self.brand}-{self.id}",
        )

    def submit(self, claims: list[Claim]) -> None:
        """Queue one request's worth of jobs for the workers."""
        assert self._pool is not None, "Endpoint.open() was not called"
        self._pool.submit(claims)

    async def stop(self, timeout_s: float) -> None:
        """Cancel the deliveries in flight (their jobs stay held, to be requeued)."""
        if self._pool is not None:
            await self._pool.cancel(timeout_s)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, events: Sequence[Event]) -> Outcome:
        """Deliver `events` in one request (a batch, or a single event) and update the
        breaker and the latency histogram. Never raises for the receiver's failures.
        Called by a worker, so admitted right when the request goes."""
        assert self._session is not None and self._deadlines is not None, "not opened"
        if self.disabled:
            return DISABLED
        permit = self.breaker.admit()
        if permit is Permit.REFUSED:
            return CIRCUIT_OPEN
        if permit is Permit.PROBE:
            self._breaker_changed()  # now half-open
        msg_id, body = message(events, self.batched)
        headers = self.signer.headers(msg_id, body)
        deadline = self._deadlines.within(self.hook.timeout_s)
        outcome = await post(self._session, self.url, body, headers, deadline)
        if outcome.disposition is not Disposition.REFUSED:
            self.stats.observe_latency(outcome.latency_s)
            self._update_breaker(outcome)
        return outcome

    def _update_breaker(self, outcome: Outcome) -> None:
        # Any answer that is not worth a retry (2xx, 410, other 4xx) shows a live receiver.
        if outcome.counts_against_breaker:
            changed = self.breaker.record_failure()
        else:
            changed = self.breaker.record_success()
        if changed:
            self._breaker_changed()

    def _breaker_changed(self) -> None:
        self.stats.breaker_state = int(self.breaker.state)
        self.on_breaker_change(self)

    def __repr__(self) -> str:
        # Never the hook itself: it holds the secrets (and the URL may hold a token).
        return f"Endpoint({self.brand}/{self.id})"
