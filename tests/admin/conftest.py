"""Fixtures of the admin API suite: real `tracer admin` processes on free ports, the
session's real redis-server, a real SQLite store, and an aiohttp client.

One server serves the whole suite (its data: a SQLite file of its own and the session's
Redis, which tests that read the queue flush first through `redis_client`). Tests that
need another configuration (Redis down, MongoDB) start their own with `start_admin`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import EllipsisType
from typing import Any, BinaryIO

import aiohttp
import pytest

from tests.conftest import EXAMPLE_BRANDS, ROOT, environment_without_settings
from tests.edge.conftest import register_keyring
from tracer.brands import Brands
from tracer.keyring import KeyRing, new_keyring, write_keyring
from tracer.links import LinkBuilder
from tracer.redis_server import RedisServer, free_port

SHARDS = 4
NORTHJOBS_KEY = "demo-key-northjobs"
HARBOR_KEY = "demo-key-harborcareers"


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
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli", "admin"],
            env=self.env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"admin exited: {self.log_text()[-3000:]}")
            if self._healthy():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"admin did not start: {self.log_text()[-3000:]}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as reply:
                return reply.status == 200
        except OSError:
            return False

    def stop(self, timeout_s: float = 20.0) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
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


# Where the admin suite's edges find their key ring (the batcher it runs needs the same).
ADMIN_KEYRING_FILE: dict[str, Path] = {}


@pytest.fixture(scope="session")
def admin_keyring() -> KeyRing:
    return new_keyring()


@pytest.fixture(scope="session")
def admin_keyring_file(tmp_path_factory: pytest.TempPathFactory, admin_keyring: KeyRing) -> Path:
    path = tmp_path_factory.mktemp("admin-keys") / "keyring.json"
    write_keyring(admin_keyring, path)
    register_keyring(admin_keyring, path)
    ADMIN_KEYRING_FILE["path"] = path
    return path


@pytest.fixture(scope="session")
def admin_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("admin-var")


@pytest.fixture(scope="session")
def admin(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    admin_keyring_file: Path,
    admin_data_dir: Path,
) -> Iterator[AdminProcess]:
    """The suite's admin server (example brands, SQLite under `admin_data_dir`)."""
    log = tmp_path_factory.mktemp("admin-log") / "admin.log"
    server = AdminProcess(admin_env(admin_data_dir, admin_keyring_file, redis_server.url), log)
    server.start()
    yield server
    code = server.stop()
    assert code == 0, server.log_text()[-3000:]


@pytest.fixture
def start_admin(tmp_path: Path, admin_keyring_file: Path) -> Iterator[Callable[..., AdminProcess]]:
    """Start an admin server of the test's own: `start_admin(redis_url, **env)`."""
    started: list[AdminProcess] = []

    def start(redis_url: str, **extra: str) -> AdminProcess:
        env = admin_env(tmp_path / "admin-var", admin_keyring_file, redis_url, **extra)
        server = AdminProcess(env, tmp_path / f"admin-{len(started)}.log")
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def builder(example_brands: Brands, admin_keyring: KeyRing) -> LinkBuilder:
    """A link builder with the servers' key ring (opens their tokens, hashes alike)."""
    return LinkBuilder(example_brands, admin_keyring)


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


@pytest.fixture
async def api(admin: AdminProcess) -> AsyncIterator[Api]:
    """A client of the suite's server, authenticated as North Jobs."""
    async with aiohttp.ClientSession() as session:
        yield Api(session, admin.url, NORTHJOBS_KEY)
