"""The parts that make single-event delivery cheap, each keeping its guarantee: the worker
pool (the concurrency limit), the deadlines (the timeout), the ack coalescing (the order of
outcome writes)."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from dispatcher.deadlines import Deadlines
from dispatcher.recorder import Recorder, _coalesce, ack
from dispatcher.workers import WorkerPool
from tests.dispatcher.helpers import Answer, jobs_for, make_brands, new_secret, push, until


async def test_worker_pool_never_exceeds_its_limit_and_handles_everything():
    running, most, done = 0, 0, []

    async def handle(item: int) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.001 * (item % 3))
        running -= 1
        done.append(item)

    pool = WorkerPool(4, handle, name="test")
    for item in range(50):
        pool.submit(item)
        if item % 7 == 0:
            await asyncio.sleep(0)  # some workers run dry and end in between
    await until(lambda: len(done) == 50, what="every item handled")
    assert most == 4
    assert sorted(done) == list(range(50))
    # Idle: no worker left behind, and new work starts new ones.
    await asyncio.sleep(0.01)
    pool.submit(99)
    await until(lambda: done[-1] == 99, what="the item after an idle spell")


async def test_worker_pool_cancel_leaves_unstarted_items_queued():
    started = []

    async def handle(item: int) -> None:
        started.append(item)
        await asyncio.sleep(10)

    pool = WorkerPool(2, handle, name="test")
    for item in range(5):
        pool.submit(item)
    await asyncio.sleep(0.01)
    await pool.cancel(timeout_s=1)
    assert started == [0, 1]
    assert pool.waiting == 3


async def test_deadline_turns_its_own_cancellation_into_a_timeout():
    deadlines = Deadlines(tick_s=0.01)
    checker = asyncio.create_task(deadlines.run())
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimeoutError):
            async with deadlines.within(0.05):
                await asyncio.sleep(5)
        assert 0.05 <= loop.time() - started < 0.5
        # In time: nothing happens, and the task is not left cancelled.
        async with deadlines.within(1.0):
            await asyncio.sleep(0.01)
        assert asyncio.current_task().cancelling() == 0
    finally:
        checker.cancel()


async def test_deadline_lets_a_shutdown_cancellation_through():
    deadlines = Deadlines(tick_s=0.01)
    checker = asyncio.create_task(deadlines.run())

    async def request() -> None:
        async with deadlines.within(0.05):
            await asyncio.sleep(5)

    try:
        task = asyncio.create_task(request())
        await asyncio.sleep(0.01)
        task.cancel()  # the shutdown, before the deadline
        with pytest.raises(asyncio.CancelledError):
            await task
        assert deadlines.expire_due(asyncio.get_running_loop().time() + 1) == 0
    finally:
        checker.cancel()


def test_acks_in_a_row_on_one_list_become_one_command_and_keep_their_place():
    commands = [
        ack("p:0", b"a", "n:0", "e1"),
        ack("p:0", b"b", "n:0"),
        ("zadd", ("retry:0", {b"c": 1.0})),
        ack("p:0", b"c", "n:0"),
        ack("p:1", b"d", "n:1", "e2"),
        ack("p:1", b"e", "n:1", "e2"),
        ("rpush", ("dlq", b"f")),
    ]
    assert list(_coalesce(commands)) == [
        ("ack", ("p:0", "n:0", "e1", b"a", "", b"b")),
        ("zadd", ("retry:0", {b"c": 1.0})),
        ("ack", ("p:0", "n:0", "", b"c")),
        ("ack", ("p:1", "n:1", "e2", b"d", "e2", b"e")),
        ("rpush", ("dlq", b"f")),
    ]


async def test_recorder_acks_remove_exactly_one_copy_each(redis_url, redis_client):
    redis_client.rpush("p:0", b"a", b"b", b"a", b"c")
    redis = Redis.from_url(redis_url)
    recorder = Recorder(redis)
    recorder.start()
    try:
        recorder.write(ack("p:0", b"a"), ack("p:0", b"c"), ("rpush", ("out", b"x")))
        assert await recorder.stop(timeout_s=5) == 0
    finally:
        await redis.aclose()
    assert redis_client.lrange("p:0", 0, -1) == [b"b", b"a"]
    assert redis_client.lrange("out", 0, -1) == [b"x"]


async def test_an_endpoint_never_has_more_requests_in_flight_than_its_limit(
    redis_client, receivers, make_dispatcher
):
    secret = new_secret()
    in_flight, most = 0, 0

    async def plan(webhook_id: str, nth: int) -> Answer:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return Answer()

    receiver = await receivers(secret, plan).start()
    brands = make_brands(
        {"url": receiver.url, "secret": secret, "allow_private": True, "max_concurrency": 3}
    )
    jobs = jobs_for(brands, 20)
    push(redis_client, jobs)

    await asyncio.wait_for(make_dispatcher(brands).run(), 30)

    assert most == 3
    assert receiver.delivered_event_ids() == {job.event.id for job in jobs}


async def test_an_outcome_redis_refuses_keeps_its_job_held_until_it_lands(
    redis_url, redis_client, monkeypatch
):
    """A record Redis refuses (here the fallback stream's name holds a string) is not
    followed by its ack: the job stays in the processing list while the other outcomes of
    the same pipeline land, and the unit is offered again until Redis takes it."""
    monkeypatch.setattr("dispatcher.recorder.REFUSED_RETRY_S", 0.3)
    redis_client.rpush("p:0", b"refused", b"fine")
    redis_client.set("taken", "not a stream")
    redis = Redis.from_url(redis_url)
    recorder = Recorder(redis)
    recorder.start()
    try:
        recorder.write(("xadd", ("taken", {"event": b"x"})), ack("p:0", b"refused"))
        recorder.write(("rpush", ("dlq", b"y")), ack("p:0", b"fine"))
        await until(lambda: recorder.held_jobs == 1, 5, "the refusal")
        assert redis_client.lrange("p:0", 0, -1) == [b"refused"]
        assert redis_client.lrange("dlq", 0, -1) == [b"y"]
        await asyncio.sleep(0.5)  # offered again (and refused again) meanwhile
        assert redis_client.lrange("p:0", 0, -1) == [b"refused"]

        redis_client.delete("taken")  # the operator fixes the clash
        await until(lambda: recorder.held_jobs == 0, 5, "the record to land")
        assert await recorder.stop(timeout_s=5) == 0
    finally:
        await redis.aclose()
    assert redis_client.llen("p:0") == 0
    assert redis_client.xlen("taken") == 1
    assert recorder.refused == 1  # one outcome, however often it was offered
