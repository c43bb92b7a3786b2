"""Receivers that go away: a long outage, a circuit breaker that opens and probes."""

from __future__ import annotations

import asyncio
import time

from dispatcher import dead_letters
from dispatcher.breaker import BreakerState
from tests.dispatcher.helpers import Answer, Receiver, jobs_for, make_brands, new_secret, push
from tracer import redis_keys
from tracer.redis_server import free_port
from tracer.webhooks import endpoint_id


async def test_receiver_down_for_a_while_gets_everything_once_back(
    redis_client, receivers, make_dispatcher
):
    """1. The receiver's port is closed. 2. Jobs are queued and attempts fail.
    3. A second later the receiver comes up. Result: every event arrives, each under its
    own webhook-id; a duplicate, if any, carries the same id and body."""
    secret = new_secret()
    port = free_port()
    receiver = receivers(secret, port=port)
    brands = make_brands(
        {"url": receiver.url, "secret": secret, "allow_private": True, "timeout_s": 1.0}
    )
    jobs = jobs_for(brands, 60)
    push(redis_client, jobs)
    dispatcher = make_dispatcher(
        brands, retry_schedule_s=(0.2,) * 12, breaker_failure_threshold=5, breaker_open_s=0.2
    )
    run = asyncio.create_task(dispatcher.run())
    stats = dispatcher.metrics.endpoints[endpoint_id("acme", receiver.url)]
    # Attempts fail while nothing listens, and nothing is given up on meanwhile.
    deadline = time.monotonic() + 10
    while stats.failed["connection"] < 5:
        assert time.monotonic() < deadline, "no failed attempt while the receiver was down"
        await asyncio.sleep(0.05)
    assert stats.delivered == 0 and stats.dead_lettered == 0
    await receiver.start()
    await asyncio.wait_for(run, 30)

    assert receiver.rejected == []
    assert receiver.delivered_event_ids() == {job.event.id for job in jobs}
    first_seen: dict[str, dict] = {}
    for seen in receiver.requests:
        assert seen.payload["id"] == seen.webhook_id
        assert first_seen.setdefault(seen.webhook_id, seen.payload) == seen.payload
    assert stats.dead_lettered == 0


async def test_circuit_breaker_opens_then_probes(redis_client, receivers, make_dispatcher):
    """1. The receiver answers 503 for 1.2 s. 2. After 3 failures the breaker opens: no
    request for `breaker_open_s`. 3. One probe at a time while it is half-open.
    Result: once the receiver recovers a probe closes the breaker; everything arrives."""
    secret = new_secret()
    healthy_at = time.monotonic() + 1.2

    def plan(webhook_id: str, nth: int) -> Answer:
        return Answer(200 if time.monotonic() >= healthy_at else 503)

    receiver: Receiver = await receivers(secret, plan).start()
    brands = make_brands(
        {"url": receiver.url, "secret": secret, "allow_private": True, "max_concurrency": 1}
    )
    hook_id = endpoint_id("acme", receiver.url)
    jobs = jobs_for(brands, 10)
    push(redis_client, jobs)
    dispatcher = make_dispatcher(
        brands,
        retry_schedule_s=(0.05,) * 40,
        breaker_failure_threshold=3,
        breaker_open_s=0.4,
        breaker_max_open_s=0.8,
    )
    published: set[bytes] = set()

    async def watch_published_state() -> None:
        while True:
            value = redis_client.hget(redis_keys.endpoint_state(hook_id), "breaker")
            if value:
                published.add(value)
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch_published_state())
    await asyncio.wait_for(dispatcher.run(), 30)
    watcher.cancel()

    assert receiver.delivered_event_ids() == {job.event.id for job in jobs}
    times = [seen.at for seen in receiver.requests]
    failures = [seen for seen in receiver.requests if seen.status == 503]
    # The third failure opened the breaker: the next request waited out the open period.
    third = failures[2].at
    after = [t for t in times if t > third]
    assert after and after[0] - third >= 0.35
    # While failing, requests came one probe per open period, not a stream of retries.
    assert len(failures) <= 3 + 4
    assert b"open" in published
    stats = dispatcher.metrics.endpoints[hook_id]
    assert stats.failed["circuit_open"] > 0
    assert dispatcher.endpoints[hook_id].breaker.state is BreakerState.CLOSED
    assert redis_client.hget(redis_keys.endpoint_state(hook_id), "breaker") == b"closed"


async def test_attempts_exhausted_dead_letters_with_fallback(
    redis_client, receivers, make_dispatcher
):
    secret = new_secret()
    receiver = await receivers(secret, lambda webhook_id, nth: Answer(500)).start()
    brands = make_brands(
        {
            "url": receiver.url,
            "secret": secret,
            "allow_private": True,
            "fallback_stream": "acme:fallback",
        }
    )
    jobs = jobs_for(brands, 4)
    push(redis_client, jobs)

    await asyncio.wait_for(make_dispatcher(brands, retry_schedule_s=(0.01, 0.02)).run(), 30)

    # One attempt plus one per schedule step, then the dead-letter list and the stream.
    assert set(receiver.counts.values()) == {3}
    letters = [letter for _, letter in dead_letters.read(redis_client, "acme")]
    assert [(letter.reason, letter.job.attempt) for letter in letters] == [
        ("attempts_exhausted", 3)
    ] * 4
    assert letters[0].job.last_error == "HTTP 500"
    assert redis_client.xlen("acme:fallback") == 4
