"""What every suite shares besides fixtures: where the project is, the example brands, and
the environment a child process starts from."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

# The environment as the test run found it (fixtures scrub TRACER_*/REDIS_URL/MONGODB_URL
# for every test; suites that honour e.g. MONGODB_URL read it from here). Captured when the
# root conftest imports this module, before any test runs.
ORIGINAL_ENVIRONMENT = dict(os.environ)
# Settings a developer's shell may carry, besides every TRACER_* one: no test, and no
# process a test starts, may read them.
SETTINGS_ENV = ("REDIS_URL", "MONGODB_URL", "SENTRY_DSN")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_BRANDS = ROOT / "config" / "brands.example.toml"


def is_setting(name: str) -> bool:
    return name.startswith("TRACER_") or name in SETTINGS_ENV


def environment_without_settings() -> dict[str, str]:
    """The environment without Tracer's settings: where a child process's starts."""
    return {name: value for name, value in os.environ.items() if not is_setting(name)}


def start_cli(args: list[str], env: dict[str, str], log: BinaryIO) -> subprocess.Popen[bytes]:
    """`python -m cli *args` from the project's root, its output in `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", "cli", *args],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_until_ready(
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    *,
    log_tail: Callable[[], str],
    what: str,
    timeout_s: float,
    poll_s: float = 0.05,
) -> None:
    """Return once `ready()` says so; raise with the end of the log when `process` exits
    first or is not ready in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {log_tail()}")
        if ready():
            return
        time.sleep(poll_s)
    raise RuntimeError(f"{what} did not start: {log_tail()}")


def stop_process(
    process: subprocess.Popen[bytes], timeout_s: float, sig: int = signal.SIGTERM
) -> int:
    """Send `sig` to `process` if it still runs, wait up to `timeout_s`, then kill it;
    its exit code."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
