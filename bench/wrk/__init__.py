"""Driving wrk: the Lua script that replays pre-generated requests (`requests.lua`), and the
Python that runs it pinned to a core, notes where the CPU went meanwhile, and parses what the
script's `done()` prints."""

from __future__ import annotations

import dataclasses
import resource
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.wrk.cpu import core_busy, core_times

SCRIPT = Path(__file__).resolve().parent / "requests.lua"


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured; latencies in microseconds, exact (from wrk's histogram)."""

    requests: int  # responses received within the duration ("answered")
    duration_s: float
    sent: int  # requests handed to sockets (answered + in flight at the end, + 1: see docs)
    ok: int  # answers that passed the check for their kind
    unexpected_status: int
    fallback: int  # 302s to a landing page instead of the token's destination
    bad_body: int
    errors_connect: int
    errors_read: int
    errors_write: int
    errors_timeout: int
    errors_status: int  # wrk's own count of non-2xx/3xx answers
    p50_us: float
    p90_us: float
    p99_us: float
    p999_us: float
    mean_us: float
    max_us: float
    distinct_requests: int
    cursor: int = 0  # the line the first thread stopped at: where the next run should start
    core_busy: dict[int, float] = dataclasses.field(default_factory=dict)  # core -> 0..1
    # CPU time over wall time, per watched process group ("server", "redis") and "wrk".
    cpu: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def requests_per_cpu_s(self) -> float | None:
        """Answers per CPU-second of the server side (server + redis): what one full core
        would give. Unlike req/s it holds when other processes take part of the core."""
        server_side = self.cpu.get("server", 0.0) + self.cpu.get("redis", 0.0)
        return self.requests_per_s / server_side if server_side > 0 else None

    @property
    def connection_errors(self) -> int:
        return self.errors_connect + self.errors_read + self.errors_write + self.errors_timeout

    @property
    def invalid_answers(self) -> int:
        return self.unexpected_status + self.fallback + self.bad_body


class WrkError(RuntimeError):
    pass


def wrk_command(
    url: str,
    requests_file: Path,
    kind: str,
    duration_s: int,
    connections: int,
    core: int | None,
    start: int = 0,
) -> list[str]:
    """One thread, `connections` connections, exact latencies, the Lua script and its args."""
    pin = ["taskset", "-c", str(core)] if core is not None else []
    load = [f"-c{connections}", f"-d{duration_s}s", "--latency", "--timeout", "5s"]
    script = ["-s", str(SCRIPT), url, "--", str(requests_file), kind, str(start)]
    return [*pin, "wrk", "-t1", *load, *script]


def parse_done(output: str) -> WrkResult:
    """Read the `@@ key=value` lines `requests.lua`'s done() prints."""
    values: dict[str, float] = {}
    for line in output.splitlines():
        if line.startswith("@@ ") and "=" in line:
            key, _, value = line[3:].partition("=")
            values[key.strip()] = float(value)
    try:
        return WrkResult(
            requests=int(values["requests"]),
            duration_s=values["duration_us"] / 1e6,
            sent=int(values["sent"]),
            ok=int(values["ok"]),
            unexpected_status=int(values["unexpected_status"]),
            fallback=int(values["fallback"]),
            bad_body=int(values["bad_body"]),
            errors_connect=int(values["errors_connect"]),
            errors_read=int(values["errors_read"]),
            errors_write=int(values["errors_write"]),
            errors_timeout=int(values["errors_timeout"]),
            errors_status=int(values["errors_status"]),
            p50_us=values["p50_us"],
            p90_us=values["p90_us"],
            p99_us=values["p99_us"],
            p999_us=values["p999_us"],
            mean_us=values["latency_mean_us"],
            max_us=values["latency_max_us"],
            distinct_requests=int(values["distinct_requests"]),
            cursor=int(values.get("cursor", 0)),
        )
    except KeyError as exc:
        raise WrkError(f"wrk printed no {exc.args[0]!r}: {output[-800:]}") from None


def run_wrk(
    command: list[str],
    output_file: Path | None,
    timeout_s: float,
    meters: Mapping[str, Callable[[], float]] | None = None,
) -> WrkResult:
    """Run wrk to completion, save its output and parse it; note each core's load and the
    CPU share of wrk and of each `meters` entry (a reader of CPU seconds used so far)."""
    meters = meters or {}
    cores_before, used_before = core_times(), {name: read() for name, read in meters.items()}
    children_before, started = _children_cpu_s(), time.monotonic()
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    wall_s = time.monotonic() - started
    cpu = {name: (read() - used_before[name]) / wall_s for name, read in meters.items()}
    cpu["wrk"] = (_children_cpu_s() - children_before) / wall_s
    busy = core_busy(cores_before, core_times())
    output = completed.stdout + completed.stderr
    if output_file is not None:
        output_file.write_text(f"$ {' '.join(command)}\n{output}")
    if completed.returncode != 0:
        raise WrkError(f"wrk exited {completed.returncode}: {output[-800:]}")
    return dataclasses.replace(parse_done(output), core_busy=busy, cpu=cpu)


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
