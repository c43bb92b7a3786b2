"""POST /v1/messages: an email or SMS in, its tracked form out, and a `sent` event queued."""

from __future__ import annotations

import time

import redis
import redis.asyncio as aioredis

from tests.admin.helpers import DATA, Api, open_token, queued
from tracer import slugs
from tracer.links import LinkBuilder, normalize_destination
from tracer.rewrite import ONE_CLICK
from tracer.tokens import CLICK, OPEN, UNSUBSCRIBE

RECIPIENT = "Jamie.Doe@Example.com"


async def test_an_email_is_rewritten_and_its_links_open_to_the_originals(
    api: Api, builder: LinkBuilder, redis_client: redis.Redis
) -> None:
    html = (DATA / "job_alert.html").read_text(encoding="utf-8")
    text = (DATA / "job_alert.txt").read_text(encoding="utf-8")
    before = time.time()

    status, body = await api.post(
        "/v1/messages",
        {
            "brand": "northjobs",
            "channel": "email",
            "message_id": "wk-2024-42-000123",
            "recipient": RECIPIENT,
            "campaign": "weekly-matches",
            "job_source": "indeed",
            "list_id": "newsletter",
            "html": html,
            "text": text,
        },
    )

    assert status == 200, body
    assert body["message_id"] == "wk-2024-42-000123"
    assert len(body["links"]) > 20
    hashed = builder.hasher.hash("northjobs", RECIPIENT)
    for index, link in enumerate(body["links"], start=1):
        assert link["index"] == index
        assert link["tracked_url"] in body["html"] or link["tracked_url"] in body["text"]
        payload = open_token(builder, link["tracked_url"])
        assert (payload.kind, payload.brand, payload.message_id) == (
            CLICK,
            "northjobs",
            "wk-2024-42-000123",
        )
        assert payload.url == normalize_destination(link["url"])
        assert (payload.link, payload.campaign, payload.job_source) == (
            index,
            "weekly-matches",
            "indeed",
        )
        assert payload.recipient == hashed
    # The text part's links are tracked too.
    assert "https://northjobs.example/app?from=text-only" not in body["text"]
    assert {skip["reason"] for skip in body["skipped"]} >= {"data-notrack", "relative URL"}

    headers = body["headers"]
    assert headers["List-Unsubscribe-Post"] == ONE_CLICK
    assert headers["List-Unsubscribe"] == f"<{body['unsubscribe_url']}>"
    unsubscribe = open_token(builder, body["unsubscribe_url"])
    assert (unsubscribe.kind, unsubscribe.list_id, unsubscribe.recipient) == (
        UNSUBSCRIBE,
        "newsletter",
        hashed,
    )
    for position in ("header", "footer"):
        pixel_url = body["open_urls"][position]
        assert pixel_url in body["html"]
        pixel = open_token(builder, pixel_url)
        assert (pixel.kind, pixel.position) == (OPEN, position)
    assert open_token(builder, body["canary_url"]).canary

    (event,) = queued(redis_client)
    assert event.id == body["sent_event_id"]
    assert (event.type, event.brand, event.channel, event.message_id) == (
        "sent",
        "northjobs",
        "email",
        "wk-2024-42-000123",
    )
    assert (event.campaign, event.job_source, event.recipient) == (
        "weekly-matches",
        "indeed",
        hashed,
    )
    assert (event.agent, event.bot) == ("human", False)
    assert before <= event.ts <= time.time()


async def test_an_email_given_as_urls_gets_links_pixels_and_headers(
    api: Api, builder: LinkBuilder, redis_client: redis.Redis
) -> None:
    urls = ["https://northjobs.example/jobs/1", "https://northjobs.example/jobs/2?x=ü"]

    status, body = await api.post(
        "/v1/messages", {"recipient": RECIPIENT, "message_id": "m-urls", "urls": urls}
    )

    assert status == 200, body
    # The answer names what each link carries: the second URL percent-encoded.
    assert [link["url"] for link in body["links"]] == [
        "https://northjobs.example/jobs/1",
        "https://northjobs.example/jobs/2?x=%C3%BC",
    ]
    assert [link["index"] for link in body["links"]] == [1, 2]
    assert [open_token(builder, link["tracked_url"]).url for link in body["links"]] == [
        normalize_destination(url) for url in urls
    ]
    assert body["html"] is None and body["text"] is None
    assert body["headers"]["List-Unsubscribe"] == f"<{body['unsubscribe_url']}>"
    assert open_token(builder, body["open_urls"]["footer"]).position == "footer"
    assert [event.type for event in queued(redis_client)] == ["sent"]


async def test_an_sms_gets_short_links_that_resolve_to_sms_click_tokens(
    api: Api, builder: LinkBuilder, redis_client: redis.Redis, redis_url: str
) -> None:
    urls = ["https://northjobs.example/jobs/7", "https://northjobs.example/jobs/8"]

    status, body = await api.post(
        "/v1/messages",
        {
            "channel": "sms",
            "recipient": "+44 7700 900123",
            "campaign": "sms-blast",
            "job_source": "sms",
            "urls": urls,
        },
    )

    assert status == 200, body
    assert body["message_id"].startswith("m-")  # generated
    assert body["headers"] is None and body["open_urls"] is None
    client = aioredis.Redis.from_url(redis_url)
    try:
        short = [link["tracked_url"].rsplit("/", 1)[1] for link in body["links"]]
        tokens = [await slugs.resolve(client, slug) for slug in short]
    finally:
        await client.aclose()
    for index, (link, url, token) in enumerate(zip(body["links"], urls, tokens, strict=True), 1):
        prefix, slug = link["tracked_url"].rsplit("/", 1)
        assert prefix == "https://t.northjobs.example/s"
        assert slugs.is_slug(slug)
        assert token is not None
        payload = builder.codec.open(token)
        assert (payload.url, payload.channel, payload.link) == (url, "sms", index)
        assert payload.message_id == body["message_id"]
        assert payload.recipient == builder.hasher.hash("northjobs", "+447700900123")
    (event,) = queued(redis_client)
    assert (event.type, event.channel, event.message_id) == ("sent", "sms", body["message_id"])


async def test_a_bad_url_is_named_by_its_position(api: Api, redis_client: redis.Redis) -> None:
    status, body = await api.post(
        "/v1/messages",
        {
            "recipient": RECIPIENT,
            "urls": [
                "https://a.example/",
                "https://b.example/",
                "https://c.example/",
                "javascript:x",
            ],
        },
    )

    assert status == 422
    assert body == {
        "error": "invalid",
        "field": "urls[3]",
        "detail": "'javascript:x' is not an absolute http(s) URL",
    }
    assert queued(redis_client) == []  # nothing sent, nothing recorded


async def test_what_a_message_must_give_is_checked_field_by_field(api: Api) -> None:
    cases = [
        ({"recipient": RECIPIENT}, "html"),
        ({"recipient": RECIPIENT, "html": "<p>x</p>", "urls": []}, "urls"),
        ({"recipient": RECIPIENT, "text": "x", "urls": []}, "text"),
        ({"recipient": RECIPIENT, "channel": "sms", "html": "<p>x</p>"}, "html"),
        ({"recipient": RECIPIENT, "html": "<p/>", "list_id": "no-such-list"}, "list_id"),
        ({"recipient": "   ", "html": "<p/>"}, "recipient"),
        ({"recipient": RECIPIENT, "html": "<p/>", "channel": "fax"}, "channel"),
        ({"recipient": RECIPIENT, "html": "<p/>", "message_id": ""}, "message_id"),
        ({"recipient": RECIPIENT, "html": "<p/>", "campaign": "x" * 201}, "campaign"),
        ({"recipient": RECIPIENT, "urls": ["https://a.example/", 3]}, "urls[1]"),
        ({"html": "<p/>"}, "recipient"),
        ({"recipient": RECIPIENT, "html": "<p/>", "jobsource": "typo"}, "jobsource"),
    ]
    for request, field in cases:
        status, body = await api.post("/v1/messages", request)
        assert (status, body.get("field")) == (422, field), (request, body)
        assert body["error"] == "invalid" and body["detail"]


async def test_too_many_urls_is_413(api: Api) -> None:
    urls = [f"https://northjobs.example/jobs/{n}" for n in range(1001)]

    status, body = await api.post("/v1/messages", {"recipient": RECIPIENT, "urls": urls})

    assert (status, body["error"], body["field"]) == (413, "too_large", "urls")
