"""The whole loop through the real pipeline: the API builds a message, the edge serves its
links, the job board reports a conversion, the batcher stores everything, and the API
reads it back (stats, suppressions). Once on SQLite, once on MongoDB (mongoeco)."""

from __future__ import annotations

import datetime as dt
import os
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import redis

from tests.admin.helpers import (
    HARBOR_KEY,
    NORTHJOBS_KEY,
    SHARDS,
    AdminProcess,
    Api,
    queued,
    store_queued_events,
)
from tests.edge.helpers import EdgeProcess, wait_for_events
from tests.store.backends import drop_database, with_database
from tests.support import EXAMPLE_BRANDS
from tracer.brands import Brands
from tracer.links import LinkBuilder
from tracer.redis_server import RedisServer, free_port

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@dataclass
class Backend:
    admin: AdminProcess
    data_dir: Path
    mongodb_url: str | None


@pytest.fixture(scope="module")
def edge(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, admin_keyring_file: Path
) -> Iterator[EdgeProcess]:
    """The real edge (granian), with the admin servers' key ring and Redis."""
    directory = tmp_path_factory.mktemp("edge")
    env = {
        "PATH": os.environ["PATH"],
        "TRACER_CONFIG": str(EXAMPLE_BRANDS),
        "TRACER_KEYS": str(admin_keyring_file),
        "TRACER_DATA_DIR": str(directory / "var"),
        "TRACER_EDGE_PORT": str(free_port()),
        "TRACER_QUEUE_SHARDS": str(SHARDS),
        "REDIS_URL": redis_server.url,
    }
    edge = EdgeProcess(port=int(env["TRACER_EDGE_PORT"]), env=env, log_path=directory / "edge.log")
    edge.start()
    yield edge
    edge.stop()


@pytest.fixture(params=["sqlite", "mongo"])
def backend(
    request: pytest.FixtureRequest,
    admin: AdminProcess,
    admin_data_dir: Path,
    start_admin: Callable[..., AdminProcess],
    redis_url: str,
    tmp_path: Path,
) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend(admin, admin_data_dir, None)
        return
    base_url = request.getfixturevalue("mongo_base_url")
    database = f"tracer_admin_{uuid.uuid4().hex[:12]}"
    url = with_database(base_url, database)
    yield Backend(start_admin(redis_url, MONGODB_URL=url), tmp_path / "batcher-var", url)
    drop_database(base_url, database)


@pytest.fixture
async def backend_api(backend: Backend) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, backend.admin.url, NORTHJOBS_KEY)


async def test_sent_clicked_converted_unsubscribed_all_come_back_through_the_api(
    backend: Backend,
    backend_api: Api,
    edge: EdgeProcess,
    redis_client: redis.Redis,
    redis_url: str,
    example_brands: Brands,
    builder: LinkBuilder,
) -> None:
    api = backend_api
    campaign = f"flow-{uuid.uuid4().hex[:8]}"
    recipient = f"{campaign}@example.com"

    async def store_queue(expected: int) -> None:
        assert len(wait_for_events(redis_client, expected)) == expected
        await store_queued_events(redis_url, example_brands, backend.data_dir, backend.mongodb_url)
        assert queued(redis_client) == []

    # 1. The sending platform turns a message into its tracked form: a `sent` event.
    status, message = await api.post(
        "/v1/messages",
        {
            "recipient": recipient,
            "campaign": campaign,
            "job_source": "indeed",
            "urls": ["https://northjobs.example/jobs/1037", "https://northjobs.example/jobs/1074"],
        },
    )
    assert status == 200, message

    # 2. The recipient opens it and clicks a link; the redirect carries a click id.
    pixel = edge.get(message["open_urls"]["footer"], headers={"User-Agent": BROWSER})
    assert pixel.status == 200
    click = edge.get(message["links"][0]["tracked_url"], headers={"User-Agent": BROWSER})
    assert click.status == 302
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(click.location).query)
    (click_id,) = query["tclid"]
    await store_queue(3)

    # 3. Days later the job board reports the application; the recipient unsubscribes.
    status, accepted = await api.post(
        "/v1/conversions", {"click_id": click_id, "value": 30, "attrs": {"application": "a-1"}}
    )
    assert status == 202, accepted
    unsubscribe = edge.get(
        message["unsubscribe_url"],
        method="POST",
        body=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert unsubscribe.status == 200
    await store_queue(2)

    # 4. The stats of the campaign count all of it; the conversion was attributed to the
    #    campaign through its click id.
    status, stats = await api.get("/v1/stats", {"campaign": campaign})
    assert status == 200, stats
    counts = {name: entry["all"] for name, entry in stats["types"].items()}
    assert counts == {
        "sent": 1,
        "open": 1,
        "click": 1,
        "unsubscribe_view": 0,
        "unsubscribe": 1,
        "conversion": 1,
        "revoked_click": 0,
    }
    assert stats["types"]["conversion"]["value"] == 30
    assert stats["conversion_value"] == 30
    assert stats["types"]["click"]["unique_all"] == 1
    today = dt.datetime.now(dt.UTC).date()
    status, same = await api.get(
        "/v1/stats",
        {"campaign": campaign, "job_source": "indeed", "since": str(today), "until": str(today)},
    )
    assert same["types"] == stats["types"]
    status, later = await api.get(
        "/v1/stats", {"campaign": campaign, "since": str(today + dt.timedelta(days=1))}
    )
    assert all(entry["all"] == 0 for entry in later["types"].values())
    status, everything = await api.get("/v1/stats")
    assert everything["types"]["conversion"]["all"] >= 1
    assert everything["suppressions"] >= 1
    assert (everything["by"], everything["breakdown"]) == (None, None)

    # 4b. Who read it: the batcher derived the client and device from the user agent.
    status, by_client = await api.get("/v1/stats", {"campaign": campaign, "by": "client"})
    assert status == 200, by_client
    assert by_client["by"] == "client"
    assert by_client["types"] == stats["types"]
    chrome = next(entry for entry in by_client["breakdown"] if entry["value"] == "Chrome")
    assert chrome["open"] == {"all": 1, "human": 1}
    # Clicked right after sending: a scanner's timing, so not counted as a person's.
    assert chrome["click"] == {"all": 1, "human": stats["types"]["click"]["human"]}
    status, by_device = await api.get("/v1/stats", {"campaign": campaign, "by": "device"})
    desktop = next(entry for entry in by_device["breakdown"] if entry["value"] == "desktop")
    assert (desktop["open"]["all"], desktop["click"]["all"]) == (1, 1)
    status, none_yet = await api.get(
        "/v1/stats", {"campaign": campaign, "by": "os", "since": str(today + dt.timedelta(1))}
    )
    assert none_yet["breakdown"] == []

    # 5. The recipient is suppressed, under their keyed hash, for all marketing.
    hashed = builder.hasher.hash("northjobs", recipient)
    status, page = await api.get("/v1/suppressions", {"limit": "1000"})
    assert status == 200
    (item,) = [item for item in page["items"] if item["recipient"] == hashed]
    assert item["scope"] == ""
    status, check = await api.get("/v1/suppressions/check", {"recipient": recipient.upper()})
    assert (check["recipient"], check["suppressed"], check["scopes"]) == (hashed, True, [""])
    status, check = await api.get(
        "/v1/suppressions/check", {"recipient": "someone.else@example.com", "list_id": "newsletter"}
    )
    assert (check["suppressed"], check["scopes"]) == (False, [])

    # 6. Another brand sees none of it.
    status, theirs = await api.get("/v1/suppressions", key=HARBOR_KEY)
    assert status == 200
    assert hashed not in {item["recipient"] for item in theirs["items"]}
    status, check = await api.get(
        "/v1/suppressions/check", {"recipient": recipient}, key=HARBOR_KEY
    )
    assert check["suppressed"] is False


async def test_suppressions_are_paged_and_filtered_by_scope(
    api: Api,
    edge: EdgeProcess,
    redis_client: redis.Redis,
    redis_url: str,
    example_brands: Brands,
    admin_data_dir: Path,
) -> None:
    # Five recipients leave the newsletter only, through the edge's one-click POST.
    tag = uuid.uuid4().hex[:8]
    for n in range(5):
        status, message = await api.post(
            "/v1/messages",
            {"recipient": f"p{n}-{tag}@example.com", "list_id": "newsletter", "urls": []},
        )
        assert status == 200
        reply = edge.get(
            message["unsubscribe_url"],
            method="POST",
            body=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert reply.status == 200
    assert len(wait_for_events(redis_client, 10)) == 10
    await store_queued_events(redis_url, example_brands, admin_data_dir)

    status, first = await api.get("/v1/suppressions", {"scope": "newsletter", "limit": "2"})
    assert status == 200
    assert first["total"] >= 5 and len(first["items"]) == 2 and first["next_offset"] == 2
    seen = [item["recipient"] for item in first["items"]]
    offset = first["next_offset"]
    while offset is not None:
        status, page = await api.get(
            "/v1/suppressions", {"scope": "newsletter", "limit": "2", "offset": str(offset)}
        )
        seen += [item["recipient"] for item in page["items"]]
        assert all(item["scope"] == "newsletter" for item in page["items"])
        offset = page["next_offset"]
    assert len(seen) == len(set(seen)) == first["total"]

    status, check = await api.get(
        "/v1/suppressions/check", {"recipient": f"p0-{tag}@example.com", "list_id": "newsletter"}
    )
    assert (check["suppressed"], check["scopes"]) == (True, ["newsletter"])
    status, check = await api.get("/v1/suppressions/check", {"recipient": f"p0-{tag}@example.com"})
    assert (check["suppressed"], check["scopes"]) == (False, ["newsletter"])
