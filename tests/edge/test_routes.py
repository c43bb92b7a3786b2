"""Every public route of the edge, over real HTTP, with events checked in real Redis."""

from __future__ import annotations

import urllib.parse

import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.edge.helpers import EdgeProcess, fetch, wait_for_events
from tracer.keyring import KeyRing
from tracer.links import LinkBuilder
from tracer.privacy import RecipientHasher

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


def is_one_pixel_gif(body: bytes) -> bool:
    """GIF89a signature, a 1x1 logical screen, and the GIF trailer byte."""
    width, height = int.from_bytes(body[6:8], "little"), int.from_bytes(body[8:10], "little")
    return body[:6] == b"GIF89a" and (width, height) == (1, 1) and body.endswith(b";")


def test_click_redirects_with_utm_and_click_id_and_records_the_event(
    edge: EdgeProcess, builder: LinkBuilder, redis_client: redis.Redis, keyring: KeyRing
) -> None:
    url = builder.click(
        "northjobs",
        "msg-1",
        "https://northjobs.example/jobs/42?ref=mail#apply",
        recipient="Ana@Example.com",
        campaign="spring-2026",
        job_source="indeed",
        link=3,
    )
    reply = edge.get(url, headers={"User-Agent": CHROME})

    assert reply.status == 302
    location = urllib.parse.urlsplit(reply.location)
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        "northjobs.example",
        "/jobs/42",
    )
    assert location.fragment == "apply"
    query = dict(urllib.parse.parse_qsl(location.query))
    assert query["ref"] == "mail"
    assert query["utm_source"] == "northjobs"
    assert query["utm_medium"] == "email"
    assert query["utm_campaign"] == "spring-2026"
    assert query["utm_content"] == "indeed"
    assert reply.headers["cache-control"] == "no-store"

    (event,) = wait_for_events(redis_client, 1)
    assert event.type == "click"
    assert event.brand == "northjobs"
    assert event.message_id == "msg-1"
    assert event.campaign == "spring-2026"
    assert event.job_source == "indeed"
    assert event.link == 3
    assert event.url == "https://northjobs.example/jobs/42?ref=mail#apply"
    assert event.click_id == query["tclid"] == event.id
    assert event.method == "GET"
    assert event.ua == CHROME
    assert event.ip == "127.0.0.0"  # the brand keeps 24 bits of IPv4 addresses
    expected_hash = RecipientHasher(keyring.recipient_secret()).hash("northjobs", "ana@example.com")
    assert event.recipient == expected_hash
    assert "ana" not in event.recipient.lower()


def test_open_pixel_answers_the_gif_with_and_without_suffix(
    edge: EdgeProcess, builder: LinkBuilder, redis_client: redis.Redis
) -> None:
    header = builder.open("harborcareers", "m-7", recipient="x@y.example", position="header")
    footer = builder.open("harborcareers", "m-7", recipient="x@y.example", position="footer")
    assert header.endswith(".gif")

    first = edge.get(header, headers={"User-Agent": CHROME})
    second = edge.get(footer.removesuffix(".gif"), headers={"User-Agent": CHROME})

    for reply in (first, second):
        assert reply.status == 200
        assert reply.headers["content-type"] == "image/gif"
        assert reply.headers["cache-control"] == "no-store"
        assert len(reply.body) == 43
        assert is_one_pixel_gif(reply.body)
    found = wait_for_events(redis_client, 2)
    assert sorted((e.type, e.position, e.message_id) for e in found) == [
        ("open", "footer", "m-7"),
        ("open", "header", "m-7"),
    ]


def test_head_requests_are_answered_and_recorded_as_head(
    edge: EdgeProcess, builder: LinkBuilder, redis_client: redis.Redis
) -> None:
    click = builder.click("northjobs", "m-h", "https://northjobs.example/jobs/1")
    pixel = builder.open("northjobs", "m-h")

    click_reply = edge.get(click, method="HEAD", headers={"User-Agent": CHROME})
    pixel_reply = edge.get(pixel, method="HEAD", headers={"User-Agent": CHROME})

    assert click_reply.status == 302 and click_reply.location.startswith(
        "https://northjobs.example/"
    )
    assert pixel_reply.status == 200 and pixel_reply.body == b""
    assert pixel_reply.headers["content-length"] == "43"
    found = wait_for_events(redis_client, 2)
    assert {e.method for e in found} == {"HEAD"}
    assert all("head" in e.reasons for e in found)
    assert all(e.bot for e in found)


def test_unsubscribe_page_does_not_unsubscribe_but_post_does(
    edge: EdgeProcess, builder: LinkBuilder, redis_client: redis.Redis
) -> None:
    url = builder.unsubscribe(
        "northjobs", "m-u", recipient="jane.doe@example.com", list_id="newsletter"
    )

    page = edge.get(url, headers={"User-Agent": CHROME})

    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.body.decode()
    assert "j•••@example.com" in html
    assert "jane.doe" not in html
    assert '<form method="post">' in html
    assert "Career tips newsletter" in html
    (view,) = wait_for_events(redis_client, 1)
    assert view.type == "unsubscribe_view"

    done = edge.get(
        url,
        method="POST",
        body=b"scope=all",
        headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": CHROME},
    )

    assert done.status == 200
    assert "You are unsubscribed" in done.body.decode()
    found = wait_for_events(redis_client, 2)
    (unsubscribe,) = [e for e in found if e.type == "unsubscribe"]
    assert unsubscribe.list_id == ""  # the reader chose every marketing email
    assert unsubscribe.recipient == view.recipient != ""


def test_rfc8058_one_click_post_unsubscribes_from_the_links_scope(
    edge: EdgeProcess, builder: LinkBuilder, redis_client: redis.Redis
) -> None:
    url = builder.unsubscribe(
        "northjobs", "m-1c", recipient="a@example.com", list_id="partner-offers"
    )

    reply = edge.get(
        url,
        method="POST",
        body=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert reply.status == 200
    (event,) = wait_for_events(redis_client, 1)
    assert (event.type, event.list_id, event.message_id) == (
        "unsubscribe",
        "partner-offers",
        "m-1c",
    )


def test_a_post_that_asks_for_nothing_changes_nothing(
    edge: EdgeProcess, builder: LinkBuilder, redis_client: redis.Redis
) -> None:
    url = builder.unsubscribe("northjobs", "m-empty", recipient="a@example.com")

    reply = edge.get(url, method="POST", body=b"")

    assert reply.status == 400
    assert wait_for_events(redis_client, 1, timeout_s=0.5) == []


def test_health_readiness_and_metrics(
    edge: EdgeProcess, builder: LinkBuilder, redis_client: redis.Redis
) -> None:
    for n in range(5):
        edge.get(
            builder.click("metrohire", f"m-{n}", "https://metrohire.example/j"),
            headers={"User-Agent": CHROME},
        )
    edge.get("/c/not.a.token", host="t.metrohire.example")
    wait_for_events(redis_client, 5)

    assert fetch(edge.port, "/healthz", "anything").status == 200
    assert fetch(edge.port, "/readyz", "anything").status == 200
    metrics = fetch(edge.metrics_port, "/metrics", "anything")
    # Never on the public port: it names every brand and its traffic.
    assert fetch(edge.port, "/metrics", "anything").status == 404

    assert metrics.status == 200
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics.body.decode())
        for sample in family.samples
    }
    clicks = sum(
        value
        for (name, labels), value in samples.items()
        if name == "tracer_edge_requests_total"
        and dict(labels).get("route") == "click"
        and dict(labels).get("brand") == "metrohire"
    )
    assert clicks == 5
    assert samples[("tracer_edge_rejected_total", (("reason", "bad_encoding"),))] == 1
    assert samples[("tracer_edge_request_duration_seconds_count", (("route", "click"),))] == 5
    # The edge process's own CPU and memory, summed over its workers.
    assert samples[("process_cpu_seconds_total", ())] > 0
    assert samples[("process_resident_memory_bytes", ())] > 10_000_000
