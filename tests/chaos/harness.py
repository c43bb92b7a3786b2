"""Fault injection under load: one `tracer up` instance, a steady stream of distinct
clicks and opens, and one fault per phase (SIGKILL of an edge worker, of the batcher, of
the dispatcher, of redis-server; the webhook receiver down for a while).

After each phase the load stops and the harness waits for the pipeline to drain, then
checks, for the requests of that phase only:

- every answered request is stored exactly once (matched by its link's message id; a
  request the fault cut off before its answer may be stored or not, and is reported);
- every stored event (all are people's: browser user agents, links made an hour ago) was
  delivered to the webhook receiver, whose signature check (Standard Webhooks) passed.

The "recovery" column counts the log lines of `tracer up` that show the pipeline taking
over from the fault (a journal replayed, a dead batcher's or dispatcher's work adopted or
the role restarted, a spool replayed, a circuit breaker opened): evidence that the fault
hit work in progress.

`python -m tests.chaos` (`just chaos`) runs long phases; `tests/chaos/test_chaos.py` runs
short ones inside `just test`. Both print one table row per fault.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import itertools
import json
import logging
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import start_cli, stop_process, wait_until_ready
from tracer.brands import load_brands, webhook_secret_bytes
from tracer.keyring import load_keyring
from tracer.links import LinkBuilder
from tracer.redis_server import RedisServer, free_port

logger = logging.getLogger("tests.chaos")

HOST = "t.chaos.example"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
)
BRANDS = """
[[brands]]
id = "chaos"
name = "Chaos Jobs"
hosts = ["{host}"]
landing_url = "https://chaos.example/"

[[brands.webhooks]]
url = "http://127.0.0.1:{port}/hook"
secret = "{secret}"
events = ["open", "click"]
allow_private = true
"""
# Short leases, heartbeats and retries, so that a killed role's work is taken over, and a
# receiver that comes back is retried, within seconds.
FAST_RECOVERY = {
    "TRACER_BATCHER_LEASE_TTL_S": "2",
    "TRACER_DISPATCHER_HEARTBEAT_TTL_S": "2",
    "TRACER_WEBHOOK_RETRY_SCHEDULE_S": ",".join(["0.5"] * 4 + ["1"] * 40),
    "TRACER_BREAKER_FAILURES": "5",
    "TRACER_BREAKER_OPEN_S": "0.5",
    "TRACER_BREAKER_MAX_OPEN_S": "1",
    "TRACER_REDIS_TIMEOUT_S": "0.5",
    # Edge flushes every 100 ms instead of 2 ms: a killed worker then certainly had
    # answered hits waiting in memory, which only its journal can give back.
    "TRACER_FLUSH_INTERVAL_S": "0.1",
}


# --- the webhook receiver -------------------------------------------------------------
class Receiver:
    """An aiohttp receiver on its own thread: verifies every request's signature, keeps
    the event ids delivered, and can go down (its port refuses) and come back."""

    def __init__(self, secret: str) -> None:
        self.key = webhook_secret_bytes(secret)
        self.port = free_port()
        self.delivered: set[str] = set()
        self.requests = 0
        self.bad_signatures = 0
        self._lock = threading.Lock()
        self._loop = None
        self._runner = None
        self._thread = threading.Thread(target=self._serve, daemon=True, name="receiver")
        self._started = threading.Event()

    def start(self) -> Receiver:
        self._thread.start()
        self._started.wait(10)
        self.up()
        return self

    def _serve(self) -> None:
        import asyncio

        from aiohttp import web

        async def hook(request: web.Request) -> web.Response:
            body = await request.read()
            if not self._verified(request.headers, body):
                with self._lock:
                    self.bad_signatures += 1
                return web.Response(status=401)
            payload = json.loads(body)
            items = payload if isinstance(payload, list) else [payload]
            with self._lock:
                self.requests += 1
                self.delivered.update(item["id"] for item in items)
            return web.Response(status=204)

        self._app = web.Application()
        self._app.router.add_post("/hook", hook)
        self._loop = asyncio.new_event_loop()
        self._started.set()
        self._loop.run_forever()
        if self._runner is not None:
            self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def _verified(self, headers, body: bytes) -> bool:
        signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
        expected = base64.b64encode(hmac.new(self.key, signed, hashlib.sha256).digest())
        return any(
            hmac.compare_digest(candidate.partition(",")[2].encode(), expected)
            for candidate in headers.get("webhook-signature", "").split(" ")
        )

    def _call(self, coroutine_factory: Callable) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(coroutine_factory(), self._loop).result(10)

    def up(self) -> None:
        from aiohttp import web

        async def start() -> None:
            self._runner = web.AppRunner(self._app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
            await site.start()

        self._call(start)

    def down(self) -> None:
        """Stop listening and close every open connection (the dispatcher's kept-alive
        ones included): the receiver is gone until `up`."""

        async def stop() -> None:
            assert self._runner is not None
            await self._runner.cleanup()
            self._runner = None

        self._call(stop)

    def snapshot(self) -> set[str]:
        with self._lock:
            return set(self.delivered)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


# --- the instance -----------------------------------------------------------------------
class Instance:
    """`tracer up` in a data directory of its own, with the chaos brand, on a redis-server
    of the harness's (so that the harness can kill it and start it again; its append-only
    file is synced on every write, so that Redis itself loses nothing it acknowledged)."""

    def __init__(self, workdir: Path, receiver_port: int, edge_workers: int = 2) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "var"
        self.redis = RedisServer(workdir / "redis", persistent=True, appendfsync="always")
        self.edge_port = free_port()
        self.dispatcher_metrics_port = free_port()
        config = workdir / "brands.toml"
        config.write_text(BRANDS.format(host=HOST, port=receiver_port, secret=SECRET))
        self.env = {
            "PATH": os.environ["PATH"],
            "TRACER_DATA_DIR": str(self.data_dir),
            "TRACER_CONFIG": str(config),
            "TRACER_EDGE_PORT": str(self.edge_port),
            "TRACER_ADMIN_PORT": str(free_port()),
            "TRACER_EDGE_WORKERS": str(edge_workers),
            "REDIS_URL": self.redis.url,
            "TRACER_BATCHER_METRICS_PORT": "0",
            "TRACER_DISPATCHER_METRICS_PORT": str(self.dispatcher_metrics_port),
            "TRACER_LOG_FORMAT": "text",
            "TRACER_LOG_LEVEL": "INFO",
            **FAST_RECOVERY,
        }
        self.log_path = workdir / "up.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> Instance:
        self.redis.start()
        self._log = self.log_path.open("ab")
        self.process = start_cli(["up"], self.env, self._log)
        wait_until_ready(
            self.process, self._roles_ready, log_tail=self.log_tail, what="tracer up",
            timeout_s=timeout_s, poll_s=0.2,
        )  # fmt: skip
        return self

    def _roles_ready(self) -> bool:
        roles = self.roles()
        if not {"edge", "batcher", "dispatcher"} <= roles.keys():
            return False
        if len(self.edge_workers()) < int(self.env["TRACER_EDGE_WORKERS"]):
            return False
        try:
            return _get(self.edge_port, "/readyz").status == 200
        except OSError:
            return False

    def builder(self) -> LinkBuilder:
        """Links of the instance's key ring, made an hour ago (no "fast click")."""
        brands = load_brands(Path(self.env["TRACER_CONFIG"]))
        ring = load_keyring(None, self.data_dir / "keyring.json")
        return LinkBuilder(brands, ring, clock=lambda: time.time() - 3600)

    def roles(self) -> dict[str, int]:
        """Role name -> pid of the supervisor's children."""
        assert self.process is not None
        found = {}
        for pid in _children(self.process.pid):
            command = _command_line(pid)
            for role in ("edge", "batcher", "dispatcher", "admin"):
                if f"cli {role}" in command or f"tracer {role}" in command:
                    found[role] = pid
        return found

    def edge_workers(self) -> list[int]:
        edge = self.roles().get("edge")
        return _children(edge) if edge else []

    def stored(self, prefix: str) -> dict[str, list[str]]:
        """message id -> ids of the events stored for it, for the phase's messages."""
        path = self.data_dir / "tracer.sqlite3"
        if not path.exists():
            return {}
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            rows = db.execute(
                "SELECT message_id, id FROM events WHERE message_id LIKE ?", (prefix + "-%",)
            ).fetchall()
        except sqlite3.OperationalError:
            return {}
        finally:
            db.close()
        found: dict[str, list[str]] = {}
        for message_id, event_id in rows:
            found.setdefault(message_id, []).append(event_id)
        return found

    def dispatcher_counter(self, recovery: str) -> float:
        """The sum of the dispatcher counter named in `recovery` ("metric:NAME"), 0 when
        it is not a metric or cannot be read."""
        if not recovery.startswith("metric:"):
            return 0.0
        name = recovery.removeprefix("metric:")
        url = f"http://127.0.0.1:{self.dispatcher_metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                text = reply.read().decode()
        except OSError:
            return 0.0
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name + "{") or line.startswith(name + " ")
        )

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> int:
        code = 0
        if self.process is not None:
            code = stop_process(self.process, 90)
            self._log.close()
            self.process = None
        self.redis.stop()
        return code


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@dataclass
class Reply:
    status: int
    location: str


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers={"Host": HOST, **(headers or {})})
        response = connection.getresponse()
        response.read()
        return Reply(response.status, response.getheader("location") or "")
    finally:
        connection.close()


# --- the load ---------------------------------------------------------------------------
class Load:
    """Threads sending distinct clicks and opens at a steady rate. A request is *answered*
    when its whole response arrived: a 302 to its job for a click, the GIF for an open."""

    def __init__(self, instance: Instance, builder: LinkBuilder, prefix: str, rate: float,
                 threads: int = 4) -> None:  # fmt: skip
        self.instance = instance
        self.builder = builder
        self.prefix = prefix
        self.interval_s = threads / rate
        self.answered: set[str] = set()
        self.failed: set[str] = set()
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    @property
    def sent(self) -> int:
        return len(self.answered) + len(self.failed)

    def _next(self) -> tuple[str, str, bool]:
        with self._lock:
            number = next(self._numbers)
        message_id = f"{self.prefix}-{number}"
        if number % 2:
            url = self.builder.open("chaos", message_id, recipient=f"r{number}@x.example")
            return message_id, url.split(HOST, 1)[1], False
        url = self.builder.click("chaos", message_id, f"https://chaos.example/jobs/{number}")
        return message_id, url.split(HOST, 1)[1], True

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            message_id, path, click = self._next()
            headers = {"Host": HOST, "User-Agent": BROWSERS[hash(message_id) % len(BROWSERS)]}
            # A connection per request: the kernel spreads them over every edge worker, so a
            # killed worker certainly had requests of its own.
            connection = http.client.HTTPConnection("127.0.0.1", self.instance.edge_port, timeout=5)
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                body = response.read()
                location = response.getheader("location") or ""
                ok = (
                    (response.status == 302 and "/jobs/" in location)
                    if click
                    else (response.status == 200 and len(body) == 43)
                )
            except (OSError, http.client.HTTPException):
                ok = False
            finally:
                connection.close()
            with self._lock:
                (self.answered if ok else self.failed).add(message_id)
            next_at += self.interval_s
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_at = time.monotonic()


# --- faults -----------------------------------------------------------------------------
@dataclass
class Fault:
    name: str
    # Does the fault, given the instance and the receiver; returns when it is over.
    inject: Callable[[Instance, Receiver, float], None]
    # A log line of `tracer up` that shows the pipeline recovering from it, or (starting
    # with "metric:") a dispatcher counter that grows with it; the table's "recovery"
    # column: evidence that the fault hit work in progress.
    recovery: str


def _kill(instance: Instance, role: str) -> int:
    pid = instance.roles()[role]
    os.kill(pid, signal.SIGKILL)
    return pid


def kill_edge_worker(instance: Instance, receiver: Receiver, hold_s: float) -> None:
    os.kill(instance.edge_workers()[0], signal.SIGKILL)
    time.sleep(hold_s)


def kill_role(role: str) -> Callable[[Instance, Receiver, float], None]:
    def inject(instance: Instance, receiver: Receiver, hold_s: float) -> None:
        dead = _kill(instance, role)
        time.sleep(hold_s)
        _wait_for(lambda: instance.roles().get(role) not in (None, dead), 30, f"{role} back")

    return inject


def kill_redis(instance: Instance, receiver: Receiver, hold_s: float) -> None:
    instance.redis.kill()
    time.sleep(hold_s)
    instance.redis.start()


def receiver_down(instance: Instance, receiver: Receiver, hold_s: float) -> None:
    receiver.down()
    time.sleep(hold_s)
    receiver.up()


FAULTS = (
    Fault("kill -9 edge worker", kill_edge_worker, r"replayed the journal"),
    Fault("kill -9 batcher", kill_role("batcher"), r"Adopted \d+ event|batcher exited"),
    Fault("kill -9 dispatcher", kill_role("dispatcher"), r"Adopted \d+ job|dispatcher exited"),
    Fault("kill -9 redis-server", kill_redis, r"replayed \d+ spooled batch"),
    Fault("webhook receiver down", receiver_down, "metric:tracer_webhook_failed_total"),
)


# --- a run ------------------------------------------------------------------------------
@dataclass
class PhaseResult:
    fault: str
    sent: int
    answered: int
    stored_once: int
    missing: int
    duplicated: int
    unanswered_stored: int
    human_events: int
    delivered: int
    bad_signatures: int
    drain_s: float
    recoveries: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def run_phase(
    instance: Instance, receiver: Receiver, builder: LinkBuilder, fault: Fault, number: int,
    *, before_s: float, hold_s: float, after_s: float, rate: float, drain_timeout_s: float,
) -> PhaseResult:  # fmt: skip
    prefix = f"p{number}"
    bad_before = receiver.bad_signatures
    log_from = instance.log_path.stat().st_size
    counter_from = instance.dispatcher_counter(fault.recovery)
    load = Load(instance, builder, prefix, rate).start()
    time.sleep(before_s)
    fault.inject(instance, receiver, hold_s)
    time.sleep(after_s)
    load.stop()
    drained_at = time.monotonic()

    def settled() -> bool:
        stored = instance.stored(prefix)
        if not load.answered <= stored.keys():
            return False
        ids = {event_id for found in stored.values() for event_id in found}
        return ids <= receiver.snapshot()

    _wait_for(settled, drain_timeout_s, None)
    drain_s = time.monotonic() - drained_at
    time.sleep(0.5)  # a late duplicate would show now
    stored = instance.stored(prefix)
    delivered = receiver.snapshot()
    ids = {event_id for found in stored.values() for event_id in found}
    result = PhaseResult(
        fault=fault.name,
        sent=load.sent,
        answered=len(load.answered),
        stored_once=sum(1 for m in load.answered if len(stored.get(m, ())) == 1),
        missing=sum(1 for m in load.answered if m not in stored),
        duplicated=sum(1 for found in stored.values() if len(found) > 1),
        unanswered_stored=sum(1 for m in load.failed if m in stored),
        human_events=len(ids),
        delivered=len(ids & delivered),
        bad_signatures=receiver.bad_signatures - bad_before,
        drain_s=drain_s,
        recoveries=(
            int(instance.dispatcher_counter(fault.recovery) - counter_from)
            if fault.recovery.startswith("metric:")
            else len(re.findall(fault.recovery, instance.log_since(log_from)))
        ),
    )
    if result.answered == 0:
        result.problems.append("nothing answered")
    if result.missing:
        result.problems.append(f"{result.missing} answered request(s) not stored")
    if result.duplicated:
        result.problems.append(f"{result.duplicated} message(s) stored more than once")
    if result.delivered != result.human_events:
        # Seen after a redis-server kill before the dispatcher took up the jobs of a take
        # whose reply was lost (bench/RESULTS.md, "Fault injection").
        result.problems.append(
            f"{result.human_events - result.delivered} stored event(s) never delivered"
        )
    if result.bad_signatures:
        result.problems.append(f"{result.bad_signatures} request(s) with a bad signature")
    return result


def run(
    workdir: Path, *, before_s: float, hold_s: float, after_s: float, rate: float,
    drain_timeout_s: float, faults: tuple[Fault, ...] = FAULTS, out: Callable[[str], None] = print,
) -> list[PhaseResult]:  # fmt: skip
    """Every fault, one phase each, on one instance; prints the table as it goes."""
    receiver = Receiver(SECRET).start()
    instance = Instance(workdir, receiver.port)
    results = []
    try:
        instance.start()
        builder = instance.builder()
        out(header())
        for number, fault in enumerate(faults, 1):
            result = run_phase(
                instance, receiver, builder, fault, number, before_s=before_s, hold_s=hold_s,
                after_s=after_s, rate=rate, drain_timeout_s=drain_timeout_s,
            )  # fmt: skip
            results.append(result)
            out(row(result))
    finally:
        code = instance.stop()
        receiver.stop()
    if code != 0:
        out(f"tracer up exited with code {code}:\n{instance.log_tail()}")
    return results


def header() -> str:
    return (
        f"{'fault':<24} {'sent':>6} {'answered':>8} {'stored 1x':>9} {'missing':>7} "
        f"{'dupes':>5} {'cut-off stored':>14} {'webhooks':>13} {'bad sig':>7} "
        f"{'drain s':>7} {'recovery':>8}  result\n" + "-" * 133
    )


def row(result: PhaseResult) -> str:
    webhooks = f"{result.delivered}/{result.human_events}"
    verdict = "PASS" if result.ok else "FAIL: " + "; ".join(result.problems)
    return (
        f"{result.fault:<24} {result.sent:>6} {result.answered:>8} {result.stored_once:>9} "
        f"{result.missing:>7} {result.duplicated:>5} {result.unanswered_stored:>14} "
        f"{webhooks:>13} {result.bad_signatures:>7} {result.drain_s:>7.1f} "
        f"{result.recoveries:>8}  {verdict}"
    )


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str | None) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    if what is not None:
        raise AssertionError(f"timed out waiting for {what}")
    return condition()
