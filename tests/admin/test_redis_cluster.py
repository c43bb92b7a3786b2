"""`tracer admin` on a local three-node Redis Cluster (`TRACER_REDIS_CLUSTER=1`): it
queues events, stores short links and reads the queue for the dashboard there."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import aiohttp
from redis.cluster import RedisCluster

from admin.dashboard.redis_state import read_redis
from admin.services import redis_client
from tests.admin.helpers import NORTHJOBS_KEY, SHARDS, AdminProcess, Api, queued
from tests.redis_cluster import (
    ClusterNode,
    node_ports,
    seed_url,
)
from tracer import redis_keys
from tracer.brands import Brands


async def test_messages_short_links_and_the_dashboard_reading_work_on_a_cluster(
    redis_cluster: list[ClusterNode],
    cluster_client: RedisCluster,
    start_admin: Callable[..., AdminProcess],
    example_brands: Brands,
) -> None:
    admin = start_admin(seed_url(redis_cluster), TRACER_REDIS_CLUSTER="1")
    async with aiohttp.ClientSession() as session:
        api = Api(session, admin.url, NORTHJOBS_KEY)
        ready = await api.get("/readyz")
        sms = [
            await api.post("/v1/messages", {"channel": "sms", "recipient": "+44 7700 900123",
                                            "urls": [f"https://northjobs.example/jobs/{n}"]})
            for n in range(6)
        ]  # fmt: skip

    assert ready == (200, {"status": "ready", "redis": "ok", "store": "ok"})
    assert all(status == 200 for status, _ in sms), sms
    slugs = [body["links"][0]["tracked_url"].rsplit("/", 1)[1] for _, body in sms]
    assert all(cluster_client.get(redis_keys.slug(slug)) for slug in slugs)
    message_ids = sorted(body["message_id"] for _, body in sms)
    assert sorted(event.message_id for event in queued(cluster_client)) == message_ids
    # Round-robin over the shards: the six events are on more than one node.
    used = [key for n in range(SHARDS) if cluster_client.llen(key := redis_keys.event_shard(n))]
    assert len(node_ports(cluster_client, used)) >= 2

    client = redis_client(seed_url(redis_cluster), 2.0, cluster=True)
    try:
        reading = await read_redis(client, SHARDS, example_brands, time.time())
    finally:
        await client.aclose()
    assert sum(shard.depth for shard in reading.shards) == 6
    assert set(reading.dlq) == {brand.id for brand in example_brands}
    assert admin.stop() == 0
    assert "Traceback" not in admin.log_text()


async def test_no_cluster_node_answering_is_a_503_not_a_500(
    redis_cluster: list[ClusterNode], start_admin: Callable[..., AdminProcess]
) -> None:
    admin = start_admin(seed_url(redis_cluster), TRACER_REDIS_CLUSTER="1")
    for node in redis_cluster:
        node.kill()
    async with aiohttp.ClientSession() as session:
        api = Api(session, admin.url, NORTHJOBS_KEY)
        status, body = await api.post(
            "/v1/messages",
            {"channel": "sms", "recipient": "+44 7700 900123",
             "urls": ["https://northjobs.example/jobs/1"]},
        )  # fmt: skip
        ready_status, ready = await api.get("/readyz")
    assert status == 503, body
    assert "unavailable" in json.dumps(body)
    assert ready_status == 503 and ready["redis"] != "ok"
    assert admin.stop() == 0
    assert "Traceback" not in admin.log_text()
