"""Fixtures of every suite: a private real redis-server, a data directory, the example
brands, and an environment without the developer's settings.

Fixtures that several suites share but not every test needs live in plain modules, the
plugins below, registered here once: a test asks for them by name and imports nothing.
Plain helpers (classes, functions, constants) live in ordinary modules that tests import
(`tests.support`, `tests.edge.helpers`, `tests.admin.helpers`, ...). A conftest holds only
the fixtures of its own directory; `tests/test_suite_layout.py` keeps it so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support import EXAMPLE_BRANDS, ORIGINAL_ENVIRONMENT, is_setting
from tracer.brands import Brands, load_brands
from tracer.keyring import KeyRing, new_keyring
from tracer.redis_server import RedisServer

pytest_plugins = [
    "tests.fixtures.processes",
    "tests.fixtures.edge",
    "tests.fixtures.redis_cluster",
    "tests.fixtures.stores",
]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One private redis-server for the session (tests that kill Redis start their own)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"), persistent=False).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """A clean database on the private server (flushed before each test)."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def example_brands() -> Brands:
    return load_brands(EXAMPLE_BRANDS)


@pytest.fixture
def keyring() -> KeyRing:
    return new_keyring()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "var"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's TRACER_* settings or writes into ./var."""
    for name in list(os.environ):
        if is_setting(name):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRACER_DATA_DIR", str(tmp_path / "default-var"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Under `just test` (TRACER_REQUIRE_ALL_TESTS=1) a skipped test is a failure: a suite
    that silently skips its browser or MongoDB tests has not passed."""
    outcome = yield
    report = outcome.get_result()
    if (
        ORIGINAL_ENVIRONMENT.get("TRACER_REQUIRE_ALL_TESTS") == "1"
        and report.skipped
        and not hasattr(report, "wasxfail")
    ):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped, but `just test` runs every test: {reason}"
