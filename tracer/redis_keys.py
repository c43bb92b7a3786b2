"""Every Redis key Tracer uses, in one place.

Queues are sharded over several list keys, each with its own hash tag (`{e3}`), so that a
shard and the keys moved atomically with it (its processing and dead lists) live in one
Redis Cluster slot while different shards spread over the cluster.
"""

from __future__ import annotations

PREFIX = "tracer"


# --- event queue: edge -> batcher ------------------------------------------------------
def event_shard(shard: int) -> str:
    """List the edge RPUSHes encoded events onto."""
    return f"{PREFIX}:events:{{e{shard}}}"


def event_producer_sequence(shard: int, producer: str) -> str:
    """Last batch sequence an edge process appended to `shard` (makes replays idempotent)."""
    return f"{PREFIX}:events:{{e{shard}}}:producer:{producer}"


def event_processing(shard: int, consumer: str) -> str:
    """A batcher's in-flight batch taken from `event_shard(shard)`, dropped after the ack."""
    return f"{PREFIX}:events:{{e{shard}}}:processing:{consumer}"


def event_processing_pattern(shard: int) -> str:
    return f"{PREFIX}:events:{{e{shard}}}:processing:*"


def event_dead(shard: int) -> str:
    """Payloads that cannot be decoded or stored, with the reason."""
    return f"{PREFIX}:events:{{e{shard}}}:dead"


def event_shard_owner(shard: int) -> str:
    """Lease held by the batcher that consumes `shard` (SET NX PX)."""
    return f"{PREFIX}:events:{{e{shard}}}:owner"


def consumer_heartbeat(role: str, consumer: str) -> str:
    """Expires when the consumer dies; its processing lists are then adopted."""
    return f"{PREFIX}:heartbeat:{role}:{consumer}"


def heartbeat_pattern(role: str) -> str:
    return f"{PREFIX}:heartbeat:{role}:*"


def periodic_job(name: str) -> str:
    """Lease taken (SET NX PX interval) by the one batcher that runs job `name` this time."""
    return f"{PREFIX}:jobs:{name}"


# --- webhook queue: batcher -> dispatcher ----------------------------------------------
def webhook_shard(shard: int) -> str:
    """List of encoded `WebhookJob`s ready for delivery."""
    return f"{PREFIX}:webhooks:{{w{shard}}}"


def webhook_processing(shard: int, consumer: str) -> str:
    return f"{PREFIX}:webhooks:{{w{shard}}}:processing:{consumer}"


def webhook_dead(shard: int) -> str:
    """Payloads taken from `webhook_shard(shard)` that cannot be decoded, kept as they are."""
    return f"{PREFIX}:webhooks:{{w{shard}}}:dead"


def webhook_retry(shard: int) -> str:
    """Sorted set of jobs waiting for their next attempt, scored by due time."""
    return f"{PREFIX}:webhooks:{{w{shard}}}:retry"


def webhook_pending(shard: int) -> str:
    """Hash endpoint id -> its jobs on this shard not settled yet (ready, waiting for a
    retry, or being delivered): each endpoint's queue depth."""
    return f"{PREFIX}:webhooks:{{w{shard}}}:pending"


def webhook_dlq(brand: str) -> str:
    """Jobs that exhausted their attempts, per brand."""
    return f"{PREFIX}:dlq:{{{brand}}}"


def endpoint_state(endpoint_id: str) -> str:
    """Hash with an endpoint's circuit-breaker state and whether it is disabled (410)."""
    return f"{PREFIX}:endpoint:{endpoint_id}"


# --- SMS short links -------------------------------------------------------------------
SLUG_COUNTER = f"{PREFIX}:slugs:counter"


def slug(slug_text: str) -> str:
    return f"{PREFIX}:slug:{slug_text}"


# --- liveness ---------------------------------------------------------------------------
def worker_registry(role: str) -> str:
    return f"{PREFIX}:workers:{role}"


# --- dashboard --------------------------------------------------------------------------
def dashboard_session_revoked(session_id: str) -> str:
    """Set at logout until the session's cookie would have expired."""
    return f"{PREFIX}:dashboard:revoked:{session_id}"


# --- link revocation --------------------------------------------------------------------
REVOCATIONS = f"{PREFIX}:revocations"
# Published on every change of REVOCATIONS (the message is the brand): edges reload.
REVOCATIONS_CHANNEL = f"{PREFIX}:revocations:changed"
