"""Two `tracer up` instances on one host, each started in its own directory (as `just run`
does, with the data dir `./var`): every command run there with no environment variable
finds its own instance, each dashboard shows its own batcher, and a read-only command run
anywhere else says there is no instance instead of making an empty store."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from batcher.config import DEFAULT_METRICS_PORT
from tests.edge.helpers import fetch
from tracer.instance import registered_metrics
from tracer.redis_server import free_port

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


@dataclass
class Instance:
    directory: Path
    edge_port: int
    admin_port: int
    process: subprocess.Popen[str]

    def tracer(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A command run in the instance's directory with nothing but PATH set."""
        return run_tracer(self.directory, *args)

    def follow(self, url: str) -> int:
        host, _, path = url.removeprefix("https://").partition("/")
        return fetch(self.edge_port, "/" + path, host, headers={"User-Agent": CHROME}).status

    def dashboard(self) -> dict:
        token = (self.directory / "var" / "admin-token").read_text().strip()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.admin_port}/dashboard/data",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())


def run_tracer(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=directory,
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
    )


def start_instance(directory: Path) -> Instance:
    directory.mkdir()
    edge_port, admin_port = distinct_free_ports(2)
    # Only the ports are set (two instances cannot both have 8080); everything else is
    # the defaults `just run` has: ./var, a private redis-server, SQLite, example brands.
    env = {
        "PATH": os.environ["PATH"],
        "TRACER_EDGE_PORT": str(edge_port),
        "TRACER_ADMIN_PORT": str(admin_port),
        "TRACER_DASHBOARD_INTERVAL_S": "0.5",
    }
    with (directory / "up.log").open("w") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "up"],
            cwd=directory,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    instance = Instance(directory, edge_port, admin_port, process)

    def serving() -> bool:
        assert process.poll() is None, (directory / "up.log").read_text()[-3000:]
        return _answers(edge_port) and _answers(admin_port)

    wait_for(serving, what="the instance")
    return instance


def distinct_free_ports(count: int) -> list[int]:
    """`count` ports free now, all different (`free_port` never hands one out twice)."""
    return [free_port() for _ in range(count)]


@pytest.fixture
def two_instances(tmp_path: Path) -> Iterator[tuple[Instance, Instance]]:
    started: list[Instance] = []
    try:
        started.append(start_instance(tmp_path / "first"))
        started.append(start_instance(tmp_path / "second"))
        yield started[0], started[1]
    finally:
        for instance in started:
            instance.process.terminate()
        for instance in started:
            instance.process.wait(60)


def test_each_instance_is_found_by_the_commands_run_in_its_directory(
    two_instances: tuple[Instance, Instance], tmp_path: Path
) -> None:
    """1. Two instances run side by side. 2. In each directory, with no environment
    variable set, `tracer link --short` allocates slugs in that instance's private Redis,
    and clicks are sent: three to the first, one to the second.
    Result: each `tracer stats` counts its own clicks; each dashboard scrapes its own
    batcher (the stored totals differ as the counts do); the facts file is 0600; a
    command says which instance it talks to."""
    first, second = two_instances
    for instance, clicks in ((first, 3), (second, 1)):
        made = instance.tracer(
            "link", "click", "--brand", "northjobs", "--message-id", "sms-1",
            "--url", "https://northjobs.example/jobs/7", "--short", "--count", str(clicks),
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert f"pid {instance.process.pid}" in made.stderr
        urls = made.stdout.split()
        assert len(urls) == clicks and all("/s/" in url for url in urls)
        assert [instance.follow(url) for url in urls] == [302] * clicks

    for instance, clicks in ((first, 3), (second, 1)):

        def counted(instance: Instance = instance, clicks: int = clicks) -> bool:
            done = instance.tracer("stats", "--brand", "northjobs", "--json")
            return done.returncode == 0 and json.loads(done.stdout)["click"]["all"] == clicks

        wait_for(counted, what="the clicks in each store")

        def dashboard_shows_its_own(instance: Instance = instance, clicks: int = clicks) -> bool:
            reading = instance.dashboard()
            return reading["batcher"]["stored"] == clicks

        wait_for(dashboard_shows_its_own, what="each dashboard's own batcher")

    facts = first.directory / "var" / "instance.json"
    assert stat.S_IMODE(facts.stat().st_mode) == 0o600
    assert json.loads(facts.read_text())["pid"] == first.process.pid


def test_stats_in_a_directory_without_an_instance_exits_1_and_creates_nothing(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "elsewhere"
    empty.mkdir()

    done = run_tracer(empty, "stats", "--brand", "northjobs")

    assert done.returncode == 1
    assert f"no event store in {empty / 'var'}" in done.stderr
    assert "TRACER_DATA_DIR" in done.stderr
    assert list(empty.iterdir()) == []


def test_an_explicit_metrics_port_in_use_stops_the_start_and_the_default_falls_back(
    tmp_path: Path, redis_url: str
) -> None:
    """1. A batcher is told (TRACER_BATCHER_METRICS_PORT) to serve on a port another
    process holds: it exits 1 naming the setting. 2. The default port held: it serves
    on a free port and registers that one."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    base = {
        "PATH": os.environ["PATH"],
        "REDIS_URL": redis_url,
        "TRACER_DATA_DIR": str(tmp_path / "var"),
    }
    try:
        refused = subprocess.run(
            [sys.executable, "-m", "cli", "batcher", "--burst"],
            env={**base, "TRACER_BATCHER_METRICS_PORT": str(taken)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 1, refused.stderr
        assert f"TRACER_BATCHER_METRICS_PORT: port {taken} on 127.0.0.1 is already in use" in (
            refused.stderr
        )
    finally:
        holder.close()

    with _held(DEFAULT_METRICS_PORT), (tmp_path / "batcher.log").open("w") as log:
        batcher = subprocess.Popen(
            [sys.executable, "-m", "cli", "batcher"], env=base, stdout=log, stderr=log
        )
        try:
            wait_for(
                lambda: registered_metrics(tmp_path / "var", "batcher"),
                what="the batcher's registration",
            )
            (url,) = registered_metrics(tmp_path / "var", "batcher")
            assert not url.endswith(f":{DEFAULT_METRICS_PORT}/metrics")
            with urllib.request.urlopen(url, timeout=10) as reply:
                assert b"tracer_batcher_events_stored_total" in reply.read()
        finally:
            batcher.terminate()
            assert batcher.wait(60) == 0
    assert registered_metrics(tmp_path / "var", "batcher") == ()
    assert (
        "taken by another process; serving on a free port" in (tmp_path / "batcher.log").read_text()
    )


@contextmanager
def _held(port: int) -> Iterator[None]:
    """`port` held by another process for the block (by this one; or it already is)."""
    holder = socket.socket()
    try:
        try:
            holder.bind(("127.0.0.1", port))
            holder.listen()
        except OSError:
            pass  # someone else holds it: just as good
        yield
    finally:
        holder.close()


def wait_for(condition, *, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return
        except (OSError, ValueError, KeyError):
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
