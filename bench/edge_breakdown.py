"""Where the edge's time goes under granian: the real edge with parts of its work switched
off (`bench/baselines/edge_variants.py`), next to the bare granian app, in one run.

    python -m bench.edge_breakdown            # 3 interleaved rounds of 8 s
    python -m bench.edge_breakdown --quick    # 1 round of 4 s

Server pinned to core 0 with a private redis-server, wrk (-t1 -c64) on core 1, cycling
through 20,000 distinct click tokens (and as many open tokens for the open rows). For each
variant the table shows req/s and the time per request it adds to the previous row of its
route; `no-redis` against `full` is what pushing the hits to Redis costs (client side,
and redis-server's own CPU on the same core), `no-journal` against `full` what the kill -9
journal costs. Comparing these with the same code's CPU time in-process (a few µs each)
shows how much more Python work costs inside granian, where the runtime thread that
parses requests shares the core with the Python thread.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.baselines.launch import GRANIAN_FLAGS
from bench.baselines.servers import PinnedRedis
from tracer.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
# (variant, route): the bare app first, then the click path and the open path part by part.
VARIANTS = (
    ("bare", "click"),
    ("dispatch", "click"),
    ("decode", "click"),
    ("request-path", "click"),
    ("no-redis", "click"),
    ("no-journal", "click"),
    ("full", "click"),
    ("request-path", "open"),
    ("no-redis", "open"),
    ("no-journal", "open"),
    ("full", "open"),
)
LINKS = 20_000
LUA = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local i = 0
local ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 " ..
  "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i], {["Host"] = "t.northjobs.example", ["User-Agent"] = ua})
end
"""


def _serve(variant: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    granian = str(Path(sys.executable).with_name("granian"))
    target = (
        ["bench.baselines.bare_asgi:app"]
        if variant == "bare"
        else ["--factory", "bench.baselines.edge_variants:create_app"]
    )
    command = [
        "taskset",
        "-c",
        "0",
        granian,
        *GRANIAN_FLAGS,  # as `tracer edge --workers 1` runs granian
        "--port",
        str(port),
        "--log-level",
        "warning",
        *target,
    ]
    process = subprocess.Popen(
        command,
        env={**env, "EDGE_VARIANT": variant},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{variant} did not start")


def _requests_per_s(port: int, script: Path, seconds: int) -> float:
    output = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            "wrk",
            "-t1",
            "-c64",
            f"-d{seconds}s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


def _measure(
    variant: str, env: dict[str, str], script: Path, seconds: int, redis_pid: int
) -> tuple[float, float]:
    """(req/s, CPU µs per request of the server's processes and redis-server)."""
    port = free_port()
    server = _serve(variant, port, env)
    try:
        _requests_per_s(port, script, 1)  # warm-up
        pids = [server.pid, *_children(server.pid), redis_pid]
        cpu_before = sum(_cpu_s(pid) for pid in pids)
        rate = _requests_per_s(port, script, seconds)
        cpu = sum(_cpu_s(pid) for pid in pids) - cpu_before
        return rate, cpu / (rate * seconds) * 1e6
    finally:
        server.terminate()
        server.wait(30)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _links(env: dict[str, str], path: Path, route: str) -> None:
    kind = (
        ["click", "--url", "https://northjobs.example/jobs/42?ref=mail"]
        if route == "click"
        else ["open", "--position", "footer"]
    )
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "link",
            *kind,
            "--brand",
            "northjobs",
            "--message-id",
            "bench",
            "--recipient",
            "reader@example.com",
            "--campaign",
            "daily",
            "--job-source",
            "indeed",
            "--count",
            str(LINKS),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path.write_text(
        "".join(line.split("t.northjobs.example", 1)[1] + "\n" for line in output.splitlines())
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.edge_breakdown", description=__doc__)
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")))
    args = parser.parse_args(argv)
    if not (shutil.which("wrk") and shutil.which("taskset")):
        print("bench.edge_breakdown needs wrk and taskset; skipped")
        return 0
    seconds, rounds = (4, 1) if args.quick else (8, 3)
    with tempfile.TemporaryDirectory(prefix="tracer-breakdown-") as tmp:
        work = Path(tmp)
        # On the server's core, as in `bench.edge`: Redis is part of the system measured.
        with PinnedRedis(work / "redis", 0) as redis_server:
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "TRACER_DATA_DIR": str(work / "var"),
                "REDIS_URL": redis_server.url,
                "TRACER_LOG_LEVEL": "WARNING",
            }
            scripts = {}
            for route in ("click", "open"):
                paths = work / f"{route}-paths.txt"
                _links(env, paths, route)
                scripts[route] = work / f"{route}.lua"
                scripts[route].write_text(LUA % paths)
            rates: dict[tuple[str, str], list[float]] = {row: [] for row in VARIANTS}
            cpus: dict[tuple[str, str], list[float]] = {row: [] for row in VARIANTS}
            assert redis_server.process is not None
            for _ in range(rounds):  # interleaved: drift on a shared machine hits every row
                for variant, route in VARIANTS:
                    rate, cpu = _measure(
                        variant, env, scripts[route], seconds, redis_server.process.pid
                    )
                    rates[variant, route].append(rate)
                    cpus[variant, route].append(cpu)
    print(
        f"\nThe edge's click and open, part by part, under granian (median of {rounds} "
        f"round(s) of {seconds} s; server + redis on core 0, wrk -c64 on core 1)"
    )
    print(
        f"{'variant':<20} {'req/s':>9} {'µs/request':>11} {'adds µs':>8}  vs bare  "
        f"{'spread (min-max req/s)':>24}  {'CPU µs/req':>10}  CPU vs bare"
    )
    previous: float | None = None
    base = statistics.median(rates["bare", "click"])
    base_cpu = statistics.median(cpus["bare", "click"])
    for variant, route in VARIANTS:
        samples = rates[variant, route]
        rate = statistics.median(samples)
        cpu = statistics.median(cpus[variant, route])
        per_request = 1e6 / rate
        if variant == "request-path" and route == "open":
            previous = 1e6 / base  # the open rows add to the bare app's time
        added = "" if previous is None else f"{per_request - previous:8.1f}"
        name = variant if variant == "bare" else f"{route} {variant}"
        spread = f"{min(samples):,.0f}-{max(samples):,.0f}"
        print(
            f"{name:<20} {rate:>9,.0f} {per_request:>11.1f} {added:>8}  {rate / base:6.0%}  "
            f"{spread:>24}  {cpu:>10.1f}  {base_cpu / cpu:10.0%}"
        )
        previous = per_request
    print(
        "CPU µs/req: user+system CPU of the server's processes and redis-server over the "
        "measured run, per request answered (less sensitive than req/s to other work on "
        "the machine); CPU vs bare: bare's CPU per request / the row's."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
