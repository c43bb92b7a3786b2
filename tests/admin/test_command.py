"""`tracer admin`: refuses a bad configuration, logs JSON, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.admin.helpers import AdminProcess, admin_env
from tests.support import ROOT


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "admin", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_edge_port_is_refused(tmp_path: Path, admin_keyring_file: Path, redis_url: str) -> None:
    env = admin_env(tmp_path, admin_keyring_file, redis_url, TRACER_EDGE_PORT="18080")

    result = _run(env, "--port", "18080")

    assert result.returncode == 1
    assert "never served on the public edge" in result.stderr


def test_redis_url_is_required(tmp_path: Path, admin_keyring_file: Path) -> None:
    env = admin_env(tmp_path, admin_keyring_file, "")
    del env["REDIS_URL"]

    result = _run(env)

    assert result.returncode == 1
    assert result.stderr.startswith("error: REDIS_URL: not set")


def test_sigterm_stops_it_in_order_with_json_logs(
    start_admin: Callable[..., AdminProcess], redis_url: str
) -> None:
    # 1. The admin starts and answers.  2. SIGTERM.  Result: exit 0, and the log says
    #    it stopped listening, then closed its clients, then stopped.
    admin = start_admin(redis_url)

    assert admin.stop() == 0

    lines = [json.loads(line) for line in admin.log_text().splitlines()]
    assert {line["role"] for line in lines} == {"admin"}
    messages = [line["msg"] for line in lines]
    assert any(
        message.startswith("Admin API listening on http://127.0.0.1:") for message in messages
    )
    stopping = next(i for i, m in enumerate(messages) if m.startswith("Stopping:"))
    closed = messages.index("Closed the Redis client and the event store.")
    assert stopping < closed < messages.index("Admin API stopped.")
