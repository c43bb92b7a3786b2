"""End-to-end latency: from the click answered by the edge to its signed webhook received,
at a sustained click rate (1,000/s by default; target p99 < 500 ms).

    .venv/bin/python -m bench.e2e [--rate 1000] [--seconds 20] [--brands 4] [--connections 64]
                                  [--modes per-event,batched] [--edge-workers 1] [--seed N]
    BENCH_QUICK=1 .venv/bin/python -m bench.e2e              # 5 s (what `--quick` runs)

Every role is a separate process, as `tracer up` runs them: a private redis-server,
`tracer edge --workers 1`, `tracer batcher` (SQLite store), `tracer dispatcher`, and the
verifying receiver of the dispatcher benchmark (`python -m bench.dispatcher --role
receiver`: aiohttp, checks every Standard Webhooks signature, records `receipt time -
event.ts` per event). The brands file has `--brands` brands whose only webhook points at the
receiver, for clicks, with `allow_private = true` (loopback) and `include_bots = true`, so
that every click is delivered whatever its verdict. Each webhook mode (one event per
request; batches of up to 50 events or 50 ms) is measured on a fresh deployment.

The load is open-loop: a lean HTTP/1.1 client in this process (asyncio, uvloop) sends each
click at its scheduled time (`i / rate`), whether earlier answers came back or not, over at
most `--connections` keep-alive connections, each click with its own token (made with the
run's key ring), user agent and client address from the benchmark's mix. Each answer is
checked (a 302 to the link's own page). A one-second warm-up at the same rate is delivered
and discarded before the measured run.

The latency is `receipt time at the receiver - event.ts`, where `ts` is the edge's clock
when it handled the click (it answers right after, nothing on the response path waits for
I/O). The floor printed next to it, measured in the same run: signed POSTs straight from
this process to the same receiver at the same rate, `ts` = when sent (no queue, no store).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ctypes
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import uvloop

from bench.lean_http import Connection
from bench.wrk.agents import CLICK_AGENTS
from bench.wrk.cpu import process_cpu_s, session_cpu_s
from bench.wrk.workload import CAMPAIGNS, CITIES, DEFAULT_SOURCES, JOB_TITLES
from tracer.brands import Brands, parse_brands
from tracer.events import Event, EventIds
from tracer.keyring import KeyRing, new_keyring, write_keyring
from tracer.links import LinkBuilder
from tracer.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent
TARGET_P99_MS = 500.0
WARMUP_S = 1.0
PR_SET_PDEATHSIG = 1


# --- the deployment under test ----------------------------------------------------------------
@dataclass(frozen=True)
class Mode:
    """How the brands' webhooks deliver: one event per request, or batches."""

    label: str
    batch_max_events: int = 1
    batch_max_wait_ms: int = 0


PER_EVENT = Mode("one event per webhook request")
BATCHED = Mode("batches of up to 50 events or 50 ms", 50, 50)
MODES = {"per-event": PER_EVENT, "batched": BATCHED}


def brands_toml(count: int, hook_url: str, secret: str, mode: Mode) -> str:
    blocks = []
    for n in range(count):
        blocks.append(
            f'[[brands]]\nid = "e2e-{n}"\nname = "E2E Jobs {n}"\n'
            f'hosts = ["t.e2e-{n}.example"]\nlanding_url = "https://e2e-{n}.example/"\n\n'
            f'[[brands.webhooks]]\nurl = "{hook_url}"\nsecret = "{secret}"\n'
            'events = ["click"]\nallow_private = true\ninclude_bots = true\n'
            f"max_concurrency = 64\nbatch_max_events = {mode.batch_max_events}\n"
            f"batch_max_wait_ms = {mode.batch_max_wait_ms}\n"
        )
    return "\n".join(blocks)


@dataclass
class Role:
    name: str
    process: subprocess.Popen[bytes]
    cpu_at_start: float = 0.0

    def cpu_s(self) -> float:
        # Each role runs in its own session: granian's main process and its worker count.
        return session_cpu_s(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class Deployment:
    """Redis, the receiver, the edge, the batcher and the dispatcher, started and stopped
    in pipeline order (front first on the way down)."""

    def __init__(
        self,
        directory: Path,
        brands: int,
        edge_workers: int,
        mode: Mode,
        keyring: KeyRing,
        receiver: str = "aiohttp",
    ) -> None:
        directory.mkdir(parents=True)
        self.directory = directory
        self.redis = RedisServer(directory / "redis", persistent=False)
        self.secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.receiver_port, self.edge_port = free_port(), free_port()
        self.hook_url = f"http://127.0.0.1:{self.receiver_port}/hook"
        config = directory / "brands.toml"
        config.write_text(brands_toml(brands, self.hook_url, self.secret, mode))
        write_keyring(keyring, directory / "keyring.json")
        self.mode = mode
        self.edge_workers = edge_workers
        self.receiver = receiver
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TRACER_")},
            "TRACER_CONFIG": str(config),
            "TRACER_KEYS": str(directory / "keyring.json"),
            "TRACER_DATA_DIR": str(directory / "var"),
            "TRACER_EDGE_HOST": "127.0.0.1",
            "TRACER_EDGE_PORT": str(self.edge_port),
            "TRACER_LOG_LEVEL": "WARNING",
            "TRACER_BATCHER_METRICS_PORT": "0",
            "TRACER_DISPATCHER_METRICS_PORT": "0",
        }
        self.env.pop("MONGODB_URL", None)
        self.roles: list[Role] = []

    def start(self) -> None:
        self.redis.start()
        self.redis_pid = self.redis.process.pid if self.redis.process else 0
        self.env["REDIS_URL"] = self.redis.url
        self._spawn(
            "receiver",
            [
                sys.executable,
                "-m",
                "bench.receivers",
                "--kind",
                self.receiver,
                "--port",
                str(self.receiver_port),
                "--secret",
                self.secret,
            ],
        )
        _wait_until(lambda: _get_json(self.stats_url) is not None, "the receiver")
        self._spawn(
            "edge", [sys.executable, "-m", "cli", "edge", "--workers", str(self.edge_workers)]
        )
        self._spawn("batcher", [sys.executable, "-m", "cli", "batcher"])
        self._spawn("dispatcher", [sys.executable, "-m", "cli", "dispatcher"])
        _wait_until(lambda: _status(f"{self.edge_url}/readyz") == 200, "the edge")

    def _spawn(self, name: str, command: list[str]) -> None:
        log = (self.directory / f"{name}.log").open("ab")
        process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        log.close()
        self.roles.append(Role(name, process))

    def stop(self) -> None:
        for name in ("edge", "batcher", "dispatcher", "receiver"):
            for role in self.roles:
                if role.name == name:
                    role.stop()
        self.redis.stop()

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.edge_port}"

    @property
    def stats_url(self) -> str:
        return f"http://127.0.0.1:{self.receiver_port}/stats"

    def receiver_stats(self) -> dict:
        return _get_json(self.stats_url) or {}

    def reset_receiver(self) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.receiver_port}/reset", method="POST"
        )
        urllib.request.urlopen(request, timeout=5).close()

    def cpu_snapshot(self) -> dict[str, float]:
        snapshot = {role.name: role.cpu_s() for role in self.roles}
        snapshot["redis"] = process_cpu_s(self.redis_pid)
        snapshot["load generator (this process)"] = time.process_time()
        return snapshot


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it if the benchmark dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return json.loads(answer.read())
    except OSError:
        return None


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status
    except OSError:
        return 0


def _wait_until(condition, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start in {timeout_s:.0f}s")
        time.sleep(0.05)


# --- the clicks ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Click:
    path: str
    host: str
    destination: str
    user_agent: str
    address: str


def make_clicks(brands: Brands, keyring: KeyRing, count: int, seed: int) -> list[Click]:
    """`count` clicks, each on its own link (own token), over the brands, with varied job
    pages, campaigns, job sources, recipients, user agents and client addresses."""
    rng = random.Random(seed)
    builder = LinkBuilder(brands, keyring)
    brands = list(brands)
    weights = [agent.weight for agent in CLICK_AGENTS]
    clicks = []
    for n in range(count):
        brand = brands[n % len(brands)]
        url = (
            f"{brand.landing_url}jobs/{rng.choice(JOB_TITLES)}-{rng.choice(CITIES)}"
            f"-{rng.randrange(10**6)}"
        )
        link = builder.click(
            brand.id,
            f"e2e-{seed}-{n}",
            url,
            recipient=f"r{rng.getrandbits(40):x}@example.com",
            campaign=rng.choice(CAMPAIGNS),
            job_source=rng.choice(DEFAULT_SOURCES),
            link=1 + n % 6,
        )
        agent = rng.choices(CLICK_AGENTS, weights=weights)[0]
        host, _, path = link.removeprefix("https://").partition("/")
        clicks.append(Click("/" + path, host, url, agent.user_agent(rng), agent.address(rng)))
    return clicks


@dataclass
class Drive:
    """What the client saw: answers, bad answers, errors, and latency from schedule."""

    sent: int = 0
    answered: int = 0
    bad: int = 0
    errors: int = 0
    latencies_s: list[float] = field(default_factory=list)
    behind_s: float = 0.0  # how late the client was, at worst, to send on schedule
    send_s: float = 0.0  # from the first scheduled send to the last send
    wall_s: float = 0.0  # until the last answer


def raw_request(click: Click) -> bytes:
    return (
        f"GET {click.path} HTTP/1.1\r\nHost: {click.host}\r\nUser-Agent: {click.user_agent}"
        f"\r\nX-Forwarded-For: {click.address}\r\nAccept: text/html,*/*;q=0.8\r\n"
        "Accept-Language: en-US,en;q=0.9\r\n\r\n"
    ).encode("latin-1")


async def drive(port: int, clicks: Sequence[Click], rate: float, connections: int) -> Drive:
    """Send `clicks` at `rate`/s on schedule (open loop) over at most `connections`
    keep-alive connections, and check every answer (a 302 to the link's own page)."""
    loop = asyncio.get_running_loop()
    result = Drive()
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    opened = 0

    async def connection() -> Connection:
        nonlocal opened
        if idle.empty() and opened < connections:
            opened += 1
            _, protocol = await loop.create_connection(Connection, "127.0.0.1", port)
            return protocol
        return await idle.get()

    async def one(click: Click, raw: bytes, due: float) -> None:
        nonlocal opened
        conn = await connection()
        try:
            status, head = await conn.request(raw)
        except (OSError, TimeoutError):
            result.errors += 1
            if conn.transport is not None:
                conn.transport.close()
            opened -= 1
            return
        result.latencies_s.append(loop.time() - due)
        location = head.partition(b"\r\nlocation: ")[2].partition(b"\r\n")[0]
        good = status == 302 and location.partition(b"?")[0] == click.destination.encode()
        result.answered += good
        result.bad += not good
        idle.put_nowait(conn)

    requests = [raw_request(click) for click in clicks]
    tasks = []
    start = loop.time() + 0.01
    for index, click in enumerate(clicks):
        due = start + index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            result.behind_s = max(result.behind_s, -delay)
        tasks.append(asyncio.create_task(one(click, requests[index], due)))
        result.sent += 1
    result.send_s = loop.time() - start
    await asyncio.gather(*tasks)
    result.wall_s = loop.time() - start
    while not idle.empty():
        conn = idle.get_nowait()
        if conn.transport is not None:
            conn.transport.close()
    return result


async def direct_posts(hook_url: str, secret: str, count: int, rate: float) -> int:
    """The floor: signed webhook POSTs straight to the receiver, on schedule, `ts` = when
    sent (the receiver measures receipt - ts exactly as for the pipeline's)."""
    import aiohttp

    from dispatcher.payload import message
    from dispatcher.signing import STATIC_HEADERS, Signer

    signer, ids = Signer([secret]), EventIds()
    loop = asyncio.get_running_loop()
    failures = 0

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        nonlocal failures
        now = time.time()
        event = Event(
            id=ids.next(now),
            type="click",
            ts=now,
            brand="e2e-0",
            message_id=f"floor-{n}",
            url="https://e2e-0.example/jobs/1",
            ua="Mozilla/5.0",
            ip="203.0.113.0",
        )
        msg_id, body = message([event], batched=False)
        headers = {**STATIC_HEADERS, **signer.headers(msg_id, body)}
        try:
            async with session.post(hook_url, data=body, headers=headers) as response:
                await response.read()
                failures += response.status >= 300
        except aiohttp.ClientError:
            failures += 1

    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:
        start, tasks = loop.time(), []
        for n in range(count):
            delay = start + n / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session, n)))
        await asyncio.gather(*tasks)
    return failures


class QueueSampler(threading.Thread):
    """Samples, every 100 ms, how many events wait for the batcher and how many webhook
    jobs wait for the dispatcher: where a growing latency comes from."""

    def __init__(self, redis_url: str, shards: int = 8) -> None:
        super().__init__(daemon=True)
        self.redis_url, self.shards = redis_url, shards
        self.max_events = self.max_webhooks = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        import redis

        from tracer import redis_keys

        client = redis.Redis.from_url(self.redis_url)
        try:
            while not self.stopped.wait(0.1):
                pipe = client.pipeline(transaction=False)
                for n in range(self.shards):
                    pipe.llen(redis_keys.event_shard(n))
                for n in range(self.shards):
                    pipe.llen(redis_keys.webhook_shard(n))
                depths = pipe.execute()
                self.max_events = max(self.max_events, sum(depths[: self.shards]))
                self.max_webhooks = max(self.max_webhooks, sum(depths[self.shards :]))
        finally:
            client.close()

    def stop(self) -> dict[str, int]:
        self.stopped.set()
        self.join()
        return {"events": self.max_events, "webhooks": self.max_webhooks}


def wait_for_deliveries(deployment: Deployment, expected: int, settle_s: float = 10.0) -> dict:
    """Receiver stats once `expected` events arrived, or when none arrived for `settle_s`."""
    stats, last, last_change = deployment.receiver_stats(), -1, time.monotonic()
    deadline = time.monotonic() + 120
    while stats.get("events", 0) < expected and time.monotonic() < deadline:
        if stats.get("events", 0) != last:
            last, last_change = stats.get("events", 0), time.monotonic()
        elif time.monotonic() - last_change > settle_s:
            break
        time.sleep(0.1)
        stats = deployment.receiver_stats()
    return stats


# --- the run ---------------------------------------------------------------------------------
@dataclass
class Result:
    mode: Mode
    drive: Drive
    delivered: dict
    floor: dict
    cpu: dict[str, float]
    queues: dict[str, int]
    load: str


def percentile(values: Sequence[float], point: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(point / 100 * len(ordered)))] if ordered else 0.0


def measure(args: argparse.Namespace, deployment: Deployment, clicks: list[Click]) -> Result:
    """Floor, warm-up, then the measured run, on a started deployment."""
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    warmup = int(args.rate * WARMUP_S)
    print("  floor: signed POSTs straight to the receiver ...", flush=True)
    floor_count = int(args.rate * min(args.seconds, 3.0))
    floor_failures = uvloop.run(
        direct_posts(deployment.hook_url, deployment.secret, floor_count, args.rate)
    )
    floor = wait_for_deliveries(deployment, floor_count) | {"failures": floor_failures}
    deployment.reset_receiver()
    print(f"  warm-up: {warmup:,} clicks in {WARMUP_S:g}s ...", flush=True)
    port, connections = deployment.edge_port, args.connections
    warm = uvloop.run(drive(port, clicks[:warmup], args.rate, connections))
    wait_for_deliveries(deployment, warm.answered)
    deployment.reset_receiver()
    print(f"  measuring: {len(clicks) - warmup:,} clicks at {args.rate:g}/s ...", flush=True)
    sampler = QueueSampler(deployment.redis.url)
    cpu_before, started = deployment.cpu_snapshot(), time.monotonic()
    sampler.start()
    result = uvloop.run(drive(port, clicks[warmup:], args.rate, connections))
    delivered = wait_for_deliveries(deployment, result.answered + result.bad)
    cpu_after, elapsed = deployment.cpu_snapshot(), time.monotonic() - started
    queues = sampler.stop()
    cpu = {name: (cpu_after[name] - cpu_before[name]) / elapsed for name in cpu_after}
    return Result(deployment.mode, result, delivered, floor, cpu, queues, load)


def run(args: argparse.Namespace, directory: Path) -> list[Result]:
    keyring = new_keyring()
    brands = parse_brands(brands_toml(args.brands, "http://127.0.0.1/", "whsec_" + "A" * 32,
                                      PER_EVENT))  # fmt: skip
    total = int(args.rate * (WARMUP_S + args.seconds))
    print(f"  making {total:,} distinct click links ...", flush=True)
    clicks = make_clicks(brands, keyring, total, seed=args.seed)
    results = []
    for name in args.modes:
        mode = MODES[name]
        print(f"  webhooks: {mode.label}", flush=True)
        deployment = Deployment(
            directory / name, args.brands, args.edge_workers, mode, keyring, args.receiver
        )
        try:
            deployment.start()
            results.append(measure(args, deployment, clicks))
        finally:
            deployment.stop()
    return results


def target_met(result: Result) -> bool:
    p99 = result.delivered.get("latency_ms", {}).get("p99")
    delivered = result.delivered.get("events", 0)
    return p99 is not None and p99 < TARGET_P99_MS and delivered >= result.drive.answered > 0


def render(results: list[Result], args: argparse.Namespace) -> str:
    lines = [
        "",
        "End-to-end: click answered by the edge -> signed webhook received",
        f"  {args.edge_workers} edge worker(s), 1 batcher (SQLite), 1 dispatcher, {args.brands} "
        f"brands (one endpoint each), one verifying receiver ({args.receiver}); "
        f"{os.cpu_count()} CPU(s), nothing pinned",
        f"  offered {args.rate:,.0f} clicks/s for {args.seconds:g}s, open loop, every click its "
        "own token; latency in ms",
    ]
    for result in results:
        lines += render_one(result, args)
    return "\n".join(lines) + "\n"


def render_one(result: Result, args: argparse.Namespace) -> list[str]:
    drive, delivered = result.drive, result.delivered
    latency = delivered.get("latency_ms", {})
    client = {f"p{p:g}": percentile(drive.latencies_s, p) * 1000 for p in (50, 90, 99)}
    client["max"] = max(drive.latencies_s, default=0.0) * 1000
    achieved = drive.sent / drive.send_s if drive.send_s else 0.0
    events = delivered.get("events", 0)

    def row(label: str, values: dict) -> str:
        cells = "".join(
            f"{values.get(k, float('nan')):>9.1f}" for k in ("p50", "p90", "p99", "max")
        )
        return f"  {label:<54}{cells}"

    behind = drive.behind_s > 0.05
    return [
        "",
        f"webhooks: {result.mode.label} (load average at start {result.load})",
        f"  clicks sent {drive.sent:,} at {achieved:,.0f}/s, answered right {drive.answered:,}, "
        f"wrong {drive.bad:,}, connection errors {drive.errors:,}"
        + (f"; the client fell {drive.behind_s * 1000:.0f} ms behind schedule" if behind else ""),
        f"  webhooks received: {events:,} events in {delivered.get('count', 0):,} requests, "
        f"{delivered.get('bad', 0)} bad signatures: {events / max(drive.answered, 1):.1%} of "
        "the clicks answered",
        f"  {'':<54}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}",
        row("edge answered (event.ts) -> webhook received", latency),
        row("floor: signed POST straight to the receiver", result.floor.get("latency_ms", {})),
        row("click answer seen by the client, from its schedule", client),
        f"  target p99 < {TARGET_P99_MS:.0f} ms, every answered click delivered: "
        f"{'PASS' if target_met(result) else 'FAIL'}",
        f"  most waiting at once (sampled every 100 ms): {result.queues['events']:,} events for "
        f"the batcher, {result.queues['webhooks']:,} webhook jobs for the dispatcher",
        "  CPU, share of one core: "
        + ", ".join(f"{name} {share:.0%}" for name, share in result.cpu.items()),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    quick = os.environ.get("BENCH_QUICK") == "1"
    default_s = float(os.environ.get("BENCH_DURATION_S") or (5 if quick else 20))
    parser = argparse.ArgumentParser(
        prog="python -m bench.e2e",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="clicks per second")
    parser.add_argument("--seconds", type=float, default=default_s, help="measured duration")
    parser.add_argument("--brands", type=int, default=4, help="brands (one endpoint each)")
    parser.add_argument("--edge-workers", type=int, default=1)
    parser.add_argument("--connections", type=int, default=64, help="client connections, max")
    parser.add_argument("--seed", type=int, default=None, help="seed of the clicks' mix")
    parser.add_argument(
        "--receiver", choices=["aiohttp", "fast"], default="aiohttp",
        help="the webhook receiver (bench.receivers): an aiohttp application (default) or a "
        "bare asyncio one that verifies the same way for a fraction of the CPU",
    )  # fmt: skip
    parser.add_argument(
        "--modes", default="per-event,batched",
        help="webhook delivery modes to measure, each on a fresh deployment: per-event "
        "(one event per request) and/or batched (up to 50 events or 50 ms) (default: both)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.modes = [name.strip() for name in args.modes.split(",") if name.strip()]
    unknown = [name for name in args.modes if name not in MODES]
    if unknown:
        parser.error(f"--modes: {unknown} not in {list(MODES)}")
    args.seed = args.seed if args.seed is not None else random.randrange(2**31)
    print(f"  seed {args.seed} (repeat with --seed {args.seed})", flush=True)
    with tempfile.TemporaryDirectory(prefix="tracer-bench-e2e-") as directory:
        results = run(args, Path(directory))
    sys.stdout.write(render(results, args))
    # Like the other benchmarks: a missed target is reported, a broken run fails.
    broken = [r for r in results if not r.drive.answered or not r.delivered.get("events")]
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
