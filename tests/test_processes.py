"""The `processes` fixture's bookkeeping, on real child processes: every server a test
started is stopped, the last started first, even one that failed to start and even when
stopping another fails."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from tests.fixtures.processes import Processes

STOPPED: list[str] = []


@dataclass
class Sleeper:
    """A child process that runs until stopped; `fail_start` makes it exit at once and
    `start` raise, as a server that does not come up does."""

    name: str
    fail_start: bool = False
    fail_stop: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None)

    def start(self) -> Sleeper:
        code = "raise SystemExit(3)" if self.fail_start else "import time; time.sleep(60)"
        self.process = subprocess.Popen([sys.executable, "-c", code])
        if self.fail_start and self.process.wait(10) != 0:
            raise RuntimeError(f"{self.name} exited")
        return self

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(10)
        STOPPED.append(self.name)
        if self.fail_stop:
            raise RuntimeError(f"{self.name} did not stop cleanly")


def test_stops_every_server_last_started_first() -> None:
    STOPPED.clear()
    processes = Processes()
    servers = [processes.start(Sleeper(name)) for name in ("redis", "edge", "admin")]
    assert processes.count(Sleeper) == 3
    assert all(server.process.poll() is None for server in servers)
    processes.stop_all()
    assert STOPPED == ["admin", "edge", "redis"]
    assert all(server.process.poll() is not None for server in servers)


def test_stops_a_server_that_failed_to_start_and_the_rest_after_a_failed_stop() -> None:
    STOPPED.clear()
    processes = Processes()
    first = processes.start(Sleeper("first"))
    processes.start(Sleeper("stubborn", fail_stop=True))
    with pytest.raises(RuntimeError, match="broken exited"):
        processes.start(Sleeper("broken", fail_start=True))
    with pytest.raises(RuntimeError, match="stubborn did not stop cleanly"):
        processes.stop_all()
    assert STOPPED == ["broken", "stubborn", "first"]
    assert first.process.poll() is not None
