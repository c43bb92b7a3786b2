"""POST /v1/links: tracked links in bulk, email tokens and SMS short links."""

from __future__ import annotations

import redis.asyncio as aioredis

from tests.admin.helpers import Api, open_token
from tracer import slugs
from tracer.links import LinkBuilder


async def test_bulk_links_open_to_their_destinations(
    api: Api, builder: LinkBuilder, redis_url: str
) -> None:
    specs = [
        {
            "message_id": f"bulk-{n}",
            "url": f"https://northjobs.example/jobs/{n}",
            "recipient": f"person{n}@example.com",
            "campaign": "bulk",
            "job_source": "jooble",
            "link": n,
        }
        for n in range(300)
    ]
    specs[7]["channel"] = "sms"
    specs[8]["channel"] = "sms"

    status, body = await api.post("/v1/links", {"links": specs})

    assert status == 200, body
    assert body["brand"] == "northjobs"
    assert [link["index"] for link in body["links"]] == list(range(300))
    client = aioredis.Redis.from_url(redis_url)
    try:
        for spec, link in zip(specs, body["links"], strict=True):
            assert (link["message_id"], link["url"]) == (spec["message_id"], spec["url"])
            if spec.get("channel") == "sms":
                assert link["channel"] == "sms"
                slug = link["tracked_url"].removeprefix("https://t.northjobs.example/s/")
                payload = builder.codec.open(await slugs.resolve(client, slug))
            else:
                assert link["tracked_url"].startswith("https://t.northjobs.example/c/")
                payload = open_token(builder, link["tracked_url"])
            assert (payload.url, payload.message_id, payload.link) == (
                spec["url"],
                spec["message_id"],
                spec["link"],
            )
            assert payload.channel == spec.get("channel", "email")
            assert payload.recipient == builder.hasher.hash("northjobs", spec["recipient"])
    finally:
        await client.aclose()


async def test_ten_thousand_links_is_the_limit(api: Api) -> None:
    specs = [{"message_id": "m", "url": "https://northjobs.example/"}] * 10_001

    status, body = await api.post("/v1/links", {"links": specs})

    assert (status, body["error"], body["field"]) == (413, "too_large", "links")


async def test_a_bad_link_is_named_by_its_position_and_field(api: Api) -> None:
    specs = [{"message_id": "m", "url": "https://northjobs.example/"}] * 3
    specs = [*specs, {"message_id": "m", "url": "ftp://northjobs.example/"}]

    status, body = await api.post("/v1/links", {"links": specs})
    assert (status, body["field"]) == (422, "links[3].url"), body

    status, body = await api.post("/v1/links", {"links": [{"message_id": "m"}]})
    assert (status, body["field"]) == (422, "links[0].url"), body

    status, body = await api.post(
        "/v1/links", {"links": [{"url": "https://a.example/", "message_id": "m", "link": -1}]}
    )
    assert (status, body["field"]) == (422, "links[0].link"), body
