"""Dispatcher benchmark: signed webhooks delivered per second and CPU per 1,000 deliveries,
next to a baseline from the same run; then queue-to-receiver latency at a steady rate.

    .venv/bin/python -m bench.dispatcher [--jobs 20000] [--rate 1000] [--seconds 5]

Every process is separate, as in production: a private redis-server, a receiver (aiohttp +
uvloop, checks every signature with HMAC-SHA256), and `tracer dispatcher` itself (one
process, endpoint `max_concurrency = 64`). Jobs are queued before the dispatcher starts,
so the throughput is the dispatcher's, not the producer's. The baseline is a bare aiohttp
client posting one signed event body over and over at the same concurrency, to the same
verifying receiver: the HTTP ceiling on this machine, without queue or bookkeeping. CPU
figures are the child's own user+system time (wait4).

The receiver is reusable by the end-to-end click -> webhook benchmark:
`python -m bench.dispatcher --role receiver --port P --secret S` serves `POST /hook` and
`GET /stats` (`count`, `events`, `bad`, `first`, `last`, and `latency_ms` percentiles of
`receipt time - event.ts`, see `event_latency_s`); `POST /reset` clears it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson

from dispatcher.queue import shard_for
from tracer import redis_keys
from tracer.brands import webhook_secret_bytes
from tracer.events import Event, EventIds
from tracer.redis_server import RedisServer, free_port
from tracer.webhooks import WebhookJob, encode_job, endpoint_id

ROOT = Path(__file__).resolve().parent.parent
BRAND = "benchjobs"
CONCURRENCY = 64
SHARDS = 8


# --- latency, reusable by the end-to-end benchmark ----------------------------------------


def event_latency_s(event: dict, received_at: float) -> float:
    """Seconds from the event's own timestamp (`ts`, set where it happened: the edge for a
    click) to its receipt by the webhook receiver."""
    return received_at - float(event["ts"])


class LatencyRecorder:
    """Collects latencies and reports percentiles in milliseconds."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    def record(self, event: dict, received_at: float) -> None:
        self.samples.append(event_latency_s(event, received_at))

    def percentiles(self, points: tuple[float, ...] = (50, 90, 99, 99.9)) -> dict[str, float]:
        if not self.samples:
            return {}
        ordered = sorted(self.samples)
        last = len(ordered) - 1
        return {
            f"p{point:g}": round(ordered[min(last, int(point / 100 * len(ordered)))] * 1000, 2)
            for point in points
        } | {"max": round(ordered[-1] * 1000, 2)}


def make_event(n: int, now: float, ids: EventIds | None = None) -> Event:
    """A click as the edge records it (realistic size: user agent, truncated IP, hash)."""
    return Event(
        id=(ids or EventIds()).next(now), type="click", ts=now, brand=BRAND,
        message_id=f"m-{n}", campaign="bench", job_source="indeed",
        recipient="rh_" + os.urandom(16).hex(), url="https://benchjobs.example/j/1",
        ua="Mozilla/5.0 (Windows NT 10.0; Win64; x64)", ip="203.0.113.0",
    )  # fmt: skip


# --- the receiver process -------------------------------------------------------------------


def run_receiver(port: int, secret: str) -> int:
    import uvloop
    from aiohttp import web

    key = webhook_secret_bytes(secret)
    state: dict = {}
    latencies = LatencyRecorder()

    def reset() -> None:
        state.update(count=0, events=0, bad=0, first=0.0, last=0.0)
        latencies.samples.clear()

    def verified(headers, body: bytes) -> bool:
        signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        return any(
            hmac.compare_digest(candidate.partition(",")[2], expected)
            for candidate in headers.get("webhook-signature", "").split(" ")
        )

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        now = time.time()
        if "webhook-id" in request.headers and not verified(request.headers, body):
            state["bad"] += 1
            return web.Response(status=401)
        payload = orjson.loads(body)
        items = payload if isinstance(payload, list) else [payload]
        if "ts" in items[0]:
            for item in items:
                latencies.record(item, now)
        state["count"] += 1
        state["events"] += len(items)
        state["first"] = state["first"] or now
        state["last"] = now
        return web.Response(status=204)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({**state, "latency_ms": latencies.percentiles()})

    async def clear(request: web.Request) -> web.Response:
        reset()
        return web.Response(status=204)

    reset()
    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", clear)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None,
                loop=uvloop.new_event_loop())  # fmt: skip
    return 0


# --- the baseline client process -------------------------------------------------------------


def run_baseline(url: str, secret: str, requests: int, concurrency: int) -> int:
    """A bare aiohttp client posting one signed event body over and over: the HTTP cost of
    a delivery without the queue, the retries and the bookkeeping."""
    import asyncio

    import aiohttp
    import uvloop

    from dispatcher.payload import message
    from dispatcher.signing import STATIC_HEADERS, Signer

    signer = Signer([secret])
    msg_id, body = message([make_event(0, time.time())], batched=False)

    async def worker(session: aiohttp.ClientSession, share: int) -> None:
        for _ in range(share):
            headers = {**STATIC_HEADERS, **signer.headers(msg_id, body)}
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()

    async def drive() -> None:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            shares = [requests // concurrency] * concurrency
            shares[0] += requests - sum(shares)
            await asyncio.gather(*(worker(session, share) for share in shares))

    uvloop.run(drive())
    return 0


# --- orchestration -------------------------------------------------------------------------


class Bench:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.redis = RedisServer(directory / "redis", persistent=False).start()
        self.secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.receiver = subprocess.Popen(
            [sys.executable, "-m", "bench.dispatcher", "--role", "receiver",
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
        self, command: list[str], env: dict[str, str] | None = None
    ) -> tuple[float, float]:
        """Run a child to completion: (wall seconds, CPU seconds of the child)."""
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise RuntimeError(f"{command[3:5]} exited {child.returncode}")
        return time.perf_counter() - started, usage.ru_utime + usage.ru_stime


def throughput(bench: Bench, label: str, command: list[str], env: dict | None, count: int) -> dict:
    bench.reset()
    wall, cpu = bench.run_child(command, env)
    stats = bench.stats()
    if stats["events"] != count or stats["bad"]:
        raise RuntimeError(f"{label}: received {stats['events']}/{count}, {stats['bad']} bad")
    window = stats["last"] - stats["first"]
    return {
        "label": label,
        "requests": stats["count"],
        "events": count,
        "per_s": count / window if window > 0 else float("nan"),
        "wall_s": wall,
        "cpu_per_1000": cpu / count * 1000,
    }


def paced_latency(bench: Bench, rate: int, seconds: float) -> dict:
    """Queue -> receiver latency with jobs arriving at `rate`/s, ts = time of queueing."""
    bench.reset()
    dispatcher = subprocess.Popen(
        [sys.executable, "-m", "tracer", "dispatcher"], cwd=ROOT, env=bench.environment()
    )
    time.sleep(1.0)  # let it start
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
    dispatcher.send_signal(signal.SIGTERM)
    dispatcher.wait(30)
    stats = bench.stats()
    return {"rate": rate, "events": stats["events"], "total": total, **stats["latency_ms"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dispatcher",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--jobs", type=int, default=20000, help="jobs per throughput run")
    parser.add_argument("--rate", type=int, default=1000, help="jobs/s of the latency run")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the latency run")
    parser.add_argument(
        "--role", choices=["bench", "receiver", "baseline"], default="bench", help=argparse.SUPPRESS
    )
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)  # fmt: skip
    if args.role == "receiver":
        return run_receiver(args.port, args.secret)
    if args.role == "baseline":
        return run_baseline(args.url, args.secret, args.jobs, CONCURRENCY)

    with tempfile.TemporaryDirectory(prefix="tracer-bench-") as directory:
        bench = Bench(Path(directory))
        try:
            rows = [
                throughput(
                    bench, f"baseline: bare aiohttp POST, signed, c={CONCURRENCY}",
                    [sys.executable, "-m", "bench.dispatcher", "--role", "baseline",
                     "--url", bench.url, "--secret", bench.secret, "--jobs", str(args.jobs)],
                    None, args.jobs,
                ),
            ]  # fmt: skip
            dispatcher = [sys.executable, "-m", "tracer", "dispatcher", "--burst"]
            bench.push(args.jobs)
            rows.append(throughput(bench, "tracer dispatcher, one event per request",
                                   dispatcher, bench.environment(), args.jobs))  # fmt: skip
            bench.push(args.jobs)
            batched = bench.environment(batch_max_events=50, batch_max_wait_ms=20)
            rows.append(throughput(bench, "tracer dispatcher, batches of up to 50",
                                   dispatcher, batched, args.jobs))  # fmt: skip
            latency = paced_latency(bench, args.rate, args.seconds)
        finally:
            bench.close()
    print_table(rows, latency, args)
    return 0


def print_table(rows: list[dict], latency: dict, args: argparse.Namespace) -> None:
    cores = os.cpu_count()
    load = os.getloadavg()[0]
    print(f"\nDispatcher benchmark ({cores} cores, load {load:.1f}; {args.jobs} jobs per run)")
    header = f"{'scenario':<48} {'requests':>8} {'events/s':>9} {'wall s':>7} {'CPU s/1000':>10}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['label']:<48} {row['requests']:>8} {row['per_s']:>9.0f} "
            f"{row['wall_s']:>7.2f} {row['cpu_per_1000']:>10.3f}"
        )
    base = rows[0]["per_s"]
    single = rows[1]["per_s"]
    print(f"dispatcher / baseline throughput: {single / base:.0%} (target >= 5,000/s: "
          f"{'met' if single >= 5000 else 'not met'})")  # fmt: skip
    print(
        f"\nQueue -> receiver latency at {latency['rate']} jobs/s for {args.seconds:g}s "
        f"({latency['events']}/{latency['total']} delivered): "
        + ", ".join(f"{key} {value} ms" for key, value in latency.items()
                    if key not in ("rate", "events", "total"))
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
