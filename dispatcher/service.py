"""The dispatcher: takes webhook jobs from the queue shards and delivers them until asked
to stop, then shuts down in two stages (saq's): stop taking, give the deliveries in flight
a grace period, cancel the rest and put their jobs back on the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from dispatcher.batching import BatchBuffer
from dispatcher.deadlines import Deadlines
from dispatcher.delivery import Disposition, Outcome
from dispatcher.endpoint import Claim, Endpoint
from dispatcher.metrics import Metrics
from dispatcher.options import DispatcherOptions
from dispatcher.queue import WebhookQueue
from dispatcher.recorder import Recorder
from dispatcher.settle import Settler
from dispatcher.state import SharedStates
from tracer import redis_keys
from tracer.brands import Brands
from tracer.instance import register_role, unregister_role
from tracer.metrics_server import MetricsServer
from tracer.redis_cluster import REDIS_ERRORS, AnyRedis, connect
from tracer.webhooks import decode_job, endpoints

log = logging.getLogger(__name__)

PROMOTE_INTERVAL_S = 0.1
# When a take brings fewer jobs than there is room for, wait this long before the next:
# at a steady trickle, one round trip per few jobs rather than per job, for a few ms of
# latency (a take that brings nothing is followed by a blocking wait, not by a pause).
TRICKLE_WAIT_S = 0.005
# A blocking wait for the next job returns this often when the queue stays empty: it
# bounds how long stopping takes (blocked Redis reads are left to finish, not cancelled).
IDLE_WAIT_S = 0.25
# After the grace period, how long cancelled deliveries get to unwind.
CANCEL_DEADLINE_S = 5.0


def default_consumer() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"


def redis_client(url: str, *, cluster: bool = False) -> AnyRedis:
    """The dispatcher's client; with `cluster`, `url` names one node of a Redis Cluster."""
    # Blocking waits for jobs last IDLE_WAIT_S: the socket timeout must outlast them.
    return connect(url, cluster=cluster, socket_timeout=10, socket_connect_timeout=5)


class Dispatcher:
    """Delivers the jobs of `webhook_shard(0..shards-1)` to the brands' endpoints.

    Several dispatchers may share one Redis: each moves jobs into its own processing lists
    and acks them once their outcome is recorded; the lists of a dispatcher whose heartbeat
    expired are put back on the shards by whichever dispatcher notices first.
    `options.burst` makes `run()` return once everything is drained (tests, one-off runs).
    With `cluster`, `redis_url` names one node of a Redis Cluster. With `registry_dir` (the
    data dir), the address of `/metrics` is registered there for the dashboard.
    """

    def __init__(
        self,
        brands: Brands,
        redis_url: str,
        *,
        shards: int,
        options: DispatcherOptions,
        consumer: str | None = None,
        cluster: bool = False,
        registry_dir: Path | None = None,
    ) -> None:
        self.brands = brands
        self.registry_dir = registry_dir
        self._registration: Path | None = None
        self.redis_url = redis_url
        self.cluster = cluster
        self.shards = shards
        self.options = options
        self.consumer = consumer or default_consumer()
        self.metrics = Metrics()
        self.endpoints = {
            endpoint_id: Endpoint(
                brand.id,
                endpoint_id,
                hook,
                options,
                self.metrics.for_endpoint(brand.id, endpoint_id),
            )
            for brand in brands
            for endpoint_id, hook in endpoints(brand).items()
        }
        self.batches = {
            endpoint.id: BatchBuffer(
                endpoint.hook.batch_max_events,
                endpoint.hook.batch_max_wait_ms / 1000,
                lambda claims, endpoint=endpoint: self._submit(endpoint, claims),
            )
            for endpoint in self.endpoints.values()
            if endpoint.batched
        }
        self.should_exit = asyncio.Event()
        self.force_exit = asyncio.Event()
        self.metrics_port: int | None = None
        # Jobs held (taken and not yet settled), in all and per shard. Each shard gets an
        # equal share of `max_inflight`: the batcher shards jobs by endpoint, so a slow
        # receiver fills its own shard's share and the other shards keep flowing.
        self._inflight = 0
        self._held = [0] * shards
        self._shard_quota = max(1, options.max_inflight // shards)
        # A shard is topped up once this much of its share is free, not after every
        # settled job: one take per many jobs, not one per job, when the endpoint is busy.
        self._refill = max(1, min(options.fetch_batch, self._shard_quota) // 4)
        # Set when a shard's fetcher may take again (per shard: a settled job wakes only
        # the fetcher it concerns, and only once its shard is worth topping up).
        self._room = [asyncio.Event() for _ in range(shards)]
        # Requests (a job, or a batch of them) submitted to the endpoints' workers and not
        # yet over: in flight, or waiting for a free connection.
        self._deliveries = 0
        self._deliveries_over = asyncio.Event()
        self._deliveries_over.set()
        # Times requests out; runs until the last delivery is over.
        self.deadlines = Deadlines()
        self._deadline_task: asyncio.Task[None] | None = None
        self._background: list[asyncio.Task[None]] = []
        self._server: MetricsServer | None = None

    # --- lifecycle ----------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver until `request_exit()` (or, in burst mode, until drained)."""
        self.redis = redis_client(self.redis_url, cluster=self.cluster)
        self.queue = WebhookQueue(self.redis, self.shards, self.consumer)
        self.recorder = Recorder(self.redis)
        self.settler = Settler(self.options, self.recorder, self.consumer)
        self.states = SharedStates(self.redis, self.recorder, list(self.endpoints.values()))
        try:
            await self._start()
            await self.should_exit.wait()
        finally:
            await self._shutdown()

    def request_exit(self) -> None:
        """First call: stop gracefully. Second call: skip the grace period."""
        if self.should_exit.is_set():
            log.warning("Second signal: cancelling deliveries in flight now")
            self.force_exit.set()
        self.should_exit.set()
        for room in self._room:
            room.set()  # wake fetchers waiting for room, so that they see the exit

    async def _start(self) -> None:
        await self.queue.beat(self.options.heartbeat_ttl_s)
        await self.queue.adopt_orphans()
        await self.states.refresh()
        for endpoint in self.endpoints.values():
            endpoint.on_breaker_change = self.states.publish_breaker
            endpoint.open(self._deliver, self.deadlines)
        self.recorder.start()
        self._deadline_task = asyncio.create_task(self._keep_running(self.deadlines.run))
        if self.options.metrics_port:
            await self._start_metrics_server()
        loops = [functools.partial(self._fetch, shard) for shard in range(self.shards)]
        loops += [self._promote_retries, self._housekeeping]
        if self.options.burst:
            loops.append(self._exit_when_drained)
        self._background = [asyncio.create_task(self._keep_running(loop)) for loop in loops]
        log.info(
            "Dispatcher %s delivering to %d endpoint(s) of %d brand(s) from %d shard(s)",
            self.consumer,
            len(self.endpoints),
            len(self.brands),
            self.shards,
        )

    async def _start_metrics_server(self) -> None:
        server = MetricsServer(
            self.options.metrics_host,
            self.options.metrics_port,
            self.render_metrics,
            required=self.options.metrics_port_required,
            setting="TRACER_DISPATCHER_METRICS_PORT",
        )
        try:
            self.metrics_port = await server.start()
            self._server = server
        except OSError as exc:
            # Delivering webhooks matters more than being scraped: carry on without. (An
            # explicitly set port held by another process raised ConfigurationError.)
            port = self.options.metrics_port
            log.error("Cannot serve metrics on port %d (%s); continuing without", port, exc)
            return
        if self.registry_dir is not None:
            self._registration = register_role(self.registry_dir, "dispatcher", server.url)

    async def _shutdown(self) -> None:
        log.info("Stopping: taking no new jobs")
        try:
            for batch in self.batches.values():
                batch.flush()
            await self._wait_for_deliveries()
            if self._deadline_task is not None:
                self._deadline_task.cancel()
            stopped = await self._stop_background()
            unwritten = await self.recorder.stop(CANCEL_DEADLINE_S)
            # A task that did not stop might still move a job into a processing list:
            # then stay registered, so that the job is adopted once the heartbeat expires.
            requeued = await self._leave(deregister=stopped)
        finally:
            if self._registration is not None:
                unregister_role(self._registration)
            if self._server is not None:
                await self._server.stop()
            await self.redis.aclose()
            # Last: nothing can use a connection pool any more.
            for endpoint in self.endpoints.values():
                await endpoint.close()
        totals = self.totals()
        log.info(
            "Shutdown ◆ %d delivered ◆ %d retried ◆ %d dead-lettered ◆ %d requeued%s",
            totals["delivered"],
            totals["retried"],
            totals["dead_lettered"],
            requeued,
            f" ◆ {unwritten} outcome write(s) lost, their jobs will be delivered again"
            if unwritten
            else "",
        )

    async def _wait_for_deliveries(self) -> None:
        grace = 0.0 if self.force_exit.is_set() else self.options.shutdown_grace_period_s
        if self._deliveries:
            log.info("Waiting up to %.1fs for %d delivery task(s)", grace, self._deliveries)
        over = asyncio.create_task(self._deliveries_over.wait())
        forced = asyncio.create_task(self.force_exit.wait())
        await asyncio.wait({over, forced}, timeout=grace, return_when=asyncio.FIRST_COMPLETED)
        over.cancel()
        forced.cancel()
        if self._deliveries:
            log.warning(
                "Cancel %d delivery task(s), graceful shutdown timeout exceeded", self._deliveries
            )
            await asyncio.gather(
                *(endpoint.stop(CANCEL_DEADLINE_S) for endpoint in self.endpoints.values())
            )

    @staticmethod
    async def _keep_running(loop: Callable[[], Awaitable[None]]) -> None:
        """Run a background loop; should it crash (a bug), log it and start it again
        rather than silently stop taking jobs from a shard."""
        while True:
            try:
                await loop()
                return
            except Exception:
                log.exception("Background loop %r crashed; restarting it in 1s", loop)
                await asyncio.sleep(1.0)

    async def _stop_background(self) -> bool:
        """Let the loops that take jobs and keep house see `should_exit` and return (a
        Redis call is never cancelled half-way); False if one had to be cancelled."""
        if not self._background:
            return True
        _, stuck = await asyncio.wait(self._background, timeout=CANCEL_DEADLINE_S)
        if stuck:
            log.error("%d background task(s) did not stop in %.0fs", len(stuck), CANCEL_DEADLINE_S)
            for task in stuck:
                task.cancel()
            await asyncio.wait(stuck, timeout=CANCEL_DEADLINE_S)
        return not stuck

    async def _leave(self, deregister: bool) -> int:
        try:
            return await self.queue.leave(deregister)
        except REDIS_ERRORS as exc:
            log.error(
                "Could not requeue held jobs (%s): another dispatcher adopts them once this "
                "one's heartbeat expires",
                exc,
            )
            return 0

    # --- taking jobs --------------------------------------------------------------------

    async def _fetch(self, shard: int) -> None:
        failures = 0
        while not self.should_exit.is_set():
            room = await self._wait_for_room(shard)
            if not room:
                continue
            try:
                if failures:
                    # A take may have run in Redis with its reply lost: its jobs sit in
                    # our processing list, unknown to us. Take them up again first.
                    for raw in await self.queue.unknown_jobs(shard, self.settler.held[shard]):
                        self._accept(shard, raw)
                wanted = min(room, self.options.fetch_batch)
                raws = await self._take(shard, wanted)
                taken = len(raws)
                if not raws:
                    # Idle: block for the next job instead of polling. Unreserved, so
                    # a shard's share may be exceeded by one job.
                    raw = await self.queue.wait_take(shard, IDLE_WAIT_S)
                    raws = [raw] if raw is not None else []
                failures = 0
            except (*REDIS_ERRORS, OSError) as exc:
                failures += 1
                if failures == 1:
                    log.warning("Cannot take jobs from shard %d (%s); retrying", shard, exc)
                await self._pause(min(0.1 * 2**failures, 5.0))
                continue
            for raw in raws:
                self._accept(shard, raw)
            if 0 < taken < wanted:
                # Jobs trickle in: let a few gather rather than take them one round trip
                # each.
                await asyncio.sleep(TRICKLE_WAIT_S)

    async def _take(self, shard: int, wanted: int) -> list[bytes]:
        # Counted as held while the take is in flight; `_accept` then counts each job.
        self._held[shard] += wanted
        try:
            return await self.queue.take(shard, wanted)
        finally:
            self._held[shard] -= wanted

    async def _wait_for_room(self, shard: int) -> int:
        """Free slots of the shard's share, once there are enough to be worth a round trip
        (0 once exiting)."""
        while self._shard_quota - self._held[shard] < self._refill:
            if self.should_exit.is_set():
                return 0
            self._room[shard].clear()
            await self._room[shard].wait()
        return self._shard_quota - self._held[shard]

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up when exit is requested."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.should_exit.wait()

    def _accept(self, shard: int, raw: bytes) -> None:
        if self.should_exit.is_set():
            return  # taken while stopping: left in the processing list, requeued on leaving
        self.settler.hold(shard, raw)
        try:
            job = decode_job(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self.settler.quarantine(shard, raw)
            return
        claim = Claim(shard, raw, job)
        endpoint = self.endpoints.get(job.endpoint)
        if endpoint is None:
            stats = self.metrics.for_endpoint(job.brand, job.endpoint)
            self.settler.dead_letter(
                stats, claim, "endpoint_unknown", "endpoint is not in the brands file", None
            )
        elif endpoint.disabled:
            self.settler.divert(endpoint, claim, "endpoint disabled")
        else:
            self._inflight += 1
            self._held[shard] += 1
            endpoint.stats.backlog += 1
            batch = self.batches.get(endpoint.id)
            if batch is not None:
                batch.add(claim)
            else:
                self._submit(endpoint, [claim])

    def _submit(self, endpoint: Endpoint, claims: list[Claim]) -> None:
        self._deliveries += 1
        self._deliveries_over.clear()
        endpoint.submit(claims)

    async def _deliver(self, endpoint: Endpoint, claims: list[Claim]) -> None:
        """One request to `endpoint` (run by one of its workers), then its outcome."""
        try:
            try:
                outcome = await endpoint.send([claim.job.event for claim in claims])
            except Exception as exc:
                # A bug of ours, not the receiver's: log it and let the jobs retry.
                log.exception("Delivery to %s/%s failed unexpectedly", endpoint.brand, endpoint.id)
                detail = f"internal error: {type(exc).__name__}"
                outcome = Outcome(Disposition.RETRY, "internal", detail)
            self.settler.settle(endpoint, claims, outcome)
        finally:
            endpoint.stats.backlog -= len(claims)
            self._inflight -= len(claims)
            for claim in claims:
                self._held[claim.shard] -= 1
                if self._shard_quota - self._held[claim.shard] >= self._refill:
                    self._room[claim.shard].set()
            self._deliveries -= 1
            if not self._deliveries:
                self._deliveries_over.set()

    # --- background duties --------------------------------------------------------------

    async def _promote_retries(self) -> None:
        while not self.should_exit.is_set():
            try:
                await self.queue.promote_due(time.time())
            except (*REDIS_ERRORS, OSError) as exc:
                log.debug("Promoting due retries failed: %s", exc)
            await self._pause(PROMOTE_INTERVAL_S)

    async def _housekeeping(self) -> None:
        """Heartbeat, adoption of dead dispatchers' jobs, endpoint state from the others."""
        tick = min(1.0, self.options.heartbeat_ttl_s / 3)
        while True:
            await self._pause(tick)
            if self.should_exit.is_set():
                return
            try:
                await self.queue.beat(self.options.heartbeat_ttl_s)
                await self.queue.adopt_orphans()
                await self.states.refresh()
            except (*REDIS_ERRORS, OSError) as exc:
                log.warning("Housekeeping failed (%s); retrying in %.1fs", exc, tick)

    async def _exit_when_drained(self) -> None:
        while True:
            await self._pause(0.05)
            if self.should_exit.is_set():
                return
            stuck = self.recorder.held_jobs
            try:
                drained = (
                    self._inflight == 0
                    and self.recorder.idle
                    and await self.queue.is_drained(stuck)
                )
            except (*REDIS_ERRORS, OSError):
                continue
            if drained:
                if stuck:
                    log.warning(
                        "Burst mode: %d job(s) whose outcome Redis refused to record go back "
                        "on the queue",
                        stuck,
                    )
                log.info("Burst mode: queues drained, stopping")
                self.should_exit.set()
                return

    # --- observation --------------------------------------------------------------------

    async def render_metrics(self) -> str:
        try:
            depths = await self.queue.depths()
            async with self.redis.pipeline(transaction=False) as pipe:
                for brand in self.brands:
                    pipe.llen(redis_keys.webhook_dlq(brand.id))
                for shard in self.queue.shards:
                    pipe.hgetall(redis_keys.webhook_pending(shard))
                replies = await pipe.execute()
            lengths, counts = replies[: len(self.brands)], replies[len(self.brands) :]
            dlq = [(brand.id, length) for brand, length in zip(self.brands, lengths, strict=True)]
            pending = self._pending_per_endpoint(counts)
        except (*REDIS_ERRORS, OSError):
            depths, dlq, pending = [], [], []
        return self.metrics.render(
            depths, dlq, pending=pending, outcomes_refused=self.recorder.refused
        )

    def _pending_per_endpoint(self, counts: list[dict[bytes, bytes]]) -> list[tuple[str, str, int]]:
        """(brand, endpoint, jobs not settled) for every configured endpoint (0 when none),
        and for endpoints gone from the brands file that still have jobs (brand "")."""
        found = {
            endpoint.decode(): int(count) for hash_ in counts for endpoint, count in hash_.items()
        }
        rows = [
            (endpoint.brand, eid, max(found.pop(eid, 0), 0))
            for eid, endpoint in self.endpoints.items()
        ]
        rows += [("", eid, count) for eid, count in found.items() if count > 0]
        return rows

    def totals(self) -> dict[str, int]:
        names = ("delivered", "retried", "dead_lettered", "fallback")
        stats = self.metrics.endpoints.values()
        return {name: sum(getattr(s, name) for s in stats) for name in names}
