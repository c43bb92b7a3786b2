"""Each webhook endpoint's state as every dispatcher shares it: one Redis hash per endpoint
(`redis_keys.endpoint_state`) holding whether it is disabled (after a 410 Gone, or by an
operator) and its circuit breaker. The one reader and the writers of that hash: the
dispatchers publish and adopt it, `tracer dlq endpoints|enable` reads and resets it, the
dashboard shows it.

The writers return Redis commands, `(method, arguments)`, so that a dispatcher can queue
them with its outcome records and the CLI can run them directly.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tracer import redis_keys
from tracer.redis_cluster import AnyRedis

# The breaker's states, as the hash spells them.
BREAKER_STATES = ("closed", "half_open", "open")

Command = tuple[str, tuple[Any, ...]]


@dataclass(frozen=True)
class EndpointState:
    disabled: bool = False
    disabled_at: float = 0.0
    disabled_reason: str = ""
    # One of BREAKER_STATES.
    breaker: str = "closed"
    # While open: when the next probe may go, and how long the breaker last stayed open.
    open_until: float = 0.0
    open_s: float = 0.0

    @classmethod
    def parse(cls, raw: dict[bytes, bytes]) -> EndpointState:
        """The state in a hash as HGETALL returns it; missing or garbled fields read as
        their defaults (a hash another release wrote, or an operator edited)."""
        fields = {key.decode(): value.decode(errors="replace") for key, value in raw.items()}
        breaker = fields.get("breaker", "closed").lower().replace("-", "_")
        return cls(
            disabled=fields.get("disabled") == "1",
            disabled_at=_seconds(fields.get("disabled_at")),
            disabled_reason=fields.get("disabled_reason", ""),
            breaker=breaker if breaker in BREAKER_STATES else "closed",
            open_until=_seconds(fields.get("open_until")),
            open_s=_seconds(fields.get("open_s")),
        )


async def read_states(client: AnyRedis, endpoint_ids: Iterable[str]) -> dict[str, EndpointState]:
    """Every named endpoint's state, in one round trip."""
    ids = list(endpoint_ids)
    if not ids:
        return {}
    async with client.pipeline(transaction=False) as pipe:
        for endpoint_id in ids:
            pipe.hgetall(redis_keys.endpoint_state(endpoint_id))
        rows = await pipe.execute()
    return {eid: EndpointState.parse(raw) for eid, raw in zip(ids, rows, strict=True)}


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


def publish_breaker(
    endpoint_id: str, brand: str, breaker: str, open_until: float, open_s: float, failures: int
) -> Command:
    if breaker not in BREAKER_STATES:
        raise ValueError(f"breaker state {breaker!r} is not one of {BREAKER_STATES}")
    mapping = {
        "brand": brand,
        "breaker": breaker,
        "open_until": repr(open_until),
        "open_s": repr(open_s),
        "failures": str(failures),
    }
    return _hset(endpoint_id, mapping)


def _hset(endpoint_id: str, mapping: dict[str, str]) -> Command:
    # HSET name key value mapping: only the mapping is given.
    return ("hset", (redis_keys.endpoint_state(endpoint_id), None, None, mapping))


def _seconds(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0
