"""Keeping the edge's copy of the revocation rules current, off the request path.

Each worker loads every rule at start-up, reloads them whenever a change is announced on
Redis pub/sub and every `RELOAD_INTERVAL_S` in any case, and hands each new
`RevocationSet` to the edge with one assignment. The last set loaded is kept in
`<data dir>/revocations.json`: a worker that starts while Redis is down still refuses
what was revoked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from tracer import redis_keys, revocations
from tracer.redis_cluster import REDIS_ERRORS, AnyRedis, connect
from tracer.revocations import RevocationSet

logger = logging.getLogger(__name__)

# Between two attempts to subscribe again after Redis went away.
RESUBSCRIBE_DELAY_S = 1.0


class RevocationSync:
    def __init__(
        self,
        redis_url: str,
        *,
        cluster: bool,
        timeout_s: float,
        snapshot: Path,
        apply: Callable[[RevocationSet], None],
        reload_interval_s: float = revocations.RELOAD_INTERVAL_S,
    ) -> None:
        self._client: AnyRedis = connect(
            redis_url, cluster=cluster, socket_timeout=None, socket_connect_timeout=timeout_s
        )
        self._timeout_s = timeout_s
        self._snapshot = snapshot
        self._apply = apply
        self._reload_interval_s = reload_interval_s
        self._tasks: list[asyncio.Task[None]] = []
        self.loaded = False

    async def start(self) -> None:
        if not await self.reload():
            self._load_snapshot()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._reload_often())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._client.aclose()

    async def reload(self) -> bool:
        """Load every rule from Redis and apply them; False when Redis did not answer."""
        try:
            rules = await asyncio.wait_for(revocations.load(self._client), self._timeout_s)
        except (*REDIS_ERRORS, OSError, TimeoutError) as exc:
            logger.warning("revocations: cannot reload from Redis (%s); keeping the last set", exc)
            return False
        self._apply(RevocationSet.of(rules))
        self.loaded = True
        self._save_snapshot(revocations.encode_rules(rules))
        return True

    async def _reload_often(self) -> None:
        while True:
            await asyncio.sleep(self._reload_interval_s)
            await self.reload()

    async def _listen(self) -> None:
        lost = False
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(redis_keys.REVOCATIONS_CHANNEL)
                if lost:
                    logger.info("revocations: subscribed again")
                    lost = False
                await self.reload()  # what changed while we were not listening
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await self.reload()
            except Exception as exc:  # Redis down, or a surprise: listen again
                if not lost:
                    logger.warning(
                        "revocations: subscription lost (%s); reloading every %.0fs until "
                        "it is back",
                        exc,
                        self._reload_interval_s,
                    )
                lost = True
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(RESUBSCRIBE_DELAY_S)

    def _save_snapshot(self, data: bytes) -> None:
        temporary = self._snapshot.with_name(f".{self._snapshot.name}.{os.getpid()}")
        try:
            self._snapshot.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(data)
            os.replace(temporary, self._snapshot)
        except OSError as exc:
            logger.warning("revocations: cannot keep a copy in %s (%s)", self._snapshot, exc)

    def _load_snapshot(self) -> None:
        try:
            rules = revocations.decode_rules(self._snapshot.read_bytes())
        except FileNotFoundError:
            logger.warning("revocations: Redis unreachable and no copy kept yet; none applied")
            return
        except (OSError, ValueError) as exc:
            logger.error(
                "revocations: Redis unreachable and %s unreadable: %s", self._snapshot, exc
            )
            return
        self._apply(RevocationSet.of(rules))
        logger.warning(
            "revocations: Redis unreachable; applying the %d rule(s) kept in %s",
            len(rules),
            self._snapshot,
        )
