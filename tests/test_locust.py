"""A locust scenario runs headless for a few seconds against real roles.

`python -m bench.locust` (what `just locust` runs) starts `tracer up` (a private
redis-server, the edge, the admin API, the batcher, the dispatcher), runs locust as a
subprocess (gevent patches the interpreter and warns at import, which pytest's
`filterwarnings = error` must not see), drains the queue and counts the store.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("locust") is None,
    reason="locust is not installed: scripts/bootstrap.sh bench",
)


def test_email_campaign_runs_headless_against_tracer_up(tmp_path: Path) -> None:
    # 1. The email campaign runs for 3 s with 8 users (sends through the admin API, MPP
    #    prefetch, proxy opens, Safe Links bursts, clicks, unsubscribes).
    summary = tmp_path / "summary.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.locust",
            "email_campaign",
            "3s",
            "--users",
            "8",
            "--spawn-rate",
            "8",
            "--data-dir",
            str(tmp_path / "var"),
            "--csv",
            str(tmp_path / "locust"),
            "--summary",
            str(summary),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-5000:]

    # 2. Requests were made on every kind of route, and none failed: no 5xx, no connection
    #    error, no wrong answer (a click to another page, a pixel that is not a GIF).
    with (tmp_path / "locust_stats.csv").open() as file:
        rows = {row["Name"]: row for row in csv.DictReader(file)}
    assert int(rows["Aggregated"]["Request Count"]) > 50, output[-3000:]
    assert int(rows["Aggregated"]["Failure Count"]) == 0, output[-3000:]
    assert "admin POST /v1/messages" in rows
    assert any(name.startswith("/c/") for name in rows)
    assert any(name.startswith("/o/") for name in rows)
    with (tmp_path / "locust_failures.csv").open() as file:
        assert list(csv.DictReader(file)) == []

    # 3. Every event the edge and the admin API answered reached the store through Redis
    #    and the batcher, none was invented, and the queue was left empty.
    result = json.loads(summary.read_text())
    assert result["queued"] == 0
    assert result["store_matches"], output[-3000:]
    answered, attempted = result["tally"]["answered"], result["tally"]["attempted"]
    for kind in ("sent", "open", "click"):
        stored = result["stored"][kind]["all"]
        assert 0 < answered[kind] <= stored <= attempted[kind], (kind, result)
    # Apple MPP prefetches are recorded but not counted as people.
    assert result["stored"]["open"]["human"] < result["stored"]["open"]["all"]
    assert "Pipeline check" in run.stdout
