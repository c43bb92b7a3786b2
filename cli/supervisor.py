"""`tracer up`: every role as a child process, restarted if it dies, stopped in order.

Children run in their own sessions, so a Ctrl-C in the terminal reaches only the
supervisor, which then stops them front to back: the edge first (it flushes its buffers
into Redis), then the consumers, then the private redis-server last. Each child gets a
parent-death signal (SIGTERM): if the supervisor itself is killed, no role lives on as an
orphan (a dispatcher delivering webhooks for an instance nobody runs any more).

A role that exits is started again after a back-off that grows with each restart. Only a
role's first start can end the supervisor: exit code 1 within seconds of it is a
configuration error (bad setting, brands file, key ring), which no restart would fix.
"""

from __future__ import annotations

import ctypes
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

logger = logging.getLogger(__name__)

RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)
STOP_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 30.0
# A first start that exits 1 within this long is a configuration error.
CONFIGURATION_ERROR_WINDOW_S = 5.0
# A role that ran this long without exiting starts its back-off over.
STABLE_AFTER_S = 60.0
_PR_SET_PDEATHSIG = 1


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
    # Exits in a row without a stable run in between: the restart back-off's step.
    failures: int = 0
    started_at: float = 0.0

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command,
            env={**os.environ, **self.env},
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),
        )
        self.started_at = time.monotonic()
        logger.info("started %s (pid %d)", self.name, self.process.pid)
        if self.ready is not None:
            self._wait_ready()

    @property
    def first_start(self) -> bool:
        return self.restarts == 0

    def _wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        assert self.process is not None and self.ready is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                logger.error(
                    "%s exited with code %s before it was ready",
                    self.name,
                    self.process.returncode,
                )
                return
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
            ran_s = time.monotonic() - role.started_at
            if code == 1 and role.first_start and ran_s < CONFIGURATION_ERROR_WINDOW_S:
                # Exit code 1 at the first start is a configuration error: restarting
                # won't help. (A restarted role exiting 1 early is a crash: it backs off.)
                logger.error("%s failed at start-up (exit code 1); stopping", role.name)
                self.exit_code = 1
                self.should_exit.set()
                return
            if ran_s >= STABLE_AFTER_S:
                role.failures = 0
            delay = RESTART_BACKOFF_S[min(role.failures, len(RESTART_BACKOFF_S) - 1)]
            logger.error(
                "%s exited with code %s after %.1fs; restarting in %.0fs",
                role.name,
                _exit_status(code),
                ran_s,
                delay,
            )
            if self.should_exit.wait(delay):
                return
            role.restarts += 1
            role.failures += 1
            role.start()

    def stop(self) -> None:
        # Front to back: the edge flushes into Redis, then the consumers drain what they
        # hold, and Redis (with its append-only file) goes last.
        pipeline = [role for role in self.roles if not role.infrastructure]
        infrastructure = [role for role in self.roles if role.infrastructure]
        for role in [*pipeline, *reversed(infrastructure)]:
            role.stop()


def _exit_status(code: int) -> str:
    if code < 0:
        return f"{code} ({signal.Signals(-code).name})"
    return str(code)


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A `preexec_fn` asking Linux to send the child SIGTERM when the supervisor dies
    (prctl PR_SET_PDEATHSIG); elsewhere a no-op."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return lambda: None

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:  # the supervisor died before the line above
            os.kill(os.getpid(), signal.SIGTERM)

    return arm


def tracer_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


def data_path(data_dir: Path, *parts: str) -> Path:
    path = data_dir.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
