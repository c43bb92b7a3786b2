"""Dispatcher benchmark: signed webhooks delivered per second and CPU per 1,000 deliveries,
next to two baselines from the same run; then queue-to-receiver latency at a steady rate.

    .venv/bin/python -m bench.dispatcher [--jobs 20000] [--repeat 3] [--receiver fast|aiohttp]
                                         [--rate 1000] [--seconds 5]

Every process is separate, as in production: a private redis-server, a receiver that checks
every signature (`bench.receivers`), and `tracer dispatcher` itself (one process, endpoint
`max_concurrency = 64`). Jobs are queued before the dispatcher starts, so the throughput is
the dispatcher's, not the producer's. Scenarios, each a fresh child process:

- floor: a raw asyncio HTTP/1.1 client (no aiohttp) posting signed event bodies at the
  same concurrency: what the receiver and loopback can take. The dispatcher cannot beat it;
  if the others come near it, the receiver is the limit, not the sender.
- aiohttp ceiling: the dispatcher's own HTTP path (`dispatcher.endpoint.client_session`,
  `dispatcher.delivery.post` with its deadline, a signature per request) in a bare loop
  at the same concurrency: what this stack allows without queue, retries and bookkeeping.
- the dispatcher, one event per request, and batches of up to 50.

The scenarios run interleaved, `--repeat` rounds of A B C D, and the table shows medians
(and the spread of events/s): the machine is shared and noisy. events/s is the receiver's
count over its first-to-last receipt window. CPU per 1,000 is the child's own user+system
time (wait4) less what a run with nothing to send costs it (start-up and shutdown, measured
once per scenario), over the jobs. The receiver's CPU share over the run says whether it
was saturated (near 100 %: the receiver was the limit).

`--receiver aiohttp` (default) is an aiohttp application, `fast` a bare asyncio receiver
that verifies the same way for a fraction of the CPU (on two cores the aiohttp receiver
takes CPU the dispatcher would otherwise have); both verify every signature (see
`bench.receivers`).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.receivers import LatencyRecorder, event_latency_s
from dispatcher.queue import shard_for
from tracer import redis_keys
from tracer.events import Event, EventIds
from tracer.redis_server import RedisServer, free_port
from tracer.webhooks import WebhookJob, encode_job, endpoint_id

__all__ = ["LatencyRecorder", "event_latency_s", "make_event"]

ROOT = Path(__file__).resolve().parent.parent
BRAND = "benchjobs"
CONCURRENCY = 64
SHARDS = 8


def make_event(n: int, now: float, ids: EventIds | None = None) -> Event:
    """A click as the edge records it (realistic size: user agent, truncated IP, hash)."""
    return Event(
        id=(ids or EventIds()).next(now), type="click", ts=now, brand=BRAND,
        message_id=f"m-{n}", campaign="bench", job_source="indeed",
        recipient="rh_" + os.urandom(16).hex(), url="https://benchjobs.example/j/1",
        ua="Mozilla/5.0 (Windows NT 10.0; Win64; x64)", ip="203.0.113.0",
    )  # fmt: skip


# --- the baseline client processes -----------------------------------------------------------


def _shares(requests: int, concurrency: int) -> list[int]:
    shares = [requests // concurrency] * concurrency
    shares[0] += requests - sum(shares)
    return shares


def run_aiohttp_client(url: str, secret: str, requests: int, concurrency: int) -> int:
    """The dispatcher's HTTP path in a bare loop: its session, its `post`, one signature
    per request; no queue, no retries, no bookkeeping."""
    import asyncio

    import uvloop
    import yarl

    from dispatcher.deadlines import Deadlines
    from dispatcher.delivery import Disposition, post
    from dispatcher.endpoint import client_session
    from dispatcher.payload import message
    from dispatcher.signing import Signer
    from tracer.brands import Webhook

    hook = Webhook(url=url, secret=secret, allow_private=True, max_concurrency=concurrency)
    signer, target = Signer([secret]), yarl.URL(url)
    msg_id, body = message([make_event(0, time.time())], batched=False)

    deadlines = Deadlines()

    async def worker(session, share: int) -> int:
        failed = 0
        for _ in range(share):
            headers = signer.headers(msg_id, body)
            deadline = deadlines.within(hook.timeout_s)
            outcome = await post(session, target, body, headers, deadline)
            failed += outcome.disposition is not Disposition.DELIVERED
        return failed

    async def drive() -> int:
        timeouts = asyncio.create_task(deadlines.run())
        async with client_session(hook) as session:
            shares = _shares(requests, concurrency)
            failed = sum(await asyncio.gather(*(worker(session, share) for share in shares)))
        timeouts.cancel()
        return failed

    return 1 if uvloop.run(drive()) else 0


def run_raw_client(url: str, secret: str, requests: int, concurrency: int) -> int:
    """Signed POSTs over keep-alive connections with nothing but asyncio: the most the
    receiver and loopback take at this concurrency."""
    import asyncio

    import uvloop
    import yarl

    from bench.lean_http import Connection
    from dispatcher.payload import message
    from dispatcher.signing import Signer

    signer, target = Signer([secret]), yarl.URL(url)
    msg_id, body = message([make_event(0, time.time())], batched=False)
    start = f"POST {target.raw_path} HTTP/1.1\r\nhost: {target.host}:{target.port}\r\n"

    async def worker(share: int) -> int:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(Connection, target.host, target.port)
        failed = 0
        for _ in range(share):
            headers = signer.headers(msg_id, body)
            head = start + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            raw = f"{head}content-length: {len(body)}\r\n\r\n".encode() + body
            status, _ = await connection.send(raw)
            failed += not 200 <= status < 300
        assert connection.transport is not None
        connection.transport.close()
        return failed

    async def drive() -> int:
        return sum(await asyncio.gather(*(worker(n) for n in _shares(requests, concurrency))))

    return 1 if uvloop.run(drive()) else 0


# --- orchestration -------------------------------------------------------------------------


def process_cpu_s(pid: int) -> float:
    """User+system CPU seconds of a live process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, directory: Path, receiver: str = "aiohttp") -> None:
        self.directory = directory
        self.redis = RedisServer(directory / "redis", persistent=False).start()
        self.secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.receiver = subprocess.Popen(
            [sys.executable, "-m", "bench.receivers", "--kind", receiver,
             "--port", str(self.port), "--secret", self.secret],
            cwd=ROOT,
        )  # fmt: skip
        self._wait_for_receiver()
        import redis

        self.client = redis.Redis.from_url(self.redis.url)
        self.ids = EventIds()

    def close(self) -> None:
        self.client.close()
        self.receiver.terminate()
        self.receiver.wait()
        self.redis.stop()

    def _wait_for_receiver(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                self.stats()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the benchmark receiver did not start")

    def stats(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=5) as resp:
            return json.loads(resp.read())

    def reset(self) -> None:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/reset", method="POST")
        urllib.request.urlopen(request, timeout=5).close()

    def environment(self, **hook: object) -> dict[str, str]:
        config = self.directory / "brands.toml"
        lines = [
            "[[brands]]", f'id = "{BRAND}"', 'name = "Bench Jobs"',
            f'hosts = ["t.{BRAND}.example"]', f'landing_url = "https://{BRAND}.example/"',
            "[[brands.webhooks]]", f'url = "{self.url}"', f'secret = "{self.secret}"',
            f"max_concurrency = {CONCURRENCY}", "allow_private = true",
        ]  # fmt: skip
        lines += [f"{key} = {value}" for key, value in hook.items()]
        config.write_text("\n".join(lines) + "\n")
        return {
            **os.environ,
            "TRACER_CONFIG": str(config),
            "REDIS_URL": self.redis.url,
            "TRACER_QUEUE_SHARDS": str(SHARDS),
            "TRACER_DATA_DIR": str(self.directory / "var"),
            "TRACER_LOG_LEVEL": "WARNING",
            "TRACER_DISPATCHER_METRICS_PORT": "0",
        }

    def push(self, count: int) -> None:
        endpoint = endpoint_id(BRAND, self.url)
        # Where the batcher puts them: all jobs of an endpoint on one shard.
        shard = redis_keys.webhook_shard(shard_for(endpoint, SHARDS))
        with self.client.pipeline(transaction=False) as pipe:
            for n in range(count):
                now = time.time()
                event = make_event(n, now, self.ids)
                job = WebhookJob(event=event, brand=BRAND, endpoint=endpoint, enqueued=now)
                pipe.rpush(shard, encode_job(job))
            pipe.execute()

    def run_child(
        self, command: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT
    ) -> tuple[float, float, float]:
        """Run a child to completion: (wall seconds, CPU seconds of the child, CPU seconds
        of the receiver meanwhile)."""
        receiver_before = process_cpu_s(self.receiver.pid)
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=cwd, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise RuntimeError(f"{command[3:5]} exited {child.returncode}")
        wall = time.perf_counter() - started
        return (
            wall,
            usage.ru_utime + usage.ru_stime,
            process_cpu_s(self.receiver.pid) - receiver_before,
        )


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    # The client: a baseline role, or None for `tracer dispatcher --burst`.
    role: str | None = None
    hook: tuple[tuple[str, object], ...] = ()
    # Where the child runs: another checkout gives a before/after in the same run.
    tree: Path = ROOT

    def command(self, bench: Bench, jobs: int) -> list[str]:
        if self.role is None:
            return [sys.executable, "-m", "cli", "dispatcher", "--burst"]
        return [sys.executable, "-m", "bench.dispatcher", "--role", self.role,
                "--url", bench.url, "--secret", bench.secret, "--jobs", str(jobs)]  # fmt: skip

    def environment(self, bench: Bench) -> dict[str, str] | None:
        return bench.environment(**dict(self.hook)) if self.role is None else None


SCENARIOS = (
    Scenario("floor", f"floor: raw asyncio client, signed, c={CONCURRENCY}", role="raw"),
    Scenario("aiohttp", f"ceiling: dispatcher's aiohttp path, c={CONCURRENCY}", role="aiohttp"),
    Scenario("single", "tracer dispatcher, one event per request"),
    Scenario(
        "batched",
        "tracer dispatcher, batches of up to 50",
        hook=(("batch_max_events", 50), ("batch_max_wait_ms", 20)),
    ),
)


def fixed_cpu_s(bench: Bench, scenario: Scenario) -> float:
    """CPU a run costs with nothing to send: start-up and shutdown."""
    _, cpu, _ = bench.run_child(
        scenario.command(bench, 0), scenario.environment(bench), scenario.tree
    )
    return cpu


def throughput(bench: Bench, scenario: Scenario, jobs: int, fixed_cpu: float) -> dict:
    if scenario.role is None:
        bench.push(jobs)
    bench.reset()
    wall, cpu, receiver_cpu = bench.run_child(
        scenario.command(bench, jobs), scenario.environment(bench), scenario.tree
    )
    stats = bench.stats()
    if stats["events"] != jobs or stats["bad"]:
        raise RuntimeError(f"{scenario.key}: received {stats['events']}/{jobs}, {stats['bad']} bad")
    window = stats["last"] - stats["first"]
    return {
        "requests": stats["count"],
        "per_s": jobs / window if window > 0 else float("nan"),
        "wall_s": wall,
        "cpu_ms_per_1000": max(0.0, cpu - fixed_cpu) / jobs * 1e6,
        "receiver_cpu": receiver_cpu / window if window > 0 else float("nan"),
    }


def paced_latency(bench: Bench, rate: int, seconds: float) -> dict:
    """Queue -> receiver latency with jobs arriving at `rate`/s, ts = time of queueing."""
    bench.reset()
    dispatcher = subprocess.Popen(
        [sys.executable, "-m", "cli", "dispatcher"], cwd=ROOT, env=bench.environment()
    )
    time.sleep(1.0)  # let it start
    cpu_before = process_cpu_s(dispatcher.pid)
    total = int(rate * seconds)
    tick = 0.01
    per_tick = max(1, int(rate * tick))
    started = time.perf_counter()
    sent = 0
    while sent < total:
        bench.push(min(per_tick, total - sent))
        sent += per_tick
        time.sleep(max(0.0, started + sent / rate - time.perf_counter()))
    deadline = time.monotonic() + 30
    while bench.stats()["events"] < total and time.monotonic() < deadline:
        time.sleep(0.1)
    cpu = process_cpu_s(dispatcher.pid) - cpu_before
    dispatcher.send_signal(signal.SIGTERM)
    dispatcher.wait(30)
    stats = bench.stats()
    return {
        "rate": rate,
        "events": stats["events"],
        "total": total,
        "cpu_ms_per_1000": cpu / total * 1e6,
        **stats["latency_ms"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dispatcher",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    quick = os.environ.get("BENCH_QUICK") == "1"
    parser.add_argument(
        "--jobs", type=int, default=10000 if quick else 20000, help="jobs per throughput run"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1 if quick else 3,
        help="interleaved rounds of all scenarios (medians are shown)",
    )
    parser.add_argument(
        "--receiver",
        choices=["aiohttp", "fast"],
        default="aiohttp",
        help="the receiving server (see bench.receivers)",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated scenarios: " + ",".join(scenario.key for scenario in SCENARIOS),
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="TREE",
        help="another checkout (e.g. `git worktree add /tmp/before main`): its "
        "dispatcher runs too, interleaved with this one's",
    )
    parser.add_argument("--rate", type=int, default=1000, help="jobs/s of the latency run")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the latency run")
    parser.add_argument(
        "--role",
        choices=["bench", "aiohttp", "raw"],
        default="bench",
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)  # fmt: skip
    if args.role == "aiohttp":
        return run_aiohttp_client(args.url, args.secret, args.jobs, CONCURRENCY)
    if args.role == "raw":
        return run_raw_client(args.url, args.secret, args.jobs, CONCURRENCY)

    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    scenarios = [scenario for scenario in SCENARIOS if not chosen or scenario.key in chosen]
    if args.compare:
        scenarios += [
            dataclasses.replace(
                scenario,
                key=f"{scenario.key}@{args.compare}",
                label=scenario.label.replace("tracer", f"{args.compare.name}:"),
                tree=args.compare.resolve(),
            )
            for scenario in scenarios
            if scenario.role is None
        ]
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tracer-bench-") as directory:
        bench = Bench(Path(directory), args.receiver)
        try:
            fixed = {scenario.key: fixed_cpu_s(bench, scenario) for scenario in scenarios}
            rounds: dict[str, list[dict]] = {scenario.key: [] for scenario in scenarios}
            for number in range(1, args.repeat + 1):
                print(f"  round {number}/{args.repeat} ...", flush=True)
                for scenario in scenarios:
                    row = throughput(bench, scenario, args.jobs, fixed[scenario.key])
                    rounds[scenario.key].append(row)
            latency = paced_latency(bench, args.rate, args.seconds)
        finally:
            bench.close()
    print_table(scenarios, rounds, latency, args, load)
    return 0


def print_table(
    scenarios: list[Scenario],
    rounds: dict[str, list[dict]],
    latency: dict,
    args: argparse.Namespace,
    load: float,
) -> None:
    print(
        f"\nDispatcher benchmark ({os.cpu_count()} cores, load {load:.1f} at start; "
        f"{args.jobs} jobs per run; {args.receiver} receiver; median of {args.repeat} "
        "interleaved round(s))"
    )
    header = (
        f"{'scenario':<46} {'requests':>8} {'events/s':>9} {'(min-max)':>13} "
        f"{'CPU ms/1000':>11} {'receiver CPU':>12}"
    )
    print(header)
    print("-" * len(header))
    medians = {}
    for scenario in scenarios:
        rows = rounds[scenario.key]
        rates = [row["per_s"] for row in rows]
        median = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
        medians[scenario.key] = median
        spread = f"{min(rates):.0f}-{max(rates):.0f}"
        print(
            f"{scenario.label:<46} {median['requests']:>8.0f} {median['per_s']:>9.0f} "
            f"{spread:>13} {median['cpu_ms_per_1000']:>11.0f} {median['receiver_cpu']:>12.0%}"
        )
    if "single" in medians:
        single = medians["single"]["per_s"]
        for key, name in (("aiohttp", "aiohttp ceiling"), ("floor", "floor")):
            if key in medians:
                print(f"dispatcher, one event per request / {name}: "
                      f"{single / medians[key]['per_s']:.0%}")  # fmt: skip
        print(f"target >= 5,000 events/s, one event per request: "
              f"{'met' if single >= 5000 else 'not met'}")  # fmt: skip
    print(
        f"\nQueue -> receiver latency at {latency['rate']} jobs/s for {args.seconds:g}s "
        f"({latency['events']}/{latency['total']} delivered, dispatcher CPU "
        f"{latency['cpu_ms_per_1000']:.0f} ms/1000): "
        + ", ".join(f"{key} {value} ms" for key, value in latency.items()
                    if key not in ("rate", "events", "total", "cpu_ms_per_1000"))
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
