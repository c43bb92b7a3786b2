"""Helpers of the admin suite: a real `tracer admin` process, a small JSON client of its
API, reading tokens and the queue, and running the batcher.

The fixtures built on them are in `tests/admin/conftest.py`."""

from __future__ import annotations

import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import EllipsisType
from typing import Any, BinaryIO

import aiohttp
import redis

from batcher.main import run_batcher
from batcher.worker import BatcherStats
from tests.batcher.helpers import FAST
from tests.edge.helpers import queued_events
from tests.support import (
    EXAMPLE_BRANDS,
    environment_without_settings,
    start_cli,
    stop_process,
    wait_until_ready,
)
from tracer.brands import Brands
from tracer.events import Event
from tracer.links import LinkBuilder
from tracer.redis_server import free_port
from tracer.settings import Settings
from tracer.tokens import LinkPayload

SHARDS = 4
NORTHJOBS_KEY = "demo-key-northjobs"
HARBOR_KEY = "demo-key-harborcareers"
DATA = Path(__file__).resolve().parent.parent / "data"
# Where the admin suite's edges find their key ring (the batcher it runs needs the same).
ADMIN_KEYRING_FILE: dict[str, Path] = {}


@dataclass
class AdminProcess:
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return int(self.env["TRACER_ADMIN_PORT"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> AdminProcess:
        self._log = self.log_path.open("ab")
        self.process = start_cli(["admin"], self.env, self._log)
        wait_until_ready(
            self.process, self._healthy, log_tail=lambda: self.log_text()[-3000:],
            what="admin", timeout_s=timeout_s,
        )  # fmt: skip
        return self

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as reply:
                return reply.status == 200
        except OSError:
            return False

    def stop(self, timeout_s: float = 20.0) -> int:
        if self.process is None:
            return 0
        code = stop_process(self.process, timeout_s)
        self.process = None
        self._log.close()
        return code

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def admin_env(data_dir: Path, keyring_file: Path, redis_url: str, **extra: str) -> dict[str, str]:
    env = environment_without_settings()
    env.update(
        {
            "TRACER_CONFIG": str(EXAMPLE_BRANDS),
            "TRACER_KEYS": str(keyring_file),
            "TRACER_DATA_DIR": str(data_dir),
            "TRACER_ADMIN_PORT": str(free_port()),
            "TRACER_QUEUE_SHARDS": str(SHARDS),
            "TRACER_REDIS_TIMEOUT_S": "0.5",
            "REDIS_URL": redis_url,
            "TRACER_LOG_LEVEL": "INFO",
            # The suite uses the example brands' published demo keys.
            "TRACER_DEV_MODE": "1",
        }
    )
    env.update(extra)
    return env


class Api:
    """A small client: JSON in, (status, JSON) out, with a bearer key by default."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, key: str | None) -> None:
        self.session = session
        self.base_url = base_url
        self.key = key

    def _headers(self, key: str | None, headers: dict[str, str] | None) -> dict[str, str]:
        out = {"Authorization": f"Bearer {key}"} if key else {}
        return {**out, **(headers or {})}

    async def post(
        self,
        path: str,
        body: Any = None,
        *,
        data: bytes | BinaryIO | None = None,
        key: str | EllipsisType | None = ...,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        key = self.key if key is ... else key
        async with self.session.post(
            self.base_url + path,
            json=body if data is None else None,
            data=data,
            headers=self._headers(key, headers),
        ) as reply:
            return reply.status, await _json(reply)

    async def get(
        self,
        path: str,
        params: dict[str, str] | None = None,
        *,
        key: str | EllipsisType | None = ...,
    ) -> tuple[int, Any]:
        key = self.key if key is ... else key
        async with self.session.get(
            self.base_url + path, params=params, headers=self._headers(key, None)
        ) as reply:
            return reply.status, await _json(reply)


async def _json(reply: aiohttp.ClientResponse) -> Any:
    assert reply.content_type == "application/json", (reply.status, await reply.text())
    return await reply.json()


def open_token(builder: LinkBuilder, url: str) -> LinkPayload:
    """The payload of a tracked `https://host/{c,o,u}/token` URL."""
    token = url.rsplit("/", 1)[1].removesuffix(".gif")
    return builder.codec.open(token)


def queued(client: redis.Redis) -> list[Event]:
    return queued_events(client, SHARDS)


async def store_queued_events(
    redis_url: str, brands: Brands, data_dir: Path, mongodb_url: str | None = None
) -> BatcherStats:
    """Drain the queue into the store as the batcher role does (`tracer batcher --burst`)."""
    settings = Settings(
        config_path=EXAMPLE_BRANDS,
        redis_url=redis_url,
        mongodb_url=mongodb_url,
        data_dir=data_dir,
        queue_shards=SHARDS,
        keys=str(ADMIN_KEYRING_FILE["path"]),
    )
    stats = await run_batcher(settings, brands, FAST, burst=True, handle_signals=False)
    assert stats.dead == 0, stats
    return stats
