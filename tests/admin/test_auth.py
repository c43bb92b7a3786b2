"""API keys: no key or a wrong one is 401; a key only ever sees its own brand (403)."""

from __future__ import annotations

import pytest
import redis

from tests.admin.helpers import HARBOR_KEY, NORTHJOBS_KEY, AdminProcess, Api, queued

# Each endpoint, asked by North Jobs' key about Harbor Careers.
FOREIGN_REQUESTS = [
    (
        "POST",
        "/v1/messages",
        {"brand": "harborcareers", "recipient": "a@b.example", "html": "<p/>"},
    ),
    ("POST", "/v1/messages", {"brand": "harborcareers", "recipient": "a@b.example", "urls": []}),
    (
        "POST",
        "/v1/links",
        {"brand": "harborcareers", "links": [{"message_id": "m", "url": "https://a.example/"}]},
    ),
    ("POST", "/v1/conversions", {"brand": "harborcareers", "click_id": "c1"}),
    ("GET", "/v1/stats", {"brand": "harborcareers"}),
    ("GET", "/v1/suppressions", {"brand": "harborcareers"}),
    ("GET", "/v1/suppressions/check", {"brand": "harborcareers", "recipient": "a@b.example"}),
    # A brand that does not exist is refused the same way (brand ids cannot be probed).
    ("GET", "/v1/stats", {"brand": "no-such-brand"}),
]


async def _call(api: Api, method: str, path: str, payload: dict, **kwargs) -> tuple[int, dict]:
    if method == "POST":
        return await api.post(path, payload, **kwargs)
    return await api.get(path, payload, **kwargs)


@pytest.mark.parametrize(("method", "path", "payload"), FOREIGN_REQUESTS)
async def test_a_key_is_refused_another_brands_data(
    api: Api, redis_client: redis.Redis, method: str, path: str, payload: dict
) -> None:
    status, body = await _call(api, method, path, payload)

    assert status == 403, body
    assert (body["error"], body["field"]) == ("forbidden", "brand")
    assert queued(redis_client) == []


async def test_the_same_requests_pass_with_the_brands_own_key(api: Api) -> None:
    for method, path, payload in FOREIGN_REQUESTS[:-1]:
        status, body = await _call(api, method, path, payload, key=HARBOR_KEY)
        assert status in (200, 202), (path, body)
        assert body["brand"] == "harborcareers"


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic ZGVtbzpkZW1v", "Bearer wrong-key",
     f"Bearer {NORTHJOBS_KEY}x", f"Token {NORTHJOBS_KEY}"],
)  # fmt: skip
async def test_no_key_or_a_wrong_key_is_401(
    api: Api, redis_client: redis.Redis, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path, payload in [
        ("POST", "/v1/messages", {"recipient": "a@b.example", "urls": []}),
        ("POST", "/v1/links", {"links": []}),
        ("POST", "/v1/conversions", {"click_id": "c1"}),
    ]:
        async with api.session.request(
            method, api.base_url + path, json=payload, headers=headers
        ) as reply:
            body = await reply.json()
            assert reply.status == 401, body
            assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    for path in ("/v1/stats", "/v1/suppressions", "/v1/suppressions/check?recipient=x"):
        async with api.session.get(api.base_url + path, headers=headers) as reply:
            assert (reply.status, (await reply.json())["error"]) == (401, "unauthorized")
    assert queued(redis_client) == []


async def test_a_bad_key_is_401_before_the_body_is_read(api: Api) -> None:
    status, body = await api.post("/v1/messages", data=b"{not json", key="wrong")
    assert (status, body["error"]) == (401, "unauthorized")


async def test_the_scheme_is_case_insensitive(api: Api) -> None:
    async with api.session.get(
        api.base_url + "/v1/stats", headers={"Authorization": f"bearer {NORTHJOBS_KEY}"}
    ) as reply:
        assert reply.status == 200


async def test_keys_and_recipients_never_reach_the_log(api: Api, admin: AdminProcess) -> None:
    await api.get("/v1/suppressions/check", {"recipient": "secret.person@example.com"})
    await api.post("/v1/links", {"links": []}, key="a-guessed-key")

    log = admin.log_text()
    assert "/v1/suppressions/check" in log  # the access log has the request…
    assert NORTHJOBS_KEY not in log and "a-guessed-key" not in log  # …never a key
    assert "secret.person" not in log  # …nor the query string
