"""The edge's lifespan, driven by hand (as uvicorn's tests do): startup and shutdown are
acknowledged, and a failing startup is reported instead of serving without a recorder."""

from __future__ import annotations

import asyncio
from pathlib import Path

from edge.app import Edge
from tracer.context import Context
from tracer.settings import Settings


async def run_lifespan(edge: Edge, messages: list[str]) -> list[dict]:
    inbox: asyncio.Queue[dict] = asyncio.Queue()
    for message in messages:
        inbox.put_nowait({"type": message})
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    await asyncio.wait_for(edge({"type": "lifespan"}, inbox.get, send), 10)
    return sent


async def test_startup_and_shutdown_are_acknowledged(
    example_brands, keyring, tmp_path: Path, redis_url: str
) -> None:
    edge = Edge(Context(Settings(data_dir=tmp_path, redis_url=redis_url), example_brands, keyring))

    sent = await run_lifespan(edge, ["lifespan.startup", "lifespan.shutdown"])

    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_a_failing_startup_is_reported(example_brands, keyring, tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("the data dir must be a directory")
    edge = Edge(Context(Settings(data_dir=not_a_directory), example_brands, keyring))

    sent = await run_lifespan(edge, ["lifespan.startup"])

    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert "FileExistsError" in sent[0]["message"] or "NotADirectoryError" in sent[0]["message"]


async def _get(edge: Edge, path: str) -> int:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "client": None}
    await edge(scope, receive, send)
    return sent[0]["status"]


async def test_readiness_needs_redis_or_a_writable_spool(
    example_brands, keyring, tmp_path: Path
) -> None:
    """Redis is checked at startup, not assumed: with it unreachable the edge is ready only
    while it can spool."""
    import shutil

    settings = Settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:9/0")
    edge = Edge(Context(settings, example_brands, keyring))
    await edge.startup()
    try:
        assert edge.recorder is not None and not edge.recorder.redis_available
        assert await _get(edge, "/readyz") == 200
        shutil.rmtree(settings.spool_dir)
        assert await _get(edge, "/readyz") == 503
        assert await _get(edge, "/healthz") == 200
    finally:
        settings.spool_dir.mkdir(parents=True, exist_ok=True)
        await edge.shutdown()
