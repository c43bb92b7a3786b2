"""The SSRF guard refuses private targets at connect time unless `allow_private` is set."""

from __future__ import annotations

import asyncio

import pytest

from dispatcher import dead_letters
from dispatcher.ssrf import forbidden_reason
from tests.dispatcher.helpers import jobs_for, make_brands, new_secret, push


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata endpoint
        ("fe80::1", "link-local"),
        ("::ffff:127.0.0.1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "not global"),
        ("224.0.0.1", "multicast"),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_forbidden_reason(address, reason):
    assert forbidden_reason(address) == reason


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_private_target_refused_without_opt_in(
    host, redis_client, receivers, make_dispatcher
):
    secret = new_secret()
    receiver = await receivers(secret).start()
    url = receiver.url.replace("127.0.0.1", host)
    brands = make_brands({"url": url, "secret": secret})
    push(redis_client, jobs_for(brands, 3))

    await asyncio.wait_for(make_dispatcher(brands).run(), 30)

    assert receiver.requests == []
    letters = dead_letters.read(redis_client, "acme")
    assert [letter.reason for _, letter in letters] == ["refused"] * 3
    assert "SSRF guard" in letters[0][1].job.last_error


async def test_private_target_allowed_with_opt_in(redis_client, receivers, make_dispatcher):
    secret = new_secret()
    receiver = await receivers(secret).start()
    url = receiver.url.replace("127.0.0.1", "localhost")
    brands = make_brands({"url": url, "secret": secret, "allow_private": True})
    jobs = jobs_for(brands, 3)
    push(redis_client, jobs)

    await asyncio.wait_for(make_dispatcher(brands).run(), 30)

    assert receiver.delivered_event_ids() == {job.event.id for job in jobs}
