"""The command-line tools on a local three-node Redis Cluster (`TRACER_REDIS_CLUSTER=1`):
short links are stored, and dead letters listed and replayed, on whichever node holds
each key, not only on the node `REDIS_URL` names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from redis.cluster import RedisCluster

from dispatcher import dead_letters
from tests.redis_cluster import (
    ClusterNode,
    node_ports,
    seed_url,
)
from tests.store.events import make_event
from tests.support import environment_without_settings
from tracer import redis_keys
from tracer.brands import Brands
from tracer.settings import DEFAULT_CONFIG
from tracer.webhooks import WebhookJob, endpoint_id

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cluster_env(redis_cluster: list[ClusterNode], tmp_path: Path) -> dict[str, str]:
    return {
        **environment_without_settings(),
        "REDIS_URL": seed_url(redis_cluster),
        "TRACER_REDIS_CLUSTER": "1",
        "TRACER_CONFIG": str(DEFAULT_CONFIG),
        "TRACER_DATA_DIR": str(tmp_path / "data"),
    }


def tracer(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], env=env, cwd=ROOT, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip


def test_short_links_are_stored_across_the_cluster(
    cluster_env: dict[str, str], cluster_client: RedisCluster
) -> None:
    done = tracer(cluster_env, "link", "click", "--brand", "northjobs", "--message-id", "sms",
                  "--url", "https://northjobs.example/jobs/7", "--channel", "sms", "--short",
                  "--count", "12")  # fmt: skip
    assert done.returncode == 0, done.stderr
    slugs = [line.rsplit("/s/", 1)[1] for line in done.stdout.split()]
    assert len(set(slugs)) == 12
    keys = [redis_keys.slug(slug) for slug in slugs]
    assert all(cluster_client.exists(key) for key in keys)
    assert len(node_ports(cluster_client, keys)) >= 2  # not only the seed node's keys


def test_dead_letters_are_listed_and_replayed_from_every_node(
    cluster_env: dict[str, str], cluster_client: RedisCluster, example_brands: Brands
) -> None:
    brands = [brand for brand in example_brands if brand.webhooks][:6]
    buried = {}
    for brand in brands:
        hook = brand.webhooks[0]
        job = WebhookJob(event=make_event("click", brand=brand.id), brand=brand.id,
                         endpoint=endpoint_id(brand.id, hook.url), attempt=7)  # fmt: skip
        method, args = dead_letters.bury(job, "http_500")
        getattr(cluster_client, method)(*args)
        buried[job.event.id] = brand.id
    dlq_keys = [redis_keys.webhook_dlq(brand.id) for brand in brands]
    assert len(node_ports(cluster_client, dlq_keys)) >= 2

    listed = tracer(cluster_env, "dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    letters = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {letter["event"]["id"] for letter in letters} == set(buried)

    replayed = tracer(cluster_env, "dlq", "replay")
    assert replayed.returncode == 0, replayed.stderr
    assert not any(cluster_client.exists(key) for key in dlq_keys)
    queued = [
        raw for shard in range(8)
        for raw in cluster_client.lrange(redis_keys.webhook_shard(shard), 0, -1)
    ]  # fmt: skip
    assert len(queued) == len(buried)
