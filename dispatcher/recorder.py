"""Writes delivery outcomes to Redis: in order, in pipelines, retried until they land.

Every outcome ends with the removal of the job from the processing list (the ack); what
records the outcome (a retry entry, a dead letter, a fallback stream entry) is written
before it, so a crash in between can cause a duplicate delivery but never a lost job.

One `write()` is one unit: the records of an outcome and the ack(s) that end it. The
records of a pipeline's units go first, and a unit's acks only once its records have
landed. When Redis refuses a record (a full Redis under `noeviction`, a key holding
another type), the unit's acks are withheld and the unit is written again every
`REFUSED_RETRY_S`: meanwhile the job stays in the processing list (which goes back to the
queue if the dispatcher stops, or is adopted if it dies), instead of being acknowledged
with its outcome nowhere. On a Redis Cluster the same order matters even more: one
pipeline is not one ordered stream there (each node gets its share at once), and a
command that did not reach its node is written again, not a refusal.

Acks in a row on the same processing list go as one script call: on the busy path (only
acks) that is one command per pipeline instead of one per job, for Redis and the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from redis.exceptions import AskError, ClusterError, RedisClusterException, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tracer.redis_cluster import REDIS_ERRORS, AnyRedis

log = logging.getLogger(__name__)

# (Redis client method, positional arguments), e.g. ("rpush", (key, payload)), or
# ("ack", (processing list, pending hash, endpoint, raw job)): the job leaves the list
# (LREM key 1 raw) and, when `endpoint` is set (the job is settled, not moved to the retry
# set), its endpoint's count in the pending hash goes down.
Command = tuple[str, tuple[Any, ...]]
# The commands of one `write()`: records first in effect, then acks.
Unit = list[Command]

# KEYS[1] a processing list, KEYS[2] its shard's pending hash (one hash tag: one slot).
# ARGV: pairs (endpoint or "", raw job). Removes one occurrence of each job; a job removed
# here (not by an earlier call whose reply was lost) and settled counts down once.
_ACK = """
local removed = 0
local settled = {}
for i = 1, #ARGV, 2 do
  local n = redis.call('LREM', KEYS[1], 1, ARGV[i + 1])
  removed = removed + n
  if n == 1 and ARGV[i] ~= '' then settled[ARGV[i]] = (settled[ARGV[i]] or 0) + 1 end
end
for endpoint, count in pairs(settled) do
  if redis.call('HINCRBY', KEYS[2], endpoint, -count) <= 0 then
    redis.call('HDEL', KEYS[2], endpoint)
  end
end
return removed
"""
# Acks per script call, at most.
ACKS_PER_CALL = 1000
# A reply that says the command did not reach Redis (a cluster pipeline hands these back
# per command, for the node that failed): written again, unlike a command Redis refused.
_NOT_REACHED = (
    RedisConnectionError,
    RedisTimeoutError,
    ClusterError,
    AskError,
    TryAgainError,
    RedisClusterException,
    OSError,
)
# After the first outcome to write, how long to wait for more to join its pipeline. A job
# is delivered before its outcome is queued, so this delays no delivery, only the ack: a
# crash in that window means a few more duplicates, and one round trip then carries
# several outcomes even when jobs trickle in one at a time.
LINGER_S = 0.01
# How often an outcome Redis refused to record is offered to it again.
REFUSED_RETRY_S = 30.0


def ack(processing: str, raw: bytes, pending: str | None = None, endpoint: str = "") -> Command:
    """Remove `raw` from `processing`; with `endpoint` (a settled job), count it down in
    `pending` (its shard's `webhook_pending` hash)."""
    return ("ack", (processing, processing if pending is None else pending, endpoint, raw))


class Recorder:
    def __init__(self, redis: AnyRedis) -> None:
        self.redis = redis
        self._pending: list[Unit] = []
        # Outcomes Redis refused to record (counted once each), and those units, acks
        # withheld, until a later attempt lands them.
        self.refused = 0
        self._held: list[Unit] = []
        self._held_until = 0.0
        self._wakeup = asyncio.Event()
        # Set whenever nothing is queued or being written.
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def write(self, *commands: Command) -> None:
        """Queue one unit: its records reach Redis with the next pipeline, in this order,
        and its acks once the records have landed."""
        self._pending.append(list(commands))
        self._idle.clear()
        self._wakeup.set()

    @property
    def idle(self) -> bool:
        return self._idle.is_set()

    @property
    def held_jobs(self) -> int:
        """Jobs kept in a processing list because Redis refused to record their outcome."""
        return sum(1 for unit in self._held for method, _ in unit if method == "ack")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dispatcher-recorder")

    async def stop(self, timeout_s: float) -> int:
        """Wait for what is queued to land (up to `timeout_s`); return what could not be
        written (those jobs stay in the processing list and are delivered again)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        return sum(len(unit) for unit in self._pending + self._held)

    async def _run(self) -> None:
        delay = 0.05
        while True:
            if self._held:
                wait_s = self._held_until - time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), max(wait_s, 0.0))
                if time.monotonic() >= self._held_until:
                    # Offered again, ahead of what came since (a unit keeps its place).
                    self._pending[:0], self._held = self._held, []
                    self._idle.clear()
            else:
                await self._wakeup.wait()
            await asyncio.sleep(LINGER_S)
            self._wakeup.clear()
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self._execute(batch)
                    delay = 0.05
                except (*REDIS_ERRORS, OSError) as exc:
                    # Keep the order: what is left of this batch goes before whatever
                    # queued meanwhile.
                    self._pending[:0] = batch
                    log.warning(
                        "Recording %d outcome write(s) failed (%s); retrying", len(batch), exc
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
            self._idle.set()

    async def _execute(self, batch: list[Unit]) -> None:
        """Write `batch`, or raise. What has landed is removed from it, so that after a
        failure only the rest is written again."""
        if any(method != "ack" for unit in batch for method, _ in unit):
            await self._write_records(batch)
        acks = [command for unit in batch for command in unit]  # only acks are left
        if acks:
            _raise_missed(await self._pipeline(acks))
        batch.clear()

    async def _write_records(self, batch: list[Unit]) -> None:
        """Write the records of `batch`; leave in it the acks of the units whose records
        landed and all of the units with a record that did not reach Redis (then raise);
        hold the units with a refused record (the rest of the unit, acks included)."""
        located = [
            (u, c) for u, unit in enumerate(batch) for c, command in enumerate(unit)
            if command[0] != "ack"
        ]  # fmt: skip
        replies = await self._pipeline([batch[u][c] for u, c in located])
        landed, refused, missed = set(), set(), None
        for place, reply in zip(located, replies, strict=True):
            if _missed(reply):
                missed = missed or reply
            elif isinstance(reply, Exception):
                refused.add(place[0])
            else:
                landed.add(place)
        kept = []
        for u, unit in enumerate(batch):
            rest = [command for c, command in enumerate(unit) if (u, c) not in landed]
            if isinstance(unit, _Held):
                rest = _Held(rest)  # still counted once, however often it is offered
            if u not in refused:
                kept.append(rest)
                continue
            acks = [args for method, args in rest if method == "ack"]
            if not acks:
                continue  # shared state, not a job's outcome: the next change rewrites it
            if not isinstance(rest, _Held):
                self.refused += len(acks)
                rest = _Held(rest)
            if not self._held:
                self._held_until = time.monotonic() + REFUSED_RETRY_S
            self._held.append(rest)
            log.error(
                "%d outcome(s) could not be recorded; the job(s) stay in %s, offered to "
                "Redis again in %.0fs",
                len(acks),
                acks[0][0],
                REFUSED_RETRY_S,
            )
        batch[:] = kept
        if missed is not None:
            raise missed

    async def _pipeline(self, batch: list[Command]) -> list[Any]:
        """One pipeline (acks coalesced); the reply of each call."""
        calls = list(_coalesce(batch))
        async with self.redis.pipeline(transaction=False) as pipe:
            for method, args in calls:
                if method == "ack":
                    # EVAL, not EVALSHA: nothing to reload after a Redis restart.
                    pipe.eval(_ACK, 2, *args)
                else:
                    getattr(pipe, method)(*args)
            results = await pipe.execute(raise_on_error=False)
        # A command Redis refused (e.g. a fallback stream name that holds another type)
        # will be refused again: report it; the others in the pipeline did run.
        for (method, args), result in zip(calls, results, strict=True):
            if isinstance(result, Exception) and not _missed(result):
                log.error("Redis refused %s on %s: %s", method.upper(), args[0], result)
        return results


class _Held(list):
    """A unit Redis refused once, already counted in `Recorder.refused`."""


def _missed(reply: Any) -> bool:
    return isinstance(reply, _NOT_REACHED)


def _raise_missed(replies: list[Any]) -> None:
    for reply in replies:
        if _missed(reply):
            raise reply


def _coalesce(batch: list[Command]) -> Iterator[Command]:
    """The commands in order, with each run of acks on one list merged into one:
    ("ack", (processing, pending, endpoint, raw, endpoint, raw, ...))."""
    run_keys, pairs = None, []
    for method, args in batch:
        if method == "ack" and args[:2] == run_keys and len(pairs) < 2 * ACKS_PER_CALL:
            pairs += args[2:]
            continue
        if pairs:
            yield ("ack", (*run_keys, *pairs))
            run_keys, pairs = None, []
        if method == "ack":
            run_keys, pairs = args[:2], list(args[2:])
        else:
            yield (method, args)
    if pairs:
        yield ("ack", (*run_keys, *pairs))
