"""The dispatcher on a local three-node Redis Cluster (`TRACER_REDIS_CLUSTER=1`): webhook
shards, retries, dead letters and adoption spread over the nodes, delivered to real
aiohttp receivers."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from redis.cluster import RedisCluster

from dispatcher import dead_letters
from dispatcher.queue import WebhookQueue, shard_for
from dispatcher.recorder import Recorder, ack
from dispatcher.service import Dispatcher, redis_client
from tests.batcher import helpers as batcher_helpers
from tests.dispatcher.helpers import (
    BRAND,
    SHARDS,
    Answer,
    Receiver,
    brands_toml,
    fast_options,
    jobs_for,
    make_brands,
    make_event,
    new_secret,
    push,
    until,
)
from tests.redis_cluster import (
    ClusterNode,
    node_of,
    node_ports,
    seed_url,
    wait_for_cluster,
)
from tracer import redis_keys
from tracer.webhooks import encode_job, endpoint_id

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SHARDS = [redis_keys.webhook_shard(shard) for shard in range(SHARDS)]


def url_on_shard(receiver: Receiver, shard: int) -> str:
    """A URL of `receiver` whose endpoint's jobs go to webhook shard `shard` (the query
    string only changes the endpoint id)."""
    for n in itertools.count():
        url = f"{receiver.url}?n={n}"
        if shard_for(endpoint_id(BRAND, url), SHARDS) == shard:
            return url
    raise AssertionError("unreachable")


def bucket(webhook_id: str) -> int:
    return int(hashlib.sha256(webhook_id.encode()).hexdigest(), 16) % 10


def plan(webhook_id: str, nth: int) -> Answer:
    """A tenth of the events are refused (400: dead-lettered), a tenth fail once (503:
    retried), the rest are delivered at the first attempt."""
    if bucket(webhook_id) == 0:
        return Answer(400)
    if bucket(webhook_id) == 1 and nth == 1:
        return Answer(503)
    return Answer()


async def test_jobs_on_every_node_are_delivered_retried_dead_lettered_and_adopted(
    redis_cluster: list[ClusterNode],
    cluster_client: RedisCluster,
    receivers: Callable[..., Receiver],
) -> None:
    """1. Four endpoints, one per webhook shard (the shards live on all three nodes), and
    a fifth that answers 410 and has a fallback stream.
    2. 60 events queued for each, and "ghost", a dead dispatcher, holds 5 more of the
    first endpoint's jobs in its processing list.
    3. A dispatcher on the cluster drains everything (burst mode).
    Result: every job is delivered once, or dead-lettered (400) on the brand's list, or
    diverted to the fallback stream (410); the ghost's jobs are put back and delivered;
    nothing is left in the queue."""
    secret = new_secret()
    endpoints = [await receivers(secret, plan).start() for _ in range(SHARDS)]
    gone = await receivers(secret, lambda webhook_id, nth: Answer(410)).start()
    hooks = [
        {"url": url_on_shard(receiver, shard), "secret": secret, "allow_private": True}
        for shard, receiver in enumerate(endpoints)
    ]
    hooks.append({"url": gone.url, "secret": secret, "allow_private": True,
                  "fallback_stream": "acme:events"})  # fmt: skip
    brands = make_brands(*hooks)
    jobs = jobs_for(brands, 60)
    push(cluster_client, jobs)
    assert len(node_ports(cluster_client, WEBHOOK_SHARDS)) == 3
    first_endpoint = endpoint_id(BRAND, hooks[0]["url"])
    ghost_jobs = [job for job in jobs_for(brands, 5) if job.endpoint == first_endpoint]
    cluster_client.sadd(redis_keys.worker_registry("dispatcher"), "ghost")
    for job in ghost_jobs:
        cluster_client.rpush(redis_keys.webhook_processing(0, "ghost"), encode_job(job))

    client = redis_client(seed_url(redis_cluster), cluster=True)
    try:  # what /metrics shows
        depths = await WebhookQueue(client, SHARDS, "probe").depths()
    finally:
        await client.aclose()
    assert sum(depth for queue, _, depth in depths if queue == "ready") == len(jobs)

    dispatcher = Dispatcher(brands, seed_url(redis_cluster), shards=SHARDS,
                            options=fast_options(), consumer="solo", cluster=True)  # fmt: skip
    await asyncio.wait_for(dispatcher.run(), 20)

    gone_endpoint = endpoint_id(BRAND, gone.url)
    events = {job.event.id for job in jobs if job.endpoint == first_endpoint}
    events |= {job.event.id for job in ghost_jobs}
    refused = {event for event in events if bucket(event) == 0}
    for receiver in endpoints:
        assert receiver.rejected == []
        delivered = Counter(seen.webhook_id for seen in receiver.delivered)
        assert all(count == 1 for count in delivered.values())
    assert set(Counter(s.webhook_id for s in endpoints[0].delivered)) == events - refused
    assert all(endpoints[0].counts[event] == 2 for event in events if bucket(event) == 1)
    letters = [
        msgspec.msgpack.decode(raw, type=dead_letters.DeadLetter)
        for raw in cluster_client.lrange(redis_keys.webhook_dlq(BRAND), 0, -1)
    ]
    assert sorted((letter.job.event.id, letter.job.endpoint) for letter in letters) == sorted(
        (job.event.id, job.endpoint) for job in [*jobs, *ghost_jobs]
        if bucket(job.event.id) == 0 and job.endpoint != gone_endpoint
    )  # fmt: skip
    diverted = {f[b"id"].decode() for _, f in cluster_client.xrange("acme:events")}
    assert diverted == {job.event.id for job in jobs if job.endpoint == gone_endpoint}
    state = cluster_client.hgetall(redis_keys.endpoint_state(gone_endpoint))
    assert state[b"disabled"] == b"1"
    for shard in range(SHARDS):
        assert cluster_client.llen(redis_keys.webhook_shard(shard)) == 0
        assert cluster_client.zcard(redis_keys.webhook_retry(shard)) == 0
        for consumer in ("solo", "ghost"):
            assert not cluster_client.exists(redis_keys.webhook_processing(shard, consumer))
    assert cluster_client.smembers(redis_keys.worker_registry("dispatcher")) == set()


async def test_an_ack_waits_for_the_dead_letter_before_it_on_another_node(
    redis_cluster: list[ClusterNode],
    cluster_client: RedisCluster,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A cluster pipeline sends each node its share at once. 1. The node of the brand's
    dead-letter list is down. 2. A job's dead letter and then its ack are recorded (the
    ack's processing list is on a node that is up). 3. The dispatcher dies with both
    unwritten. Result: the ack did not land either, so the job is still held (and will be
    adopted and delivered again), not lost; once the node is back both land."""
    brands = make_brands({"url": "http://127.0.0.1:9/hook", "secret": new_secret(),
                          "allow_private": True})  # fmt: skip
    (job,) = jobs_for(brands, 1)
    raw = encode_job(job)
    processing = redis_keys.webhook_processing(0, "dying")
    dlq = redis_keys.webhook_dlq(BRAND)
    down = node_of(redis_cluster, cluster_client, dlq)
    assert node_of(redis_cluster, cluster_client, processing) is not down
    cluster_client.rpush(processing, raw)
    commands = [dead_letters.bury(job, "http_400"), ack(processing, raw)]

    client = redis_client(seed_url(redis_cluster), cluster=True)
    recorder = Recorder(client)
    try:
        # Connected to both nodes, as a busy dispatcher is, before one goes down.
        await client.llen(processing)
        await client.llen(dlq)
        down.stop()
        recorder.start()
        recorder.write(*commands)
        await until(lambda: "outcome write(s) failed" in caplog.text, 15, "a failed write")
    finally:
        await recorder.stop(0)  # the dispatcher dies here
        await client.aclose()
        if down.process is None:
            down.start()
    wait_for_cluster(redis_cluster)

    assert cluster_client.lrange(processing, 0, -1) == [raw]
    assert cluster_client.llen(dlq) == 0

    client = redis_client(seed_url(redis_cluster), cluster=True)
    recorder = Recorder(client)
    try:
        recorder.start()
        recorder.write(*commands)
        await until(lambda: recorder.idle, 10, "the writes")
    finally:
        await recorder.stop(1)
        await client.aclose()
    assert cluster_client.llen(processing) == 0
    assert cluster_client.llen(dlq) == 1


async def test_events_reach_the_receiver_through_batcher_and_dispatcher_processes(
    tmp_path: Path,
    redis_cluster: list[ClusterNode],
    cluster_client: RedisCluster,
    receivers: Callable[..., Receiver],
) -> None:
    """`tracer batcher --burst` then `tracer dispatcher --burst`, both with
    TRACER_REDIS_CLUSTER=1: queued events are stored, handed off and delivered once."""
    secret = new_secret()
    receiver = await receivers(secret).start()
    config = tmp_path / "brands.toml"
    config.write_text(brands_toml({"url": receiver.url, "secret": secret, "allow_private": True}))
    sent = [make_event() for _ in range(200)]
    batcher_helpers.push(cluster_client, sent)
    env = {**os.environ, "REDIS_URL": seed_url(redis_cluster), "TRACER_REDIS_CLUSTER": "1",
           "TRACER_CONFIG": str(config), "TRACER_QUEUE_SHARDS": str(batcher_helpers.SHARDS),
           "TRACER_DATA_DIR": str(tmp_path / "var"), "TRACER_LOG_FORMAT": "text"}  # fmt: skip
    logs = tmp_path / "roles.log"

    for role in (["batcher", "--no-periodic-jobs"], ["dispatcher"]):
        with logs.open("ab") as sink:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cli", *role, "--burst", "--metrics-port", "0",
                env=env, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=sink,
            )  # fmt: skip
        try:
            code = await asyncio.wait_for(process.wait(), 20)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert code == 0, logs.read_text()[-2000:]

    assert receiver.rejected == []
    assert Counter(seen.webhook_id for seen in receiver.delivered) == Counter(e.id for e in sent)
    assert batcher_helpers.queued(cluster_client) == 0
    shards = range(batcher_helpers.SHARDS)
    assert sum(cluster_client.llen(redis_keys.webhook_shard(n)) for n in shards) == 0
