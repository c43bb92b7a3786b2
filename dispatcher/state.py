"""Endpoint state shared by every dispatcher through a Redis hash per endpoint
(`tracer.redis_keys.endpoint_state`): disabled or not (after a 410 Gone), and the circuit
breaker. Each dispatcher acts on its own copy at once and publishes changes; it reads
the others' changes back every second or so.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from dispatcher.breaker import BreakerState, CircuitBreaker
from dispatcher.endpoint import Endpoint
from dispatcher.recorder import Command, Recorder
from tracer import redis_keys
from tracer.redis_cluster import AnyRedis

log = logging.getLogger("dispatcher.state")


@dataclass(frozen=True)
class EndpointState:
    disabled: bool = False
    disabled_at: float = 0.0
    disabled_reason: str = ""
    breaker: BreakerState = BreakerState.CLOSED
    open_until: float = 0.0
    open_s: float = 0.0

    @classmethod
    def parse(cls, raw: dict[bytes, bytes]) -> EndpointState:
        fields = {key.decode(): value.decode() for key, value in raw.items()}
        breaker = fields.get("breaker", "closed").upper()
        if breaker not in BreakerState.__members__:
            breaker = "CLOSED"
        return cls(
            disabled=fields.get("disabled") == "1",
            disabled_at=float(fields.get("disabled_at") or 0),
            disabled_reason=fields.get("disabled_reason", ""),
            breaker=BreakerState[breaker],
            open_until=float(fields.get("open_until") or 0),
            open_s=float(fields.get("open_s") or 0),
        )


class SharedStates:
    """Keeps this dispatcher's endpoints in step with the state published in Redis."""

    def __init__(self, redis: AnyRedis, recorder: Recorder, endpoints: list[Endpoint]) -> None:
        self.redis = redis
        self.recorder = recorder
        self.endpoints = endpoints
        # The disabled flag of each endpoint as last read from Redis.
        self._seen_disabled: dict[str, bool] = {}

    async def refresh(self) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for endpoint in self.endpoints:
                pipe.hgetall(redis_keys.endpoint_state(endpoint.id))
            rows = await pipe.execute()
        for endpoint, raw in zip(self.endpoints, rows, strict=True):
            shared = EndpointState.parse(raw)
            # Only news counts: a read that started before this process disabled the
            # endpoint must not re-enable it.
            if shared.disabled != self._seen_disabled.get(endpoint.id, False):
                self._seen_disabled[endpoint.id] = shared.disabled
                if shared.disabled != endpoint.disabled:
                    change = "disabled" if shared.disabled else "re-enabled"
                    log.info("Endpoint %s/%s %s", endpoint.brand, endpoint.id, change)
                endpoint.disabled = shared.disabled
                endpoint.stats.disabled = int(shared.disabled)
            endpoint.breaker.adopt(shared.breaker, shared.open_until, shared.open_s)
            endpoint.stats.breaker_state = int(endpoint.breaker.state)

    def publish_breaker(self, endpoint: Endpoint) -> None:
        state_name = endpoint.breaker.state.name.lower()
        log.warning("Circuit breaker of %s/%s is now %s", endpoint.brand, endpoint.id, state_name)
        self.recorder.write(publish_breaker(endpoint.id, endpoint.brand, endpoint.breaker))


def disable(endpoint_id: str, brand: str, reason: str, now: float | None = None) -> Command:
    mapping = {
        "brand": brand,
        "disabled": "1",
        "disabled_at": repr(time.time() if now is None else now),
        "disabled_reason": reason,
    }
    return _hset(endpoint_id, mapping)


def enable(endpoint_id: str) -> Command:
    """Clear the disabled flag and close the breaker (operator's `tracer dlq enable`)."""
    mapping = {"disabled": "0", "disabled_reason": "", "breaker": "closed", "open_until": "0"}
    return _hset(endpoint_id, mapping)


def publish_breaker(endpoint_id: str, brand: str, breaker: CircuitBreaker) -> Command:
    mapping = {
        "brand": brand,
        "breaker": breaker.state.name.lower(),
        "open_until": repr(breaker.open_until),
        "open_s": repr(breaker.open_s),
        "failures": str(breaker.failures),
    }
    return _hset(endpoint_id, mapping)


def _hset(endpoint_id: str, mapping: dict[str, str]) -> Command:
    # HSET name key value mapping: only the mapping is given.
    return ("hset", (redis_keys.endpoint_state(endpoint_id), None, None, mapping))
