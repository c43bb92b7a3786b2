"""What an attacker tried at the edge, over real HTTP: padded tokens, a body that never
arrives, a flood of unknown slugs, and /metrics on the public port."""

from __future__ import annotations

import socket
import time

import redis

from tests.edge.helpers import EdgeProcess, fetch
from tracer.links import LinkBuilder
from tracer.settings import load_settings

HOST = "t.northjobs.example"
LANDING = "https://northjobs.example/"


def test_a_padded_token_is_no_second_spelling_of_a_link(
    edge: EdgeProcess, builder: LinkBuilder
) -> None:
    """base64url tokens are never padded: with '=' anywhere they open nothing."""
    for n in range(8):  # tokens of every length modulo 4
        url = builder.click("northjobs", "m" * (n + 1), "https://northjobs.example/jobs/1")
        token = url.rsplit("/", 1)[1]
        assert edge.get(f"/c/{token}", host=HOST).location != LANDING
        for padded in (token + "=", token + "==", token + "===", token + "====",
                       token[:4] + "====" + token[4:], token[:-1] + "=" + token[-1]):  # fmt: skip
            assert edge.get(f"/c/{padded}", host=HOST).location == LANDING, padded


def test_an_unsubscribe_body_that_never_arrives_gets_408(
    edge: EdgeProcess, builder: LinkBuilder
) -> None:
    """Content-Length 1000, then 7 bytes, then nothing: answered within the deadline."""
    url = builder.unsubscribe("northjobs", "m-1", recipient="a@b.example")
    path = url.removeprefix(f"https://{HOST}")
    with socket.create_connection(("127.0.0.1", edge.port), timeout=30) as sock:
        started = time.monotonic()
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 1000\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n\r\nscope=a".encode()
        )
        answer = sock.recv(65536)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert waited < 15, waited


def test_an_unknown_slug_costs_one_redis_lookup(
    edge: EdgeProcess, redis_client: redis.Redis
) -> None:
    redis_client.config_resetstat()
    for _ in range(200):
        assert edge.get("/s/zzzzzzz", host=HOST).location == LANDING

    assert redis_client.info("commandstats").get("cmdstat_get", {}).get("calls") == 1
    rejected = {
        line.split('reason="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in edge.metrics().splitlines()
        if line.startswith("tracer_edge_rejected_total{")
    }
    assert (rejected["unknown_slug"], rejected["unknown_slug_cached"]) == (1, 199)


def test_metrics_are_not_served_on_the_public_port(edge: EdgeProcess) -> None:
    assert fetch(edge.port, "/metrics", HOST).status == 404
    assert fetch(edge.port, "/metrics", "localhost").status == 404
    assert "tracer_edge_requests_total" in edge.metrics()
    assert fetch(edge.metrics_port, "/healthz", "localhost").status == 200
    # Loopback only unless an operator says otherwise.
    assert (load_settings({}).edge_metrics_host, load_settings({}).edge_metrics_port) == (
        "127.0.0.1",
        9103,
    )
