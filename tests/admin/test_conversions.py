"""POST /v1/conversions: a click id and a value become a queued `conversion` event."""

from __future__ import annotations

import redis

from tests.admin.helpers import Api, queued


async def test_a_conversion_is_queued_for_the_keys_brand(
    api: Api, redis_client: redis.Redis
) -> None:
    status, body = await api.post(
        "/v1/conversions",
        {"click_id": "0192b3c4d5e6a1b2c3d4001", "value": 42.5, "attrs": {"job": "1037"}},
    )

    assert status == 202, body
    assert body["status"] == "accepted"
    (event,) = queued(redis_client)
    assert event.id == body["id"]
    assert (event.type, event.brand, event.click_id) == (
        "conversion",
        "northjobs",
        "0192b3c4d5e6a1b2c3d4001",
    )
    assert (event.value, event.currency, event.attrs) == (42.5, "USD", {"job": "1037"})


async def test_the_currency_defaults_to_the_brands(api: Api, redis_client: redis.Redis) -> None:
    # Prairie Work counts in EUR; North Jobs in USD but may report another currency.
    status, _ = await api.post("/v1/conversions", {"click_id": "c1"}, key="demo-key-prairiework")
    assert status == 202
    status, _ = await api.post("/v1/conversions", {"click_id": "c2", "currency": "NOK"})
    assert status == 202

    events = sorted(queued(redis_client), key=lambda event: event.click_id)
    assert [(e.brand, e.click_id, e.value, e.currency) for e in events] == [
        ("prairiework", "c1", 0.0, "EUR"),
        ("northjobs", "c2", 0.0, "NOK"),
    ]


async def test_conversion_fields_are_validated(api: Api, redis_client: redis.Redis) -> None:
    cases = [
        ({}, "click_id"),
        ({"click_id": ""}, "click_id"),
        ({"click_id": "a b"}, "click_id"),
        ({"click_id": "c", "value": "12"}, "value"),
        ({"click_id": "c", "value": 1e13}, "value"),
        ({"click_id": "c", "value": -1}, "value"),  # refunds are no conversions
        ({"click_id": "c", "value": -0.01}, "value"),
        ({"click_id": "c", "currency": "usd"}, "currency"),
        ({"click_id": "c", "attrs": {"job": 3}}, "attrs[...]"),
    ]
    for request, field in cases:
        status, body = await api.post("/v1/conversions", request)
        assert (status, body.get("field")) == (422, field), (request, body)
    assert queued(redis_client) == []
