"""The example brands' API keys are published: outside development mode they open nothing,
and the admin API says so at every start."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import aiohttp

from tests.admin.helpers import HARBOR_KEY, NORTHJOBS_KEY, AdminProcess, Api
from tracer.brands import Brands
from tracer.demo_keys import EXAMPLE_KEY_SHA256, is_demo_key


def test_every_key_of_the_example_file_is_known_as_a_demo_key(example_brands: Brands) -> None:
    listed = {key.sha256 for brand in example_brands for key in brand.api_keys}
    assert listed == EXAMPLE_KEY_SHA256
    assert all(is_demo_key(brand.id, key.sha256) for brand in example_brands
               for key in brand.api_keys)  # fmt: skip
    # demo-key-<id> of a brand the example gives no key is published all the same.
    assert is_demo_key("acme", hashlib.sha256(b"demo-key-acme").hexdigest())
    assert not is_demo_key("acme", hashlib.sha256(b"a-real-secret-key").hexdigest())


async def test_demo_keys_are_refused_outside_development_mode(
    start_admin: Callable[..., AdminProcess], redis_url: str
) -> None:
    admin = start_admin(redis_url, TRACER_DEV_MODE="0")
    async with aiohttp.ClientSession() as session:
        for key in (NORTHJOBS_KEY, HARBOR_KEY):
            status, body = await Api(session, admin.url, key).get("/v1/stats")
            assert (status, body["error"]) == (401, "unauthorized"), body
            assert "TRACER_DEV_MODE=1" in body["detail"]
    log = admin.log_text()
    assert "published demo keys and refused" in log and '"level":"error"' in log
    assert NORTHJOBS_KEY not in log


async def test_development_mode_accepts_them_and_says_so(
    start_admin: Callable[..., AdminProcess], redis_url: str
) -> None:
    admin = start_admin(redis_url, TRACER_DEV_MODE="1")
    async with aiohttp.ClientSession() as session:
        status, _ = await Api(session, admin.url, NORTHJOBS_KEY).get("/v1/stats")
    assert status == 200
    assert "Development mode (TRACER_DEV_MODE)" in admin.log_text()
