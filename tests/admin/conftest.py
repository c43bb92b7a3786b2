"""Fixtures of the admin API suite: real `tracer admin` processes on free ports, the
session's real redis-server, a real SQLite store, and an aiohttp client.

One server serves the whole suite (its data: a SQLite file of its own and the session's
Redis, which tests that read the queue flush first through `redis_client`). Tests that
need another configuration (Redis down, MongoDB) start their own with `start_admin`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.admin.helpers import ADMIN_KEYRING_FILE, NORTHJOBS_KEY, AdminProcess, Api, admin_env
from tests.edge.helpers import register_keyring
from tests.fixtures.processes import Processes
from tracer.brands import Brands
from tracer.keyring import KeyRing, new_keyring, write_keyring
from tracer.links import LinkBuilder
from tracer.redis_server import RedisServer


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
def start_admin(
    tmp_path: Path, admin_keyring_file: Path, processes: Processes
) -> Callable[..., AdminProcess]:
    """Start an admin server of the test's own: `start_admin(redis_url, **env)`."""

    def start(redis_url: str, **extra: str) -> AdminProcess:
        env = admin_env(tmp_path / "admin-var", admin_keyring_file, redis_url, **extra)
        server = AdminProcess(env, tmp_path / f"admin-{processes.count(AdminProcess)}.log")
        return processes.start(server)

    return start


@pytest.fixture
def builder(example_brands: Brands, admin_keyring: KeyRing) -> LinkBuilder:
    """A link builder with the servers' key ring (opens their tokens, hashes alike)."""
    return LinkBuilder(example_brands, admin_keyring)


@pytest.fixture
async def api(admin: AdminProcess) -> AsyncIterator[Api]:
    """A client of the suite's server, authenticated as North Jobs."""
    async with aiohttp.ClientSession() as session:
        yield Api(session, admin.url, NORTHJOBS_KEY)
