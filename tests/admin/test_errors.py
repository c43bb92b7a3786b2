"""Every error is JSON with the right status: 400, 404, 405, 413, 422, 503."""

from __future__ import annotations

import io
from collections.abc import Callable

import aiohttp

from tests.admin.helpers import NORTHJOBS_KEY, AdminProcess, Api
from tracer.redis_server import RedisServer, free_port


async def test_a_body_that_is_not_json_is_400(api: Api) -> None:
    for data in (b"", b"{", b"{'single': 'quotes'}", b"\xff\xfe", b'{"recipient": "\\ud800"}'):
        status, body = await api.post("/v1/messages", data=data)
        assert (status, body["error"]) == (400, "malformed"), (data, body)
        assert "JSON" in body["detail"]


async def test_a_body_of_the_wrong_shape_is_422_naming_it(api: Api) -> None:
    for data, field in [(b"[]", "body"), (b"42", "body"), (b'{"links": {}}', "links")]:
        status, body = await api.post("/v1/links", data=data)
        assert (status, body["field"]) == (422, field), body


async def test_a_body_over_16_mib_is_413(api: Api) -> None:
    big = b'{"recipient": "a@b.example", "html": "' + b"x" * (16 * 1024 * 1024) + b'"}'

    status, body = await api.post("/v1/messages", data=io.BytesIO(big))

    assert (status, body["error"]) == (413, "too_large")


async def test_unknown_paths_and_methods_answer_json(api: Api) -> None:
    status, body = await api.get("/v2/anything")
    assert (status, body["error"]) == (404, "not_found")
    status, body = await api.get("/v1/messages")
    assert (status, body["error"]) == (405, "method_not_allowed")


async def test_query_parameters_are_validated(api: Api) -> None:
    cases = [
        ("/v1/suppressions", {"limit": "0"}, "limit"),
        ("/v1/suppressions", {"limit": "many"}, "limit"),
        ("/v1/suppressions", {"offset": "-1"}, "offset"),
        ("/v1/stats", {"since": "2024-13-01"}, "since"),
        ("/v1/stats", {"since": "2024-05-02", "until": "2024-05-01"}, "until"),
        ("/v1/stats", {"by": "browser"}, "by"),
        ("/v1/suppressions/check", {}, "recipient"),
        ("/v1/suppressions/check", {"recipient": " "}, "recipient"),
        ("/v1/suppressions/check", {"recipient": "a@b.example", "list_id": "nope"}, "list_id"),
    ]
    for path, params, field in cases:
        status, body = await api.get(path, params)
        assert (status, body.get("field")) == (422, field), (path, params, body)


async def test_redis_down_is_503_and_nothing_is_accepted(
    start_admin: Callable[..., AdminProcess],
) -> None:
    # 1. The admin starts although nothing listens at its REDIS_URL.
    admin = start_admin(f"redis://127.0.0.1:{free_port()}/0")
    async with aiohttp.ClientSession() as session:
        api = Api(session, admin.url, NORTHJOBS_KEY)
        # 2. Everything that must reach Redis answers 503, with Retry-After.
        url = "https://a.example/"
        for path, payload in [
            ("/v1/messages", {"recipient": "a@b.example", "urls": [url]}),
            ("/v1/messages", {"recipient": "+15550100", "channel": "sms", "urls": [url]}),
            ("/v1/links", {"links": [{"message_id": "m", "url": url, "channel": "sms"}]}),
            ("/v1/conversions", {"click_id": "c1"}),
        ]:
            async with session.post(
                admin.url + path, json=payload, headers={"Authorization": f"Bearer {NORTHJOBS_KEY}"}
            ) as reply:
                assert reply.status == 503, await reply.text()
                assert reply.headers["Retry-After"] == "1"
                assert (await reply.json())["error"] == "unavailable"
        # 3. What needs no Redis still works; readiness says what is down.
        status, body = await api.post(
            "/v1/links", {"links": [{"message_id": "m", "url": "https://a.example/"}]}
        )
        assert status == 200, body
        status, body = await api.get("/readyz")
        assert (status, body) == (503, {"status": "unavailable", "redis": "down", "store": "ok"})
    assert "Traceback" not in admin.log_text()


async def test_redis_back_after_an_outage_is_used_again(
    start_admin: Callable[..., AdminProcess], tmp_path
) -> None:
    server = RedisServer(tmp_path / "redis", persistent=False).start()
    try:
        admin = start_admin(server.url)
        async with aiohttp.ClientSession() as session:
            api = Api(session, admin.url, NORTHJOBS_KEY)
            assert (await api.post("/v1/conversions", {"click_id": "c1"}))[0] == 202
            server.stop()
            assert (await api.post("/v1/conversions", {"click_id": "c2"}))[0] == 503
            server.start()
            assert (await api.post("/v1/conversions", {"click_id": "c3"}))[0] == 202
    finally:
        server.stop()


async def test_an_unreachable_store_is_503_for_reads_only(
    start_admin: Callable[..., AdminProcess], redis_url: str
) -> None:
    mongo = f"mongodb://127.0.0.1:{free_port()}/tracer?serverSelectionTimeoutMS=200&connectTimeoutMS=200"
    admin = start_admin(redis_url, MONGODB_URL=mongo)
    async with aiohttp.ClientSession() as session:
        api = Api(session, admin.url, NORTHJOBS_KEY)
        for path in (
            "/v1/stats",
            "/v1/suppressions",
            "/v1/suppressions/check?recipient=a@b.example",
        ):
            status, body = await api.get(path)
            assert (status, body["error"]) == (503, "unavailable"), body
        status, _ = await api.post("/v1/conversions", {"click_id": "c1"})
        assert status == 202
    assert "Traceback" not in admin.log_text()
