"""`/v1/revocations` over real HTTP: a brand revokes, lists and lifts its own rules; it
cannot lift an operator's, nor touch another brand's."""

from __future__ import annotations

import redis.asyncio as aioredis

from tests.admin.helpers import HARBOR_KEY, Api
from tracer import revocations


async def test_a_brand_revokes_lists_and_lifts_its_rules(api: Api, redis_url: str) -> None:
    status, body = await api.post(
        "/v1/revocations", {"destination_host": "Phish.Example.", "note": "leaked key"}
    )
    assert status == 201, body
    assert body["created"] is True
    rule = body["revocation"]
    assert (rule["kind"], rule["value"], rule["source"], rule["note"]) == (
        "destination_host",
        "phish.example",
        "api",
        "leaked key",
    )
    status, again = await api.post("/v1/revocations", {"destination_host": "phish.example"})
    assert (status, again["created"], again["revocation"]) == (200, False, rule)
    assert (await api.post("/v1/revocations", {"campaign": "spring"}))[0] == 201

    status, listed = await api.get("/v1/revocations")
    assert status == 200
    assert [(r["kind"], r["value"]) for r in listed["revocations"]] == [
        ("destination_host", "phish.example"),
        ("campaign", "spring"),
    ]
    # Another brand sees none of them.
    async with api.session.get(
        api.base_url + "/v1/revocations", headers={"Authorization": f"Bearer {HARBOR_KEY}"}
    ) as reply:
        assert (await reply.json())["revocations"] == []

    async with api.session.delete(
        api.base_url + "/v1/revocations",
        params={"destination_host": "PHISH.example"},
        headers={"Authorization": f"Bearer {api.key}"},
    ) as reply:
        assert reply.status == 200
        assert (await reply.json())["status"] == "lifted"
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert [r.value for r in await revocations.load(client, "northjobs")] == ["spring"]
    finally:
        await client.aclose()


async def test_an_operators_rule_cannot_be_lifted_with_the_brands_key(
    api: Api, redis_url: str
) -> None:
    """If the key leaked, whoever holds it must not undo the kill switch."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        await revocations.add(
            client, revocations.new_rule("northjobs", "campaign", "phish", source="cli")
        )
        async with api.session.delete(
            api.base_url + "/v1/revocations",
            params={"campaign": "phish"},
            headers={"Authorization": f"Bearer {api.key}"},
        ) as reply:
            body = await reply.json()
            assert (reply.status, body["error"]) == (403, "forbidden"), body
            assert "tracer revoke --undo" in body["detail"]
        assert len(await revocations.load(client, "northjobs")) == 1
    finally:
        await client.aclose()


async def test_bad_revocation_requests(api: Api) -> None:
    cases = [
        ({}, 422),
        ({"campaign": "a", "message_id": "b"}, 422),
        ({"destination_host": "evil\uff0f.example"}, 422),
        ({"campaign": ""}, 422),
        ({"campaign": "x", "brand": "harborcareers"}, 403),
    ]
    for request, expected in cases:
        status, body = await api.post("/v1/revocations", request)
        assert status == expected, (request, body)
    async with api.session.delete(
        api.base_url + "/v1/revocations",
        params={"campaign": "never-revoked"},
        headers={"Authorization": f"Bearer {api.key}"},
    ) as reply:
        assert reply.status == 404
