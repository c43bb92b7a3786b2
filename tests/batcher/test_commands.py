"""`tracer stats` and `tracer batcher` from the command line."""

from __future__ import annotations

import asyncio
import json

import pytest

from cli.main import main
from tests.store.events import make_event
from tracer.brands import Brands
from tracer.settings import load_settings
from tracer.store.sqlite import SQLiteStore


def write(brands: Brands, events) -> None:
    async def go() -> None:
        store = SQLiteStore(load_settings().sqlite_path, brands)
        await store.open()
        try:
            await store.write(events)
        finally:
            await store.close()

    asyncio.run(go())


def test_stats_json_has_all_and_human_per_event_type(
    example_brands: Brands, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        example_brands,
        [make_event("click", message_id=f"m{i}", job_source="indeed") for i in range(12)]
        + [make_event("click", agent="scanner", bot=True) for _ in range(2)]
        + [make_event("open", message_id="m1")],
    )

    assert main(["stats", "--brand", "northjobs", "--json"]) == 0

    stats = json.loads(capsys.readouterr().out)
    assert stats["click"]["all"] == 14 and stats["click"]["human"] == 12
    assert stats["open"]["all"] == 1 and stats["open"]["human"] == 1
    assert stats["click"]["unique_human"] == 12
    assert stats["click"]["revenue"] == pytest.approx(12 * 0.38)
    assert list(stats) == ["sent", "open", "click", "unsubscribe_view", "unsubscribe", "conversion",
                           "revoked_click"]  # fmt: skip
    assert all({"all", "human"} <= set(value) for value in stats.values())


def test_stats_table_for_people(example_brands: Brands, capsys: pytest.CaptureFixture[str]) -> None:
    write(example_brands, [make_event("open")])
    assert main(["stats", "--brand", "northjobs"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["type", "all", "human", "unique", "unique", "human"]
    assert "estimated revenue     0.00 USD" in out


def test_stats_of_an_unknown_brand_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--brand", "nope", "--json"]) == 1
    assert "--brand: 'nope' is not a brand" in capsys.readouterr().err


def test_batcher_without_redis_url_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["batcher", "--burst"]) == 1
    assert "REDIS_URL: not set" in capsys.readouterr().err
