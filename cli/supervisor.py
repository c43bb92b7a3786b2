"""`tracer up`: every role as a child process, restarted if it dies, stopped in order.

Children run in their own sessions, so a Ctrl-C in the terminal reaches only the
supervisor, which then stops them front to back: the edge first (it flushes its buffers
into Redis), then the consumers, then the private redis-server last.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger("cli.supervisor")

RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)
STOP_TIMEOUT_S = 30.0


@dataclass
class Role:
    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    # Returns True once the role serves; start() waits for it (e.g. Redis answering PING).
    ready: Callable[[], bool] | None = None
    # Infrastructure (the private redis-server) starts first and stops last.
    infrastructure: bool = False
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command, env={**os.environ, **self.env}, start_new_session=True
        )
        self.started_at = time.monotonic()
        logger.info("started %s (pid %d)", self.name, self.process.pid)
        if self.ready is not None:
            self._wait_ready()

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        assert self.process is not None and self.ready is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.process.poll() is None:
            if self.ready():
                return
            time.sleep(0.05)
        logger.error("%s did not become ready in %.0fs", self.name, timeout_s)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop in %.0fs; killing it", self.name, timeout_s)
            process.kill()
            process.wait()
        logger.info("stopped %s (exit code %s)", self.name, process.returncode)


class Supervisor:
    """Starts `roles` in order, restarts any that exits, and stops them in reverse order
    when asked to (SIGINT, SIGTERM) or when a role keeps failing."""

    def __init__(self, roles: list[Role]) -> None:
        self.roles = roles
        self.should_exit = threading.Event()
        self.exit_code = 0

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._request_exit)
        signal.signal(signal.SIGTERM, self._request_exit)
        try:
            for role in self.roles:
                role.start()
            while not self.should_exit.wait(0.2):
                self._restart_exited()
        finally:
            self.stop()
        return self.exit_code

    def _request_exit(self, signum: int, frame: object) -> None:
        if self.should_exit.is_set():
            # A second Ctrl-C: do not wait for graceful shutdowns.
            for role in self.roles:
                if role.process is not None and role.process.poll() is None:
                    role.process.kill()
            return
        logger.info("received %s; stopping every role", signal.Signals(signum).name)
        self.should_exit.set()

    def _restart_exited(self) -> None:
        for role in self.roles:
            if role.process is None or role.process.poll() is None:
                continue
            code = role.process.returncode
            if code == 1 and time.monotonic() - role.started_at < 5:
                # Exit code 1 at start-up is a configuration error: restarting won't help.
                logger.error("%s failed at start-up (exit code 1); stopping", role.name)
                self.exit_code = 1
                self.should_exit.set()
                return
            delay = RESTART_BACKOFF_S[min(role.restarts, len(RESTART_BACKOFF_S) - 1)]
            logger.error("%s exited with code %s; restarting in %.0fs", role.name, code, delay)
            if self.should_exit.wait(delay):
                return
            role.restarts += 1
            role.start()

    def stop(self) -> None:
        # Front to back: the edge flushes into Redis, then the consumers drain what they
        # hold, and Redis (with its append-only file) goes last.
        pipeline = [role for role in self.roles if not role.infrastructure]
        infrastructure = [role for role in self.roles if role.infrastructure]
        for role in [*pipeline, *reversed(infrastructure)]:
            role.stop()


def tracer_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


def data_path(data_dir: Path, *parts: str) -> Path:
    path = data_dir.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
