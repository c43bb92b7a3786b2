"""The edge benchmark: wrk against `tracer edge` and its baselines, same machine, same run.

    python -m bench --only edge [--duration 10s] [--quick] [--rounds 2]

Each target runs as one worker pinned to the server core (with the private redis-server);
wrk runs with one thread and 64 connections on the client core. Every measurement starts a
fresh server, warms it up, measures, then stops it gracefully and counts the events it left in
Redis. The targets run interleaved (A B C D A B C D …) and the table shows the medians.
Methodology and how to read the table: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import redis

from bench.baselines.launch import bare_granian, flask_celery, nginx
from bench.baselines.servers import REPO, PinnedRedis, ServerSpec, serving, wait_ready
from bench.wrk import WrkError, run_wrk, wrk_command
from bench.wrk.agents import CLICK_AGENTS, OPEN_AGENTS
from bench.wrk.cpu import process_cpu_s, session_cpu_s
from bench.wrk.machine import machine_description
from bench.wrk.report import (
    Measurement,
    ReportLayout,
    load_run,
    render_report,
)
from bench.wrk.workload import (
    generate_links,
    plan_batches,
    request_lines,
    write_requests,
)
from tracer import revocations
from tracer.brands import Brand, load_brands
from tracer.hits import hits_in
from tracer.redis_keys import REVOCATIONS, event_shard
from tracer.redis_server import free_port
from tracer.settings import DEFAULT_CONFIG, load_settings

BIN = Path(sys.executable).parent
OUT = REPO / "bench" / "out"
CELERY_QUEUE = "celery"  # the Redis list Celery's default queue lives in
LINK_BRANDS = 8  # brands the links are spread over
LINK_BATCHES = 24  # `tracer link` runs per scenario (distinct brand/job/campaign/source)
SETTLE_S = 0.3  # for the warm-up's last events to reach Redis (the edge flushes every 2 ms)


@dataclass(frozen=True)
class Options:
    duration_s: int = 10
    warmup_s: int = 2
    rounds: int = 2
    connections: int = 64
    links: int = 100_000
    server_core: int | None = 0
    client_core: int | None = 1
    flask_worker_class: str = "sync"
    targets: tuple[str, ...] = ()
    out_dir: Path = OUT


@dataclass
class Bench:
    """What the measurements of one run share."""

    options: Options
    workdir: Path
    out_dir: Path
    redis_url: str
    redis_pid: int
    store: redis.Redis
    tracer_env: dict[str, str]
    requests_files: dict[str, Path] = field(default_factory=dict)
    first_host: str = "localhost"
    edge_available: bool = False


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    kind: str  # which requests file, and which check wrk applies: "click" or "open"
    spec: Callable[[Bench, int], ServerSpec]
    events: Callable[[redis.Redis], int] | None = None  # what it leaves in Redis per request
    is_edge: bool = False


# --- the targets --------------------------------------------------------------------------
def edge_spec(bench: Bench, port: int) -> ServerSpec:
    return ServerSpec(
        argv=[str(BIN / "tracer"), "edge", "--workers", "1"],
        cwd=bench.workdir,
        env={
            **bench.tracer_env,
            "TRACER_EDGE_HOST": "127.0.0.1",
            "TRACER_EDGE_PORT": str(port),
            "REDIS_URL": bench.redis_url,
        },
        ready_path="/healthz",
    )


@functools.cache
def queue_shards() -> int:
    """As many shards as the edge spreads its events over (TRACER_QUEUE_SHARDS, default 8)."""
    return load_settings().queue_shards


def edge_events(store: redis.Redis) -> int:
    """Events waiting in the queue: the hits of every entry of every shard (an entry is one
    flush's hit batch; its array header counts its hits)."""
    return sum(
        hits_in(raw)
        for shard in range(queue_shards())
        for raw in store.lrange(event_shard(shard), 0, -1)
    )


def celery_messages(store: redis.Redis) -> int:
    return int(store.llen(CELERY_QUEUE))


# Rules per brand of the benchmark's links in the "with revocation rules" run: none of them
# matches a link, so every click pays the whole check (brand, campaign, message, host and
# the domains above it), which is the most a click that is not revoked can cost.
REVOCATION_RULES_PER_KIND = 100


def edge_with_revocations_spec(bench: Bench, port: int) -> ServerSpec:
    """The edge, with revocation rules in Redis for every brand the links belong to."""
    entries = {}
    for brand in link_brands():
        for n in range(REVOCATION_RULES_PER_KIND):
            for kind, value in (("campaign", f"revoked-{n}"), ("message_id", f"revoked-{n}"),
                                ("destination_host", f"phish-{n}.example")):  # fmt: skip
                rule = revocations.new_rule(brand.id, kind, value, source="cli")
                field_name, encoded = revocations.hash_entry(rule)
                entries[field_name] = encoded
    bench.store.hset(REVOCATIONS, mapping=entries)
    return edge_spec(bench, port)


def _granian(bench: Bench, port: int) -> ServerSpec:
    return bare_granian(BIN, port)


def _nginx(bench: Bench, port: int) -> ServerSpec:
    return nginx(bench.workdir / f"nginx-{port}", port)


def _flask(bench: Bench, port: int) -> ServerSpec:
    return flask_celery(BIN, port, bench.redis_url, bench.options.flask_worker_class)


TARGETS: tuple[Target, ...] = (
    Target("edge-click", "tracer edge /c/ (click)", "click", edge_spec, edge_events, True),
    Target("edge-open", "tracer edge /o/ (open)", "open", edge_spec, edge_events, True),
    Target(
        "edge-click-revocations",
        f"tracer edge /c/, {3 * REVOCATION_RULES_PER_KIND} revocation rules a brand",
        "click",
        edge_with_revocations_spec,
        edge_events,
        True,
    ),
    Target("granian", "bare granian ASGI 302", "click", _granian),
    Target("nginx", "nginx return 302", "click", _nginx),
    Target("flask", "Flask+gunicorn+Celery .delay()", "click", _flask, celery_messages),
)
TARGET_KEYS = tuple(target.key for target in TARGETS)


# --- options ------------------------------------------------------------------------------
def parse_duration(text: str) -> int:
    """`10s`, `1m`, `90` -> whole seconds (what wrk takes)."""
    text = text.strip().lower()
    factor = 60 if text.endswith("m") else 1
    try:
        seconds = int(float(text.rstrip("sm")) * factor)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 10s or 1m") from None
    if seconds < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: at least 1s")
    return seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("edge benchmark")
    group.add_argument("--duration", type=parse_duration, help="per measured run (default 10s)")
    group.add_argument("--quick", action="store_true", help="3s runs, 1s warm-up, one round")
    group.add_argument("--rounds", type=int, help="interleaved rounds; median shown (default 2)")
    group.add_argument("--connections", type=int, default=64, help="wrk -c (default 64)")
    group.add_argument("--links", type=int, default=100_000, help="distinct links per scenario")
    group.add_argument("--server-core", type=int, default=0)
    group.add_argument("--client-core", type=int, default=1)
    group.add_argument("--flask-worker-class", choices=("sync", "gthread"), default="sync")
    group.add_argument("--targets", default="", help=f"subset of {','.join(TARGET_KEYS)}")


def options_from_args(args: argparse.Namespace) -> Options:
    targets = tuple(key for key in args.targets.split(",") if key)
    unknown = sorted(set(targets) - set(TARGET_KEYS))
    if unknown:
        raise SystemExit(f"error: unknown target(s) {unknown}; choose from {list(TARGET_KEYS)}")
    cores = os.cpu_count() or 1
    pin = cores > max(args.server_core, args.client_core) and shutil.which("taskset") is not None
    if not pin:
        print(f"WARNING: {cores} core(s) or no taskset: server and wrk are NOT pinned", flush=True)
    return Options(
        duration_s=args.duration or (3 if args.quick else 10),
        warmup_s=1 if args.quick else 2,
        rounds=args.rounds or (1 if args.quick else 2),
        connections=args.connections,
        links=args.links,
        server_core=args.server_core if pin else None,
        client_core=args.client_core if pin else None,
        flask_worker_class=args.flask_worker_class,
        targets=targets,
    )


# --- inputs -------------------------------------------------------------------------------
def tracer_environment(workdir: Path) -> dict[str, str]:
    """Env for `tracer link` and `tracer edge`: one TRACER_DATA_DIR, so they share the dev key
    ring generated there (TRACER_KEYS unset); the default brands unless TRACER_CONFIG says."""
    env = {key: value for key, value in os.environ.items() if key != "TRACER_KEYS"}
    env["TRACER_DATA_DIR"] = str(workdir / "var")
    return env


def edge_available() -> bool:
    probe = subprocess.run([str(BIN / "tracer"), "edge", "--help"], capture_output=True)
    return probe.returncode == 0


def link_brands() -> list[Brand]:
    return list(load_brands(os.environ.get("TRACER_CONFIG") or DEFAULT_CONFIG))[:LINK_BRANDS]


def prepare_requests(bench: Bench, brands: Sequence[Brand]) -> None:
    """Per scenario, `options.links` distinct links, each with a user agent and an address."""
    for kind, agents in (("click", CLICK_AGENTS), ("open", OPEN_AGENTS)):
        started = time.monotonic()
        batches = plan_batches(kind, bench.options.links, brands, LINK_BATCHES)
        parallel = os.cpu_count() or 1
        urls = generate_links(batches, BIN / "tracer", bench.workdir, bench.tracer_env, parallel)
        path = bench.workdir / f"requests-{kind}.tsv"
        count = write_requests(path, request_lines(urls, agents, seed=kind))
        elapsed = time.monotonic() - started
        print(
            f"  {count:,} {kind} requests: {len(set(urls)):,} distinct links from "
            f"{len(batches)} `tracer link {kind} --count N` runs ({elapsed:.1f}s)",
            flush=True,
        )
        bench.requests_files[kind] = path


# --- measuring ----------------------------------------------------------------------------
def measure(bench: Bench, target: Target, round_no: int) -> Measurement:
    """Fresh server, warm-up, one measured wrk run, graceful stop, then count the events."""
    options = bench.options
    bench.store.flushdb()
    port = free_port()
    stem = f"r{round_no}-{target.key}"
    url = f"http://127.0.0.1:{port}"
    measurement = Measurement(target.key, target.label, round_no)

    wrk = functools.partial(
        wrk_command, url, bench.requests_files[target.kind], target.kind,
        connections=options.connections, core=options.client_core,
    )  # fmt: skip
    log = bench.out_dir / f"{stem}.server.log"
    with serving(target.spec(bench, port), log, options.server_core) as server:
        wait_ready(server, port, bench.first_host)
        warm_up = run_wrk(wrk(duration_s=options.warmup_s), None, options.warmup_s + 30)
        time.sleep(SETTLE_S)
        baseline = target.events(bench.store) if target.events else 0
        meters = {
            "server": lambda: session_cpu_s(server.process.pid),
            "redis": lambda: process_cpu_s(bench.redis_pid),
        }
        measurement.load_1m = os.getloadavg()[0]
        output = bench.out_dir / f"{stem}.wrk.txt"
        # Start where the warm-up stopped: the measured run must not replay warm-up tokens.
        command = wrk(duration_s=options.duration_s, start=warm_up.cursor)
        measurement.result = run_wrk(command, output, options.duration_s + 60, meters)
        measurement.graceful_stop = server.stop()
    if target.events:
        measurement.events = target.events(bench.store) - baseline
    return measurement


def measure_safely(bench: Bench, target: Target, round_no: int) -> Measurement:
    """`measure`, with a failure reported and recorded instead of ending the run."""
    print(f"  round {round_no}: {target.label} ...", end=" ", flush=True)
    try:
        measurement = measure(bench, target, round_no)
    except (RuntimeError, WrkError, OSError, redis.RedisError, subprocess.SubprocessError) as exc:
        print(f"FAILED: {exc}", flush=True)
        return Measurement(target.key, target.label, round_no, error=str(exc))
    result = measurement.result
    assert result is not None
    print(f"{result.requests_per_s:,.0f} req/s, p99 {result.p99_us / 1000:.2f} ms", flush=True)
    return measurement


def selected_targets(options: Options, with_edge: bool) -> list[Target]:
    chosen = [t for t in TARGETS if not options.targets or t.key in options.targets]
    return [t for t in chosen if with_edge or not t.is_edge]


def execute(bench: Bench) -> list[Measurement]:
    """Inputs first, then every target once per round, interleaved."""
    options = bench.options
    bench.edge_available = edge_available()
    if not bench.edge_available:
        print(
            "NOTE: `tracer edge --help` fails: the edge is not available yet, measuring the "
            "baselines only",
            flush=True,
        )
    targets = selected_targets(options, bench.edge_available)
    brands = link_brands()
    bench.first_host = brands[0].primary_host
    print(
        f"edge benchmark: {len(targets)} targets x {options.rounds} rounds, "
        f"{options.duration_s}s each after a {options.warmup_s}s warm-up, wrk -t1 "
        f"-c{options.connections}; server on core {options.server_core}, wrk on core "
        f"{options.client_core}; raw output in {bench.out_dir}",
        flush=True,
    )
    prepare_requests(bench, brands)
    return [
        measure_safely(bench, target, round_no)
        for round_no in range(1, options.rounds + 1)
        for target in targets
    ]


# --- reporting ----------------------------------------------------------------------------
def report(bench: Bench, measurements: list[Measurement]) -> str:
    """The report as text; it and every figure (summary.json) are saved in the run's dir."""
    options = bench.options
    layout = ReportLayout(
        options.rounds,
        options.duration_s,
        options.connections,
        options.server_core,
        options.client_core,
    )
    machine = machine_description()
    text = render_report(layout, measurements, machine, bench.edge_available)
    (bench.out_dir / "report.txt").write_text(text + "\n", encoding="utf-8")
    document = {
        "options": asdict(options),
        "edge_available": bench.edge_available,
        "machine": machine,
        "measurements": [asdict(m) for m in measurements],
    }
    summary_json = json.dumps(document, indent=2, default=str)
    (bench.out_dir / "summary.json").write_text(summary_json + "\n", encoding="utf-8")
    return text


def reprint(path: Path) -> int:
    """Print the report of an earlier run again, from its summary.json (or its directory)."""
    summary = path / "summary.json" if path.is_dir() else path
    document = json.loads(summary.read_text(encoding="utf-8"))
    layout, measurements = load_run(document)
    print(render_report(layout, measurements, document["machine"], document["edge_available"]))
    return 0


# --- entry points -------------------------------------------------------------------------
def run(options: Options) -> int:
    """Run the edge benchmark and print its report; 1 when a measurement failed."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out_dir = options.out_dir / f"edge-{stamp}"
    out_dir.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="tracer-bench-") as tmp,
        PinnedRedis(Path(tmp) / "redis", options.server_core) as redis_server,
        redis.Redis.from_url(redis_server.url) as store,
    ):
        workdir = Path(tmp)
        env = tracer_environment(workdir)
        assert redis_server.process is not None
        redis_pid = redis_server.process.pid
        bench = Bench(options, workdir, out_dir, redis_server.url, redis_pid, store, env)
        measurements = execute(bench)
        print("\n" + report(bench, measurements), flush=True)
    return 1 if any(m.error for m in measurements) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.edge", description=__doc__)
    add_arguments(parser)
    parser.add_argument("--report", type=Path, help="reprint the report of bench/out/edge-*")
    args = parser.parse_args(argv)
    if args.report:
        return reprint(args.report)
    return run(options_from_args(args))


if __name__ == "__main__":
    sys.exit(main())
