"""An IPv4 client written as an IPv6 address, over real HTTP through the edge and the
batcher's enrichment: truncated by the IPv4 rule, never stored whole."""

from __future__ import annotations

import pytest
import redis

from tests.edge.helpers import EdgeProcess, wait_for_events
from tracer.links import LinkBuilder


@pytest.mark.parametrize(
    "forwarded", ["::ffff:198.51.100.77", "::FFFF:c633:644d", "0:0:0:0:0:ffff:198.51.100.77"]
)
def test_an_ipv4_mapped_client_is_truncated_by_the_ipv4_rule(
    edge: EdgeProcess, builder: LinkBuilder, redis_client: redis.Redis, forwarded: str
) -> None:
    """North Jobs keeps /24 of IPv4 and /48 of IPv6 clients: an IPv4 client written as an
    IPv6 address (::ffff:a.b.c.d) is stored as the /24 of its IPv4 address."""
    url = builder.click("northjobs", "m-mapped", "https://northjobs.example/jobs/1")
    reply = edge.get(url, headers={"X-Forwarded-For": forwarded})
    assert reply.status == 302

    (event,) = wait_for_events(redis_client, 1)
    assert event.ip == "198.51.100.0"
