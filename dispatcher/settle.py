"""What happens to a job after an attempt: ack, retry later, divert or dead-letter.

Settling only queues Redis commands on the `Recorder` (which writes them in order), so it
never waits; the ack is always the last command of a job.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter, defaultdict

import msgspec

from dispatcher import dead_letters
from dispatcher.backoff import retry_delay
from dispatcher.delivery import Disposition, Outcome
from dispatcher.endpoint import Claim, Endpoint
from dispatcher.metrics import EndpointStats
from dispatcher.options import DispatcherOptions
from dispatcher.recorder import Command, Recorder, ack
from tracer import endpoint_state, redis_keys
from tracer.webhooks import encode_job

log = logging.getLogger(__name__)


class Settler:
    def __init__(
        self,
        options: DispatcherOptions,
        recorder: Recorder,
        consumer: str,
        rng: random.Random | None = None,
    ) -> None:
        self.options = options
        self.recorder = recorder
        self.consumer = consumer
        self.rng = rng or random.Random()
        # Processing list and pending hash of each shard, named once.
        self._keys: dict[int, tuple[str, str]] = {}
        # Per shard, the jobs taken and not acked yet (by their bytes): what this process
        # knows sits in its processing list (`WebhookQueue.unknown_jobs` needs it).
        self.held: dict[int, Counter[bytes]] = defaultdict(Counter)
        # Retry-After is honoured, up to the longest step of the schedule.
        self.max_wait_s = max(options.retry_schedule_s, default=0.0)

    def settle(self, endpoint: Endpoint, claims: list[Claim], outcome: Outcome) -> None:
        stats = endpoint.stats
        disposition = outcome.disposition
        if disposition is Disposition.DELIVERED:
            stats.delivered += len(claims)
            self.recorder.write(*(self.ack(claim, settled=True) for claim in claims))
            return
        if disposition is Disposition.DISABLED:
            for claim in claims:
                self.divert(endpoint, claim, "endpoint disabled")
            return
        stats.failed[outcome.reason] += len(claims)
        for claim in claims:
            # An attempt that met an open breaker counts too: the breaker spares the
            # receiver, it does not extend a job's life.
            claim.job = msgspec.structs.replace(
                claim.job, attempt=claim.job.attempt + 1, last_error=outcome.detail
            )
        stream = endpoint.hook.fallback_stream
        for claim in claims:
            if disposition is Disposition.GONE:
                self.disable(endpoint, outcome.detail)
                self.divert(endpoint, claim, f"endpoint disabled ({outcome.detail})")
            elif disposition in (Disposition.REJECTED, Disposition.REFUSED):
                self.dead_letter(stats, claim, outcome.reason, outcome.detail, stream)
            else:
                self.retry(endpoint, claim, outcome)

    def retry(self, endpoint: Endpoint, claim: Claim, outcome: Outcome) -> None:
        """Reschedule after a failed attempt (already counted in `claim.job.attempt`)."""
        delay = retry_delay(self.options.retry_schedule_s, claim.job.attempt, self.rng)
        if delay is None:
            stream = endpoint.hook.fallback_stream
            self.dead_letter(endpoint.stats, claim, "attempts_exhausted", outcome.detail, stream)
            return
        now = time.time()
        if outcome.retry_after_s is not None:
            delay = min(outcome.retry_after_s, self.max_wait_s)
        if outcome.disposition is Disposition.CIRCUIT_OPEN:
            # Not before the breaker lets a probe through; spread over a second after it.
            delay = max(delay, endpoint.breaker.open_until - now) + self.rng.uniform(0, 1)
        endpoint.stats.retried += 1
        payload = encode_job(claim.job)
        self.recorder.write(self._reschedule(claim, payload, now + delay), self.ack(claim))

    def divert(self, endpoint: Endpoint, claim: Claim, reason: str) -> None:
        """The endpoint is disabled: its fallback stream gets the event, else the DLQ."""
        stream = endpoint.hook.fallback_stream
        if stream is None:
            self.dead_letter(endpoint.stats, claim, "endpoint_disabled", reason, None)
            return
        endpoint.stats.fallback += 1
        self.recorder.write(
            dead_letters.to_stream(stream, claim.job, reason), self.ack(claim, settled=True)
        )

    def dead_letter(
        self, stats: EndpointStats, claim: Claim, reason: str, detail: str, stream: str | None
    ) -> None:
        job = msgspec.structs.replace(claim.job, last_error=detail)
        log.warning(
            "Dead-lettered event %s for %s/%s after %d attempt(s): %s",
            job.event.id,
            job.brand,
            job.endpoint,
            job.attempt,
            detail,
        )
        stats.dead_lettered += 1
        commands = [dead_letters.bury(job, reason)]
        if stream is not None:
            stats.fallback += 1
            commands.append(dead_letters.to_stream(stream, job, reason))
        self.recorder.write(*commands, self.ack(claim, settled=True))

    def disable(self, endpoint: Endpoint, detail: str) -> None:
        if endpoint.disabled:
            return
        endpoint.disabled = True
        endpoint.stats.disabled = 1
        log.warning("Disabled endpoint %s/%s: it answered %s", endpoint.brand, endpoint.id, detail)
        self.recorder.write(endpoint_state.disable(endpoint.id, endpoint.brand, detail))

    def quarantine(self, shard: int, raw: bytes) -> None:
        """A payload that does not decode: kept aside as it is, never dropped."""
        dead = redis_keys.webhook_dead(shard)
        log.error("Undecodable webhook job on shard %d moved to %s", shard, dead)
        self.recorder.write(("rpush", (dead, raw)), self._ack(shard, raw))

    def ack(self, claim: Claim, settled: bool = False) -> Command:
        """The job leaves the processing list; `settled` (delivered, dead-lettered or
        diverted, not waiting for a retry) also counts it out of its endpoint's depth."""
        return self._ack(claim.shard, claim.raw, claim.job.endpoint if settled else "")

    def hold(self, shard: int, raw: bytes) -> None:
        """A job was taken: it stays held until its ack is written."""
        self.held[shard][raw] += 1

    def _ack(self, shard: int, raw: bytes, endpoint: str = "") -> Command:
        held = self.held[shard]
        if held[raw] > 1:
            held[raw] -= 1
        else:
            held.pop(raw, None)
        keys = self._keys.get(shard)
        if keys is None:
            keys = self._keys[shard] = (
                redis_keys.webhook_processing(shard, self.consumer),
                redis_keys.webhook_pending(shard),
            )
        return ack(keys[0], raw, keys[1], endpoint)

    def _reschedule(self, claim: Claim, payload: bytes, due: float) -> Command:
        return ("zadd", (redis_keys.webhook_retry(claim.shard), {payload: due}))
