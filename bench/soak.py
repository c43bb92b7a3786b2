"""Endurance: `tracer up` for ten minutes at a steady mixed load, watched for leaks.

    .venv/bin/python -m bench.soak                       # 10 minutes at 200 requests/s
    .venv/bin/python -m bench.soak --minutes 2 --rate 100 --warmup 30

A private `tracer up` (its own redis-server, SQLite store, two edge workers) serves four
brands whose webhooks (opens, clicks, unsubscribes, bots included) point at a local
receiver that checks every signature (`bench.receivers`). The load is open-loop and
steady: clicks, opens, unsubscribe pages and one-click unsubscribes on the edge, each on a
link of its own, over keep-alive connections, plus a message a second through the admin
API (`POST /v1/messages`, which records a `sent` event).

Every 10 s it reads, for every role (the supervisor, redis, the edge with its workers, the
admin API, the batcher, the dispatcher), the resident memory and the open file descriptors
of its processes, and prints a progress line a minute. At the end it prints each role's
growth from the end of the warm-up to the end (target: under 5 % RSS) and whether its
descriptors grew: a leak makes the second half of the run (after warm-up) reach more
descriptors than the first half ever held, while a connection opened and closed around
one sample does not; for a role that grew it names the kinds of descriptor gained. Then the
totals: requests answered, events expected and stored (every event stored once), webhook
events expected and delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import uvloop

from bench.lean_http import Connection
from tracer.brands import Brands, parse_brands
from tracer.keyring import new_keyring, write_keyring
from tracer.links import LinkBuilder
from tracer.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
BRANDS = 4
SAMPLE_EVERY_S = 10.0
RSS_TARGET = 0.05
ROLES = ("supervisor", "redis", "edge", "admin", "batcher", "dispatcher")
# (kind, share of the edge load)
MIX = (("click", 0.6), ("open", 0.3), ("unsubscribe_view", 0.05), ("unsubscribe", 0.05))


def brands_toml(hook_url: str, secret: str, key_sha256: str) -> str:
    blocks = []
    for n in range(BRANDS):
        blocks.append(
            f'[[brands]]\nid = "soak-{n}"\nname = "Soak Jobs {n}"\n'
            f'hosts = ["t.soak-{n}.example"]\nlanding_url = "https://soak-{n}.example/"\n\n'
            f'[[brands.api_keys]]\nid = "soak"\nsha256 = "{key_sha256}-{n}"\n\n'
            f'[[brands.webhooks]]\nurl = "{hook_url}"\nsecret = "{secret}"\n'
            'events = ["open", "click", "unsubscribe"]\nallow_private = true\n'
            "include_bots = true\n"
        )
    return "\n".join(blocks)


# --- processes -------------------------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            parent = int(stat.rpartition(")")[2].split()[1])
            tree.setdefault(parent, []).append(int(entry))
    return tree


def _subtree(pid: int, tree: dict[int, list[int]]) -> list[int]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(tree.get(current, ()))
    return found


def _role_of(pid: int) -> str | None:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    text = b" ".join(command).decode(errors="replace")
    if "redis-server" in text:
        return "redis"
    for role in ("edge", "admin", "batcher", "dispatcher"):
        if f"-m cli {role}" in text:
            return role
    return None


def _rss_bytes(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _fd_kind(pid: int, fd: str) -> str:
    """What a descriptor is, without its instance: "socket", "pipe", "anon_inode:[eventfd]"
    or a file's path."""
    try:
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return "?"
    return target.split(":[", 1)[0] if target.startswith(("socket:", "pipe:")) else target


def fd_kinds(supervisor: int) -> dict[str, Counter[str]]:
    """Role -> how many descriptors of each kind its processes hold."""
    tree = _children()
    kinds: dict[str, Counter[str]] = {}
    for child in tree.get(supervisor, ()):
        role = _role_of(child)
        if role is None:
            continue
        counter = kinds.setdefault(role, Counter())
        for pid in _subtree(child, tree):
            with contextlib.suppress(OSError):
                counter.update(_fd_kind(pid, fd) for fd in os.listdir(f"/proc/{pid}/fd"))
    return kinds


def sample_roles(supervisor: int) -> dict[str, tuple[int, int]]:
    """Role -> (RSS bytes, open fds), summed over the role's processes."""
    tree = _children()
    sample = {"supervisor": (_rss_bytes(supervisor), _fds(supervisor))}
    for child in tree.get(supervisor, ()):
        role = _role_of(child)
        if role is None:
            continue
        pids = _subtree(child, tree)
        rss, fds = sample.get(role, (0, 0))
        sample[role] = (rss + sum(map(_rss_bytes, pids)), fds + sum(map(_fds, pids)))
    return sample


class Stack:
    """The receiver and `tracer up`, in a directory of their own."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.api_key = base64.urlsafe_b64encode(os.urandom(24)).decode()
        self.receiver_port, self.edge_port, self.admin_port = free_port(), free_port(), free_port()
        config = directory / "brands.toml"
        key_hashes = [
            hashlib.sha256(f"{self.api_key}-{n}".encode()).hexdigest() for n in range(BRANDS)
        ]
        toml = brands_toml(f"http://127.0.0.1:{self.receiver_port}/hook", self.secret, "X")
        for n, digest in enumerate(key_hashes):
            toml = toml.replace(f'sha256 = "X-{n}"', f'sha256 = "{digest}"')
        config.write_text(toml)
        self.brands: Brands = parse_brands(toml, str(config))
        self.keyring = new_keyring()
        write_keyring(self.keyring, directory / "keyring.json")
        self.env = {
            **{k: v for k, v in os.environ.items()
               if not k.startswith("TRACER_") and k not in ("REDIS_URL", "MONGODB_URL")},
            "TRACER_CONFIG": str(config),
            "TRACER_KEYS": str(directory / "keyring.json"),
            "TRACER_DATA_DIR": str(directory / "var"),
            "TRACER_EDGE_HOST": "127.0.0.1",
            "TRACER_EDGE_PORT": str(self.edge_port),
            "TRACER_ADMIN_PORT": str(self.admin_port),
            "TRACER_EDGE_WORKERS": "2",
            "TRACER_EDGE_METRICS_PORT": str(free_port()),
            "TRACER_BATCHER_METRICS_PORT": "0",
            "TRACER_DISPATCHER_METRICS_PORT": "0",
            "TRACER_LOG_LEVEL": "WARNING",
        }  # fmt: skip
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        receiver = ["--kind", "aiohttp", "--port", str(self.receiver_port), "--secret", self.secret]
        self._spawn("receiver", [sys.executable, "-m", "bench.receivers", *receiver])
        up = self._spawn("up", [sys.executable, "-m", "cli", "up"])
        deadline = time.monotonic() + 90
        while not (_status(f"http://127.0.0.1:{self.edge_port}/readyz") == 200
                   and _status(f"http://127.0.0.1:{self.admin_port}/healthz") == 200
                   and _receiver_stats(self.receiver_port) is not None):  # fmt: skip
            if up.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tracer up did not start: {self.log('up')[-3000:]}")
            time.sleep(0.2)
        return up

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        with (self.directory / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=log,
                                       start_new_session=True)  # fmt: skip
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")

    def stored(self) -> tuple[int, int]:
        """(events in the store, distinct ids among them)."""
        path = self.directory / "var" / "tracer.sqlite3"
        if not path.exists():
            return 0, 0
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone()
        except sqlite3.Error:
            return 0, 0
        finally:
            conn.close()

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(
                    signal.SIGINT if process is self.processes[-1] else signal.SIGTERM
                )
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status
    except OSError:
        return 0


def _receiver_stats(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as answer:
            return json.loads(answer.read())
    except OSError:
        return None


# --- the load --------------------------------------------------------------------------------
@dataclass
class Load:
    answered: dict[str, int] = field(default_factory=dict)
    unexpected: int = 0
    errors: int = 0
    events: int = 0  # events the answered requests record
    webhook_events: int = 0  # of which the brands' webhooks want


class Traffic:
    """A fresh link for every request: (kind, raw request, status expected)."""

    def __init__(self, stack: Stack, seed: int) -> None:
        self.rng = random.Random(seed)
        self.builder = LinkBuilder(stack.brands, stack.keyring)
        self.brands = list(stack.brands)
        self.count = 0

    def next(self) -> tuple[str, bytes, int]:
        self.count += 1
        brand = self.brands[self.count % len(self.brands)]
        kind = self.rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX])[0]
        message = f"soak-{self.count}"
        recipient = f"r{self.count}@example.com"
        if kind == "click":
            url = self.builder.click(brand.id, message, f"{brand.landing_url}jobs/{self.count}",
                                     recipient=recipient, campaign="soak")  # fmt: skip
            method, body, status = "GET", b"", 302
        elif kind == "open":
            url = self.builder.open(brand.id, message, recipient=recipient)
            method, body, status = "GET", b"", 200
        else:
            url = self.builder.unsubscribe(brand.id, message, recipient=recipient)
            post = kind == "unsubscribe"
            method, body, status = (
                ("POST" if post else "GET"),
                (b"List-Unsubscribe=One-Click" if post else b""),
                200,
            )
        host, _, path = url.removeprefix("https://").partition("/")
        head = (
            f"{method} /{path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/5.0 (Windows NT "
            f"10.0; Win64; x64) Soak/{self.count % 7}\r\nX-Forwarded-For: 203.0.113."
            f"{self.count % 250}\r\n"
        )
        if body:
            head += "Content-Type: application/x-www-form-urlencoded\r\n"
            head += f"Content-Length: {len(body)}\r\n"
        return kind, head.encode() + b"\r\n" + body, status


async def drive_edge(port: int, traffic: Traffic, rate: float, seconds: float, load: Load) -> None:
    loop = asyncio.get_running_loop()
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    opened = 0
    pending: set[asyncio.Task[None]] = set()

    async def one(kind: str, raw: bytes, expected: int) -> None:
        nonlocal opened
        if idle.empty() and opened < 64:
            opened += 1
            _, connection = await loop.create_connection(Connection, "127.0.0.1", port)
        else:
            connection = await idle.get()
        try:
            status, _ = await connection.request(raw, 30)
        except (OSError, ConnectionError, TimeoutError):
            load.errors += 1
            opened -= 1
            return
        idle.put_nowait(connection)
        load.answered[kind] = load.answered.get(kind, 0) + 1
        if status != expected:
            load.unexpected += 1
            return
        load.events += 1
        if kind != "unsubscribe_view":
            load.webhook_events += 1

    started = loop.time()
    total = int(rate * seconds)
    for n in range(total):
        due = started + n / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = loop.create_task(one(*traffic.next()))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)


async def drive_api(stack: Stack, seconds: float, load: Load) -> None:
    """A message a second through the admin API: each records a `sent` event."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline:
            brand = n % BRANDS
            n += 1
            async with session.post(
                f"http://127.0.0.1:{stack.admin_port}/v1/messages",
                json={"recipient": f"api{n}@example.com", "urls": ["https://soak.example/"]},
                headers={"Authorization": f"Bearer {stack.api_key}-{brand}"},
            ) as reply:
                load.answered["api_message"] = load.answered.get("api_message", 0) + 1
                if reply.status == 200:
                    load.events += 1
                else:
                    load.unexpected += 1
            await asyncio.sleep(1.0)


# --- the run ---------------------------------------------------------------------------------
def run(args: argparse.Namespace, directory: Path) -> int:
    stack = Stack(directory)
    up = stack.start()
    samples: list[tuple[float, dict[str, tuple[int, int]]]] = []
    fds_at_warmup: dict[str, Counter[str]] = {}
    load = Load()
    seconds = args.minutes * 60
    try:
        traffic = Traffic(stack, args.seed)

        async def main() -> None:
            async def watch() -> None:
                started = time.monotonic()
                reported = 0
                while time.monotonic() - started < seconds + 1:
                    elapsed = time.monotonic() - started
                    samples.append((elapsed, sample_roles(up.pid)))
                    if elapsed >= args.warmup and not fds_at_warmup:
                        fds_at_warmup.update(fd_kinds(up.pid))
                    if elapsed >= (reported + 1) * 60:
                        reported += 1
                        _progress(elapsed, seconds, load, samples[-1][1])
                    await asyncio.sleep(SAMPLE_EVERY_S)

            await asyncio.gather(
                drive_edge(stack.edge_port, traffic, args.rate, seconds, load),
                drive_api(stack, seconds, load),
                watch(),
            )

        print(f"soak: {args.minutes:g} min at {args.rate:g} requests/s on the edge "
              f"+ 1 message/s on the API; warm-up {args.warmup:g}s", flush=True)  # fmt: skip
        uvloop.run(main())
        samples.append((seconds, sample_roles(up.pid)))
        fds_at_end = fd_kinds(up.pid)
        stored, distinct, delivered = _drain(stack, load)
    finally:
        stack.stop()
    status = _report(args, samples, load, stored, distinct, delivered)
    _name_new_fds(fds_at_warmup, fds_at_end)
    return status


def _progress(elapsed: float, seconds: float, load: Load, sample: dict) -> None:
    roles = "  ".join(
        f"{role} {sample[role][0] / 2**20:.0f} MB/{sample[role][1]} fds"
        for role in ROLES
        if role in sample
    )
    print(f"soak: {elapsed / 60:.0f}/{seconds / 60:g} min, {sum(load.answered.values()):,} "
          f"answered; {roles}", flush=True)  # fmt: skip


def _fds_grew(samples: list, warmup: float, role: str) -> bool:
    """Whether the role's descriptors trend up: the second half of the samples after
    warm-up reaches more than the first half ever held."""
    counts = [sample[role][1] for t, sample in samples if t >= warmup and role in sample]
    half = len(counts) // 2
    return bool(half) and max(counts[half:]) > max(counts[:half])


def _name_new_fds(before: dict[str, Counter[str]], after: dict[str, Counter[str]]) -> None:
    for role in ROLES:
        gained = after.get(role, Counter()) - before.get(role, Counter())
        if gained:
            kinds = ", ".join(f"{kind} +{count}" for kind, count in gained.most_common(5))
            print(f"descriptors {role} holds at the end and not after warm-up: {kinds}")


def _drain(stack: Stack, load: Load) -> tuple[int, int, int]:
    deadline = time.monotonic() + 120
    while True:
        stored, distinct = stack.stored()
        delivered = (_receiver_stats(stack.receiver_port) or {}).get("events", 0)
        if (
            stored >= load.events and delivered >= load.webhook_events
        ) or time.monotonic() > deadline:
            return stored, distinct, delivered
        time.sleep(1)


def _report(args, samples, load: Load, stored: int, distinct: int, delivered: int) -> int:
    warm = next((s for t, s in samples if t >= args.warmup), samples[0][1])
    last = samples[-1][1]
    ok = True
    print(f"\n{'role':<12}{'RSS after warm-up':>20}{'RSS at end':>14}{'growth':>9}"
          f"{'fds after warm-up':>20}{'fds at end':>12}{'fds grew':>10}")  # fmt: skip
    for role in ROLES:
        if role not in warm or role not in last:
            print(f"{role:<12}  (not seen)")
            continue
        (rss0, fd0), (rss1, fd1) = warm[role], last[role]
        growth = (rss1 - rss0) / rss0 if rss0 else 0.0
        fds_grew = _fds_grew(samples, args.warmup, role)
        ok &= growth < RSS_TARGET and not fds_grew
        print(f"{role:<12}{rss0 / 2**20:>17.1f} MB{rss1 / 2**20:>11.1f} MB{growth:>+9.1%}"
              f"{fd0:>20}{fd1:>12}{'yes' if fds_grew else 'no':>10}")  # fmt: skip
    answered = sum(load.answered.values())
    kinds = ", ".join(f"{kind} {count:,}" for kind, count in sorted(load.answered.items()))
    print(f"\nrequests answered  {answered:,} ({kinds}); unexpected status {load.unexpected}, "
          f"connection errors {load.errors}")  # fmt: skip
    print(f"events             expected {load.events:,}, stored {stored:,} "
          f"({distinct:,} distinct ids)")  # fmt: skip
    print(f"webhook events     expected {load.webhook_events:,}, delivered {delivered:,} "
          "(at least once; receivers dedupe on webhook-id)")  # fmt: skip
    ok &= stored == distinct == load.events and delivered >= load.webhook_events
    ok &= load.unexpected == 0 and load.errors == 0
    print(f"target: RSS growth < {RSS_TARGET:.0%} after warm-up, no fd growth, every event "
          f"stored once -> {'MET' if ok else 'NOT MET'}")  # fmt: skip
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0, help="edge requests per second")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the baseline")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs)")
    args = parser.parse_args(argv)
    if args.keep:
        directory = Path(tempfile.mkdtemp(prefix="tracer-soak-"))
        print(f"soak: logs and data in {directory}")
        return run(args, directory)
    with tempfile.TemporaryDirectory(prefix="tracer-soak-") as directory:
        return run(args, Path(directory))


if __name__ == "__main__":
    sys.exit(main())
