"""`tracer up`: every role on embedded defaults, stopped in order on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.edge.helpers import fetch
from tracer.redis_server import free_port


def test_up_serves_a_click_end_to_end_and_stops_every_role_in_order(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "TRACER_DATA_DIR": str(tmp_path / "var"),
        "TRACER_EDGE_PORT": str(port),
        "TRACER_DISPATCHER_METRICS_PORT": "0",
        "TRACER_BATCHER_METRICS_PORT": "0",
        "TRACER_ADMIN_PORT": str(free_port()),
        "TRACER_LOG_FORMAT": "text",
    }
    log = (tmp_path / "up.log").open("w+")
    # 1. `tracer up` starts a private redis-server, the edge, the admin API, the batcher
    #    and the dispatcher.
    up = subprocess.Popen(
        [sys.executable, "-m", "cli", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        banner = ""
        deadline = time.monotonic() + 60
        while "Press Ctrl-C" not in banner and time.monotonic() < deadline:
            banner += up.stdout.readline()
        assert "edge      http://127.0.0.1:" in banner
        host, path = re.search(
            r"curl -si -H 'Host: ([^']+)' http://127\.0\.0\.1:\d+(\S+)", banner
        ).groups()
        _wait_for(lambda: _healthy(port))

        # 2. The sample link printed is followed like a recipient would.
        reply = fetch(
            port,
            path,
            host,
            headers={
                "User-Agent": "Mozilla/5.0 (X11; Linux) "
                "AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
            },
        )
        assert reply.status == 302
        assert reply.location.startswith("https://northjobs.example/jobs/hello-tracer?")

        # 3. The click reaches the store through Redis and the batcher.
        def stored() -> bool:
            result = subprocess.run(
                [sys.executable, "-m", "cli", "stats", "--brand", "northjobs", "--json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            return result.returncode == 0 and json.loads(result.stdout)["click"]["all"] == 1

        _wait_for(stored, timeout_s=30)
    finally:
        # 4. SIGTERM: every role stops, front to back, and `tracer up` exits 0.
        up.send_signal(signal.SIGTERM)
        code = up.wait(60)
        up.stdout.close()
        log.seek(0)
        text = log.read()
        log.close()
    assert code == 0, text[-3000:]
    order = [m.group(1) for m in re.finditer(r"stopped (\w+) \(exit code", text)]
    assert order == ["edge", "admin", "batcher", "dispatcher", "redis"], text[-3000:]


def _healthy(port: int) -> bool:
    try:
        return fetch(port, "/healthz", "localhost").status == 200
    except OSError:
        return False


def _wait_for(condition, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
