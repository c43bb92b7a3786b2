"""Bad input gets the brand's landing page or a 404 and a counter: never a 500, never a
redirect to a URL that is not inside a valid token."""

from __future__ import annotations

import os
import random
import time

import pytest
import redis

from tests.edge.helpers import (
    EdgeProcess,
    fetch,
    queued_events,
    queued_hits,
    raw_request,
    wait_for_events,
)
from tests.edge.test_faults import wait_until
from tracer.brands import parse_brands
from tracer.keyring import KeyRing
from tracer.links import LinkBuilder

LANDING = "https://northjobs.example/"
HOST = "t.northjobs.example"


def rejected(edge: EdgeProcess) -> dict[str, float]:
    counts: dict[str, float] = {}
    for line in edge.metrics().splitlines():
        if line.startswith("tracer_edge_rejected_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            counts[reason] = float(line.rsplit(" ", 1)[1])
    return counts


def flip(token: str, position: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    replacement = alphabet[(alphabet.index(token[position]) + 1) % len(alphabet)]
    return token[:position] + replacement + token[position + 1 :]


def test_garbage_tampered_and_truncated_tokens_get_the_landing_page(
    edge: EdgeProcess, builder: LinkBuilder, redis_client: redis.Redis
) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    print(f"random seed {seed}")
    rng = random.Random(seed)
    good = builder.click("northjobs", "m-1", "https://attacker.example/phish").split("/c/")[1]
    candidates = [
        "x",
        "A" * 40,
        good[:-1],
        good[: len(good) // 2],
        good + "A",
        good.replace("A", "+", 1),
        "%00%ff",
        *(flip(good, rng.randrange(len(good))) for _ in range(25)),
        *(rng.randbytes(rng.randrange(1, 200)).hex() for _ in range(10)),
    ]
    for token in candidates:
        if token == good:
            continue
        reply = fetch(edge.port, f"/c/{token}", HOST)
        assert reply.status == 302, token
        assert reply.location == LANDING, token

    assert wait_for_events(redis_client, 1, timeout_s=0.5) == []
    counts = rejected(edge)
    assert sum(counts.values()) >= len(candidates) - 1
    assert counts.get("tampered", 0) >= 20


def test_a_token_of_one_brand_is_not_honoured_on_another_brands_host(
    edge: EdgeProcess, builder: LinkBuilder, redis_client: redis.Redis
) -> None:
    url = builder.click("northjobs", "m-x", "https://northjobs.example/jobs/9")
    token_path = url.split("t.northjobs.example", 1)[1]

    reply = fetch(edge.port, token_path, "t.harborcareers.example")

    assert reply.status == 302
    assert reply.location == "https://harborcareers.example/"
    assert rejected(edge)["wrong_host"] == 1
    assert wait_for_events(redis_client, 1, timeout_s=0.5) == []


def test_a_retired_key_no_longer_opens_its_links(
    start_edge, edge_env: dict[str, str], example_brands, keyring: KeyRing, keyring_file
) -> None:
    from tracer.keyring import write_keyring

    old_link = LinkBuilder(example_brands, keyring).click(
        "northjobs", "m-old", "https://northjobs.example/old"
    )
    rotated = keyring.rotate()
    new_link = LinkBuilder(example_brands, rotated).click(
        "northjobs", "m-new", "https://northjobs.example/new"
    )
    write_keyring(rotated, keyring_file)
    edge = start_edge(edge_env)
    assert edge.get(old_link).location.startswith("https://northjobs.example/old?")
    assert edge.get(new_link).location.startswith("https://northjobs.example/new?")
    edge.stop()

    write_keyring(rotated.retire(1), keyring_file)
    edge = start_edge(edge_env)

    assert edge.get(old_link).location == LANDING
    assert edge.get(new_link).location.startswith("https://northjobs.example/new?")
    assert rejected(edge)["unknown_key"] == 1


def test_expired_links_get_the_landing_page(
    start_edge, edge_env: dict[str, str], tmp_path, keyring: KeyRing
) -> None:
    brands_file = tmp_path / "brands.toml"
    brands_file.write_text(
        '[[brands]]\nid = "short"\nname = "Short"\nhosts = ["t.short.example"]\n'
        'landing_url = "https://short.example/"\nlink_ttl_days = 30\n'
    )
    brands = parse_brands(brands_file.read_text())
    old = LinkBuilder(brands, keyring, clock=lambda: time.time() - 31 * 86400)
    fresh = LinkBuilder(brands, keyring)
    edge = start_edge({**edge_env, "TRACER_CONFIG": str(brands_file)})

    assert edge.get(old.click("short", "m", "https://short.example/a")).location == (
        "https://short.example/"
    )
    assert edge.get(fresh.click("short", "m", "https://short.example/a")).location.startswith(
        "https://short.example/a?"
    )
    assert rejected(edge)["expired"] == 1


@pytest.mark.parametrize(
    ("request_bytes", "expected_status", "counted_as"),
    [
        # invalid UTF-8 in the path (granian refuses it before the application)
        (b"GET /c/\xff\xfe\xfd HTTP/1.1\r\nHost: t.northjobs.example\r\n\r\n", {400}, None),
        # no Host header at all
        (b"GET /c/abc HTTP/1.1\r\n\r\n", {404}, "unknown_host"),
        # a host no brand owns
        (b"GET /c/abc HTTP/1.1\r\nHost: evil.example\r\n\r\n", {404}, "unknown_host"),
        # a path over 8 KB
        (
            b"GET /c/" + b"A" * 9000 + b" HTTP/1.1\r\nHost: t.northjobs.example\r\n\r\n",
            {302},
            "path_too_long",
        ),
        # a path far over any limit (granian refuses it)
        (
            b"GET /c/" + b"A" * 100_000 + b" HTTP/1.1\r\nHost: t.northjobs.example\r\n\r\n",
            {414},
            None,
        ),
        # an unknown route on a brand host
        (
            b"GET /wp-login.php HTTP/1.1\r\nHost: t.northjobs.example\r\n\r\n",
            {404},
            "unknown_route",
        ),
    ],
    ids=[
        "invalid-utf8",
        "no-host",
        "unknown-host",
        "path-over-8k",
        "path-over-100k",
        "unknown-route",
    ],
)
def test_malformed_requests_never_get_a_500_or_a_foreign_redirect(
    edge: EdgeProcess, request_bytes: bytes, expected_status: set[int], counted_as: str | None
) -> None:
    answer = raw_request(edge.port, request_bytes)

    status = int(answer.split(b" ", 2)[1])
    assert status in expected_status, answer[:300]
    for line in answer.split(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"location:"):
            assert line.split(b":", 1)[1].strip() == LANDING.encode()
    # What granian refuses never reaches the edge, so the edge counts it nowhere.
    assert rejected(edge) == ({counted_as: 1} if counted_as else {})


def test_bad_tokens_on_the_pixel_and_unsubscribe_routes(
    edge: EdgeProcess, builder: LinkBuilder, redis_client: redis.Redis
) -> None:
    """A pixel whose token has the wrong shape (cut short, a foreign alphabet, an unknown
    version or key id) answers a 404 that is still a GIF (mail clients show no broken
    image); one with the right shape answers the pixel, as the edge no longer opens it, and
    its raw hit is dropped by the batcher. Unsubscribe pages send a GET to the landing page
    and answer a POST with the brand's "no longer valid" page."""
    pixel = builder.open("northjobs", "m-1", recipient="a@b.example").split(HOST, 1)[1]
    pixel = pixel.removesuffix(".gif")
    page = builder.unsubscribe("northjobs", "m-1", recipient="a@b.example").split(HOST, 1)[1]
    click = builder.click("northjobs", "m-1", "https://northjobs.example/j").split(HOST, 1)[1]
    foreign = builder.open("harborcareers", "m-1", recipient="a@b.example")
    foreign_pixel = "/o/" + foreign.split("/o/", 1)[1].removesuffix(".gif")
    tampered_pixel = pixel[:3] + flip(pixel[3:], 10)
    tampered_page = page[:3] + flip(page[3:], 10)
    misshapen = {
        pixel[:40]: "bad_encoding",
        pixel[:-3] + "$" + pixel[-2:]: "bad_encoding",
        "/o/AAAA" + pixel[7:]: "bad_version",
        "/o/AQ__" + pixel[7:]: "unknown_key",
    }

    for path in misshapen:
        reply = fetch(edge.port, path, HOST)
        assert reply.status == 404, path
        assert reply.headers["content-type"] == "image/gif"
        assert len(reply.body) == 43
    for path in (tampered_pixel, tampered_pixel + ".gif", foreign_pixel, "/o/" + click[3:]):
        reply = fetch(edge.port, path, HOST)
        assert reply.status == 200, path
        assert reply.headers["content-type"] == "image/gif"
        assert len(reply.body) == 43
    reply = fetch(edge.port, tampered_page, HOST)
    assert (reply.status, reply.location) == (302, LANDING)
    reply = fetch(edge.port, tampered_page, HOST, method="POST", body=b"List-Unsubscribe=One-Click")
    assert reply.status == 404
    assert b"<html" in reply.body.lower() and "location" not in reply.headers

    assert rejected(edge) == {"tampered": 2, "bad_encoding": 2, "bad_version": 1, "unknown_key": 1}
    # Four raw hits queued, none of which the batcher makes an event of.
    assert wait_until(lambda: len(queued_hits(redis_client)) == 4)
    assert queued_events(redis_client) == []


def test_a_redirect_never_shows_the_recipient(edge: EdgeProcess, builder: LinkBuilder) -> None:
    url = builder.click(
        "northjobs", "m-r", "https://northjobs.example/jobs/5", recipient="reader@mail.example"
    )

    location = edge.get(url).location

    assert location.startswith("https://northjobs.example/jobs/5?")
    for text in (url, location):
        assert "reader" not in text and "mail.example" not in text


def test_missing_user_agent_is_answered_and_classified(
    edge: EdgeProcess, builder: LinkBuilder, redis_client: redis.Redis
) -> None:
    url = builder.click("northjobs", "m-ua", "https://northjobs.example/jobs/3")
    path = url.split(HOST, 1)[1]

    answer = raw_request(edge.port, f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())

    assert answer.startswith(b"HTTP/1.1 302")
    (event,) = wait_for_events(redis_client, 1)
    assert event.ua == ""
    assert event.bot is True
    assert "no_ua" in event.reasons


def test_wrong_methods_and_oversized_forms(edge: EdgeProcess, builder: LinkBuilder) -> None:
    click = builder.click("northjobs", "m", "https://northjobs.example/jobs/3")
    unsubscribe = builder.unsubscribe("northjobs", "m", recipient="a@b.example")

    assert edge.get(click, method="POST", body=b"x").status == 405
    assert edge.get(click, method="DELETE").status == 405
    assert edge.get(unsubscribe, method="POST", body=b"scope=all&" + b"x" * 20000).status == 413
    assert edge.get(unsubscribe, method="PUT", body=b"").status == 405
