"""Helpers of the edge tests: a real `tracer edge` process under granian, a plain HTTP
client that never follows redirects, and readers of what the edge queued in Redis.

The fixtures that start edges are in `tests/fixtures/edge.py`."""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from batcher.enrich import Enricher
from tests.support import EXAMPLE_BRANDS, start_cli, stop_process, wait_until_ready
from tracer import hits, redis_keys
from tracer.brands import load_brands
from tracer.events import Event
from tracer.keyring import KeyRing
from tracer.settings import Settings

SHARDS = 4
# Key rings of the edges under test, and the files they were written to. The edge queues
# raw hits, and an open's hit carries its token sealed: `queued_events` opens it as the
# batcher does, with whichever registered ring authenticates it (`register_keyring`).
KEYRINGS: dict[Path, KeyRing] = {}


def register_keyring(ring: KeyRing, path: Path) -> None:
    KEYRINGS[path] = ring


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def location(self) -> str:
        return self.headers.get("location", "")


def fetch(
    port: int,
    path: str,
    host: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        data = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        connection.close()


def raw_request(port: int, request: bytes) -> bytes:
    """Send bytes as they are (for requests no HTTP library would produce)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                if len(rest) >= length:
                    break
        return b"".join(chunks)


@dataclass
class EdgeProcess:
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    answered: int = field(default=0)

    def start(self, timeout_s: float = 20.0) -> EdgeProcess:
        self.log = self.log_path.open("ab")
        workers = self.env.get("WORKERS", "1")
        self.process = start_cli(["edge", "--workers", workers], self.env, self.log)
        wait_until_ready(
            self.process, lambda: self._ready(int(workers)),
            log_tail=lambda: self.log_path.read_text()[-2000:], what="edge", timeout_s=timeout_s,
        )  # fmt: skip
        return self

    def _ready(self, workers: int) -> bool:
        # Every worker ready (a signal to a worker still starting is not a clean stop).
        if self.log_text().count("ready (producer") < workers:
            return False
        try:
            return fetch(self.port, "/healthz", "localhost").status == 200
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        if self.process is None:
            return 0
        code = stop_process(self.process, timeout_s, sig)
        self.process = None
        self.log.close()
        return code

    @property
    def metrics_port(self) -> int:
        """Where the edge serves /metrics (loopback, never the public port)."""
        return int(self.env["TRACER_EDGE_METRICS_PORT"])

    def metrics(self) -> str:
        return fetch(self.metrics_port, "/metrics", "localhost").body.decode()

    def get(self, url_or_path: str, host: str | None = None, **kwargs) -> Reply:
        host, path = _split(url_or_path, host)
        return fetch(self.port, path, host, **kwargs)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def _split(url_or_path: str, host: str | None) -> tuple[str, str]:
    if url_or_path.startswith("https://"):
        rest = url_or_path.removeprefix("https://")
        url_host, _, path = rest.partition("/")
        return host or url_host, "/" + path
    assert host is not None
    return host, url_or_path


def queued_events(
    client: redis.Redis, shards: int = SHARDS, trusted_proxies: str | None = None
) -> list[Event]:
    """Every hit and event in the queue shards, as the batcher would store them: raw hits
    enriched by the batcher's own code (bad open tokens dropped), old events as they are."""
    brands = load_brands(EXAMPLE_BRANDS)
    proxies = Settings().trusted_proxies if trusted_proxies is None else trusted_proxies
    enrichers = [Enricher(brands, ring, proxies) for ring in reversed(KEYRINGS.values())]
    found = []
    for shard in range(shards):
        for raw in client.lrange(redis_keys.event_shard(shard), 0, -1):
            queued = hits.decode_queued(raw)
            if isinstance(queued, Event):
                found.append(queued)
                continue
            for hit in queued:
                enriched = [enrich(hit) for enrich in enrichers] or [""]
                event = next((e for e in enriched if isinstance(e, Event)), None)
                if event is not None:
                    found.append(event)
    return found


def queued_hits(client: redis.Redis, shards: int = SHARDS) -> list[hits.RawHit]:
    """Every raw hit in the queue shards, as the edge recorded it."""
    found = []
    for shard in range(shards):
        for raw in client.lrange(redis_keys.event_shard(shard), 0, -1):
            queued = hits.decode_queued(raw)
            found += [] if isinstance(queued, Event) else queued
    return found


def wait_for_events(
    client: redis.Redis, count: int, timeout_s: float = 10.0, trusted_proxies: str | None = None
) -> list[Event]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = queued_events(client, trusted_proxies=trusted_proxies)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)
