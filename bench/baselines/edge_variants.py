"""The real edge with parts of its work switched off, to see what each part costs under
granian (`bench.edge_breakdown`). Selected by `EDGE_VARIANT`:

- `dispatch`: the edge's routing and lifespan (recorder running), then a precomputed 302;
- `decode`: … plus opening the click's token;
- `request-path`: the edge's whole handler, with the raw hit dropped instead of recorded;
- `no-redis`: the edge as shipped (hits encoded, journaled, buffered, flushed), but a
  flush's batches are dropped instead of sent: what the push to Redis costs the worker's
  core (the benchmark's redis-server runs on that core too);
- `no-journal`: the edge as shipped but without the journal (what the journal costs);
- `full`: the edge as shipped (raw hits encoded, journaled, pushed to Redis).

Only for measurements: `python -m bench.edge_breakdown` runs each under granian.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from bench.baselines.bare_asgi import RESPONSE_BODY, RESPONSE_START
from edge.app import Edge
from edge.app import create_app as create_edge


def create_app() -> Edge:
    edge = create_edge()
    variant = os.environ.get("EDGE_VARIANT", "full")
    if variant == "dispatch":
        edge._routes["/c/"] = _answer_only
    elif variant == "decode":
        edge._routes["/c/"] = _decode_then_answer(edge)
    elif variant == "request-path":
        _after_startup(edge, _drop_hits)
    elif variant == "no-redis":
        _after_startup(edge, _drop_flushes)
    elif variant == "no-journal":
        edge.journal_bytes = 0
    elif variant != "full":
        raise SystemExit(
            f"EDGE_VARIANT={variant!r} is not one of dispatch, decode, request-path, "
            "no-redis, no-journal, full"
        )
    return edge


async def _answer_only(scope: Any, receive: Any, send: Any, path: str) -> None:
    await send(RESPONSE_START)
    await send(RESPONSE_BODY)


def _decode_then_answer(edge: Edge) -> Any:
    async def click(scope: Any, receive: Any, send: Any, path: str) -> None:
        edge.codec.open(path[3:])
        await send(RESPONSE_START)
        await send(RESPONSE_BODY)

    return click


def _after_startup(edge: Edge, change: Callable[[Edge], None]) -> None:
    """Apply `change` once the edge has started (its recorder exists then)."""
    startup = edge.startup

    async def startup_then_change() -> None:
        await startup()
        change(edge)

    edge.startup = startup_then_change  # type: ignore[method-assign]


def _drop_hits(edge: Edge) -> None:
    edge._record = lambda *hit: None


def _drop_flushes(edge: Edge) -> None:
    async def push(*batches: object) -> bool:
        return True  # as if Redis had taken them: the journal is acknowledged

    assert edge.recorder is not None
    edge.recorder._push_batch = push  # type: ignore[method-assign]
