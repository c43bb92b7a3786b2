"""Starting and stopping the servers under test, so that none outlives the benchmark.

Each server runs in its own session (its workers can be stopped together, and a Ctrl-C in
the terminal reaches only the harness, which then stops them in order), pinned to a core
with `taskset`, and gets SIGTERM from the kernel if the harness itself is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tracer.redis_server import RedisServer

REPO = Path(__file__).resolve().parent.parent.parent
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server under test and how to stop it gracefully."""

    argv: list[str]
    cwd: Path = REPO
    env: dict[str, str] = field(default_factory=dict)
    stop_signal: int = signal.SIGTERM
    ready_path: str = "/"


def pinned(argv: Sequence[str], core: int | None) -> list[str]:
    return ["taskset", "-c", str(core), *argv] if core is not None else list(argv)


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it if the harness dies (even by SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Server:
    """One server under test, its output in `log`."""

    def __init__(self, spec: ServerSpec, log: Path, core: int | None) -> None:
        self.spec = spec
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                pinned(spec.argv, core),
                cwd=spec.cwd,
                env={**os.environ, **spec.env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # safe: the harness runs no threads
            )

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 20.0) -> bool:
        """Ask the leader to shut down gracefully; True when it exited cleanly in time."""
        if not self.running:
            return self.process.returncode == 0
        self.process.send_signal(self.spec.stop_signal)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return False
        self._kill_group()  # anything the leader left behind
        return True

    def kill(self) -> None:
        self._kill_group()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def log_tail(self, chars: int = 1500) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@contextlib.contextmanager
def serving(spec: ServerSpec, log: Path, core: int | None) -> Iterator[Server]:
    """A started server, stopped (gracefully if it can be) however the block ends."""
    server = Server(spec, log, core)
    try:
        yield server
    finally:
        if server.running:
            with sigint_ignored():
                server.stop(timeout_s=10.0)


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """A second Ctrl-C must not interrupt the clean-up that the first one started."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def wait_ready(server: Server, port: int, host: str, timeout_s: float = 30.0) -> None:
    """Return once the server answers an HTTP request (any status); raise if it exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not server.running:
            code = server.process.returncode
            raise RuntimeError(f"exited at start-up ({code}):\n{server.log_tail()}")
        if _answers(port, host, server.spec.ready_path):
            return
        time.sleep(0.05)
    raise RuntimeError(f"not answering on port {port} after {timeout_s}s:\n{server.log_tail()}")


def _answers(port: int, host: str, path: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path, headers={"Host": host})
        connection.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


class PinnedRedis(RedisServer):
    """The private redis-server, on the server core: it is part of the system under test.
    No append-only file: nothing here needs to survive a restart."""

    def __init__(self, directory: Path, core: int | None) -> None:
        super().__init__(directory, persistent=False)
        self.core = core

    def command(self) -> list[str]:
        return pinned(super().command(), self.core)
