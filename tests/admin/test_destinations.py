"""Destinations through the admin API: hosts as a browser maps them, the URL each link
really carries in the answer, and rewriting that neither stalls the server nor runs on."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable

import aiohttp
import pytest

from tests.admin.helpers import HARBOR_KEY, AdminProcess, Api, open_token
from tracer.links import LinkBuilder

# Each becomes another host under the old IDNA 2003 mapping (no STD3 rules): a full-width
# solidus or commercial at turns into '/' or '@' and moves the host to evil.example.
HOST_MOVERS = [
    "https://evil.example\uff0f.alpha.example/jobs/1",
    "https://jobs.alpha.example\uff20evil.example/",
    "https://evil.example\uff03.alpha.example/",
    "https://evil.example\uff1f.alpha.example/",
    "https://evil.example\u2024alpha.example/",  # ONE DOT LEADER: disallowed under STD3
]


@pytest.mark.parametrize("url", HOST_MOVERS)
async def test_a_host_that_maps_to_a_separator_is_refused(api: Api, url: str) -> None:
    status, body = await api.post("/v1/links", {"links": [{"message_id": "m", "url": url}]})

    assert (status, body["field"]) == (422, "links[0].url"), body
    assert "invalid host name" in body["detail"]


async def test_the_answer_names_the_destination_the_link_carries(
    api: Api, builder: LinkBuilder
) -> None:
    given = [
        "https://Bücher.example/jobs/1",
        "https://ü@jobs.example:0443/a b",
        "https://jobs.example\\@evil.example/",
        "HTTPS://jobs.example?next=@evil.example",
    ]
    links = [{"message_id": "m", "url": url} for url in given]

    status, body = await api.post("/v1/links", {"links": links})

    assert status == 200, body
    carried = [open_token(builder, link["tracked_url"]).url for link in body["links"]]
    assert (
        [link["url"] for link in body["links"]]
        == carried
        == [
            "https://xn--bcher-kva.example/jobs/1",
            "https://%C3%BC@jobs.example:443/a%20b",
            # A browser ends the host at the backslash, so the link goes to jobs.example.
            "https://jobs.example/@evil.example/",
            "https://jobs.example?next=@evil.example",
        ]
    )


async def test_an_email_whose_html_moves_a_host_leaves_that_link_untracked(api: Api) -> None:
    html = (
        '<a href="https://evil.example&#xFF0F;.alpha.example/jobs/1">A</a>'
        '<a href="https://b&#xFC;cher.example/jobs/2">B</a>'
    )

    status, body = await api.post(
        "/v1/messages", {"recipient": "a@b.example", "message_id": "m-idna", "html": html}
    )

    assert status == 200, body
    assert [link["url"] for link in body["links"]] == ["https://xn--bcher-kva.example/jobs/2"]
    assert [skip["url"] for skip in body["skipped"]] == [
        "https://evil.example\uff0f.alpha.example/jobs/1"
    ]
    assert "evil.example/" not in body["html"]


async def test_a_text_url_followed_by_a_flood_of_brackets_is_left_alone(api: Api) -> None:
    """120,000 closing brackets after a URL: the quadratic trimming took 9 s on this."""
    text = "see https://a.example/" + ")" * 120_000
    html = '<p><a href="https://a.example/jobs/1">job</a></p>'

    status, body = await api.post(
        "/v1/messages",
        {"recipient": "a@b.example", "message_id": "m-flood", "html": html, "text": text},
    )

    assert status == 200, body
    assert body["text"] == text
    assert [skip["reason"] for skip in body["skipped"]] == ["longer than 4096 characters"]


def _many_links(count: int) -> str:
    return "".join(f'<a href="https://jobs.example/{n}">{n}</a>\n' for n in range(count))


async def test_a_message_over_the_time_budget_gets_413(
    start_admin: Callable[..., AdminProcess], redis_url: str
) -> None:
    admin = start_admin(redis_url, TRACER_REWRITE_BUDGET_S="0.001")
    async with aiohttp.ClientSession() as session:
        api = Api(session, admin.url, HARBOR_KEY)
        status, body = await api.post(
            "/v1/messages",
            {"recipient": "a@b.example", "message_id": "m-big", "html": _many_links(5000)},
        )
        assert (status, body["error"], body["field"]) == (413, "too_large", "html"), body
        assert "longer than 0.001s to rewrite" in body["detail"]
        # The server is fine afterwards: a small message goes through.
        status, body = await api.post(
            "/v1/messages",
            {"recipient": "a@b.example", "message_id": "m-small", "urls": ["https://a.example/"]},
        )
        assert status == 200, body


async def test_another_brand_is_answered_while_a_large_message_is_rewritten(
    start_admin: Callable[..., AdminProcess], redis_url: str
) -> None:
    """1. Harbor Careers sends a message with 100,000 links (seconds of rewriting).
    2. While it is rewritten, North Jobs asks for its stats.
    Result: North Jobs is answered long before the message is done (on the event loop,
    the rewrite held both answers until it was over)."""
    admin = start_admin(redis_url, TRACER_REWRITE_BUDGET_S="120")
    finished: dict[str, float] = {}
    async with aiohttp.ClientSession() as session:
        harbor = Api(session, admin.url, HARBOR_KEY)
        north = Api(session, admin.url, "demo-key-northjobs")
        assert (await north.get("/v1/stats"))[0] == 200  # the store is open

        message = {
            "recipient": "a@b.example",
            "message_id": "m-large",
            "html": _many_links(100_000),
        }
        body = io.BytesIO(json.dumps(message).encode())

        async def large_message() -> int:
            status, _ = await harbor.post(
                "/v1/messages", data=body, headers={"Content-Type": "application/json"}
            )
            finished["large message"] = time.monotonic() - started
            return status

        async def stats() -> int:
            await asyncio.sleep(0.3)  # the large message is being rewritten by then
            status, _ = await north.get("/v1/stats")
            finished["stats"] = time.monotonic() - started
            return status

        started = time.monotonic()
        assert await asyncio.gather(large_message(), stats()) == [200, 200]
    assert finished["stats"] < finished["large message"] / 2, finished
