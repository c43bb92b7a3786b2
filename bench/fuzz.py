"""Fuzzing the edge: hundreds of thousands of generated requests against a private edge.

    .venv/bin/python -m bench.fuzz                       # 200,000 requests (`just fuzz`)
    .venv/bin/python -m bench.fuzz --requests 5000 --seed 7

A private redis-server and `tracer edge --workers 2` (the example brands, a fresh key ring)
take requests that Hypothesis strategies build from real material: real tokens of every
route and brand, and real SMS slugs, then mutated (a character flipped, dropped, added,
percent-encoded, padded, cut, the token moved to another route or host), next to random
paths, hosts, methods, headers and bodies. Each request goes over a connection of its own,
as raw bytes, so nothing an HTTP library would refuse to send is out of reach.

It passes with:
- no 5xx answer;
- no worker restart (granian worker starts counted in the edge's log; the edge alive);
- no redirect outside a valid token: every 302 goes to a brand's landing page, or to the
  destination of a token (or slug) that opens, on its own brand's host, for the click
  route; and every Location is ASCII without spaces.
Connections closed without an answer are counted (a malformed request may be dropped by
the HTTP server) but are no failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tracer.brands import Brands, load_brands
from tracer.errors import TokenError
from tracer.keyring import KeyRing, new_keyring, write_keyring
from tracer.links import LinkBuilder
from tracer.redis_server import RedisServer, free_port
from tracer.settings import DEFAULT_CONFIG
from tracer.tokens import CLICK, TokenCodec

ROOT = Path(__file__).resolve().parent.parent
BATCH = 40  # requests per Hypothesis example
# Each generated request is also sent with this many other real tokens of its route in
# place of its own (a cheap multiplier: Hypothesis draws cost more than the requests).
VARIANTS = 7
IN_FLIGHT = 48  # requests on the wire at once
ANSWER_TIMEOUT_S = 15.0
URLSAFE = string.ascii_letters + string.digits + "-_"
ODD_PATHS = ["/c/" + "A" * 7000, "/c/" + "A" * 9000, "*", "/%", "/c/%2e%2e/%2e%2e", "/c/\u00e9",
             "/s/" + "z" * 8]  # fmt: skip


# --- the edge under test -------------------------------------------------------------------
class FuzzTarget:
    """A private redis-server and `tracer edge` on free ports, in a directory of its own."""

    def __init__(self, directory: Path, workers: int = 2) -> None:
        self.directory = directory
        self.workers = workers
        self.keyring = new_keyring()
        self.brands = load_brands(DEFAULT_CONFIG)
        self.redis = RedisServer(directory / "redis", persistent=False)
        self.port = free_port()
        self.log_path = directory / "edge.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.redis.start()
        write_keyring(self.keyring, self.directory / "keyring.json")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TRACER_")},
            "TRACER_KEYS": str(self.directory / "keyring.json"),
            "TRACER_DATA_DIR": str(self.directory / "var"),
            "TRACER_EDGE_HOST": "127.0.0.1",
            "TRACER_EDGE_PORT": str(self.port),
            "TRACER_EDGE_METRICS_PORT": str(free_port()),
            "TRACER_LOG_LEVEL": "INFO",
            "REDIS_URL": self.redis.url,
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cli", "edge", "--workers", str(self.workers)],
                cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while self.worker_starts() < self.workers:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the edge did not start:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def worker_starts(self) -> int:
        return self.log().count("ready (producer")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.redis.stop()


# --- real material -------------------------------------------------------------------------
@dataclass
class Material:
    tokens: list[tuple[str, str, str]]  # (route, token, host)
    slugs: dict[str, str]  # slug -> destination
    hosts: list[str]


def real_material(target: FuzzTarget, rng: random.Random) -> Material:
    builder = LinkBuilder(target.brands, target.keyring)
    tokens = []
    brands = list(target.brands)
    for n in range(300):
        brand = brands[n % len(brands)]
        message = f"fz-{n}"
        url = f"https://{brand.id}.example/jobs/{n}?q={rng.randrange(10**6)}"
        for made in (
            builder.click(brand.id, message, url, campaign=rng.choice(["a", "b", ""])),
            builder.open(brand.id, message, recipient=f"r{n}@example.com"),
            builder.unsubscribe(brand.id, message, recipient=f"r{n}@example.com"),
        ):
            host, _, path = made.removeprefix("https://").partition("/")
            route, _, token = path.partition("/")
            tokens.append((f"/{route}/", token, host))
    slugs = asyncio.run(_make_slugs(target, builder, brands))
    hosts = [host for brand in brands for host in brand.hosts]
    return Material(tokens, slugs, hosts)


async def _make_slugs(target: FuzzTarget, builder: LinkBuilder, brands: list) -> dict[str, str]:
    from tracer.redis_cluster import connect
    from tracer.slugs import ShortLinks, SlugAllocator

    client = connect(target.redis.url, cluster=False)
    try:
        payloads = [
            builder.click_payload(
                brand.id, f"sms-{n}", f"https://{brand.id}.example/s/{n}", channel="sms"
            )
            for n, brand in enumerate(brands)
        ]
        allocator = SlugAllocator(client, target.keyring.slug_secret())
        slugs = await ShortLinks(client, allocator, builder.codec).create(payloads)
    finally:
        await client.aclose()
    return {slug: payload.url for slug, payload in zip(slugs, payloads, strict=True)}


# --- strategies ----------------------------------------------------------------------------
def _mutations(token: str) -> st.SearchStrategy[str]:
    position = st.integers(0, max(len(token) - 1, 0))
    char = st.sampled_from(URLSAFE + "=+/%.~!*'()")
    return st.one_of(
        st.just(token),
        st.builds(lambda i, c: token[:i] + c + token[i + 1 :], position, char),  # flipped
        st.builds(lambda i: token[:i] + token[i + 1 :], position),  # dropped
        st.builds(lambda i, c: token[:i] + c + token[i:], position, char),  # added
        st.builds(lambda i: token[:i], position),  # cut
        st.builds(lambda i: token[:i] + "%" + f"{ord(token[i]):02X}" + token[i + 1 :], position)
        if token
        else st.just(token),  # percent-encoded: the same token once decoded
        st.sampled_from(
            [
                token + "=",
                token + "==",
                token + token,
                token.swapcase(),
                token + "/x",
                token + "%00",
                token.replace("-", "+"),
            ]
        ),
    )


def requests(material: Material) -> st.SearchStrategy[tuple[bytes, str]]:
    """(raw request, the real token it was made from)."""
    real = st.sampled_from(material.tokens)
    slug_names = list(material.slugs)
    methods = st.one_of(
        st.sampled_from(["GET"] * 6 + ["HEAD", "POST", "PUT", "DELETE", "OPTIONS", "get"]),
        st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=8),
    )
    routes = st.sampled_from(["/c/", "/o/", "/u/", "/s/", "/", "/healthz", "/readyz",
                              "/metrics", "/c", "/C/", "//c/", "/c//", "/x/"])  # fmt: skip
    suffixes = st.sampled_from(["", "", "", ".gif", "/", "?x=1", "?u=%FF", "#f", ";x", "%20"])
    safe_text = st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x2FFF,
                               exclude_characters="\r\n"), max_size=40,
    )  # fmt: skip
    header_values = st.one_of(
        safe_text,
        st.sampled_from(
            [
                "203.0.113.5",
                "::ffff:198.51.100.77",
                "garbage, 10.0.0.1",
                "",
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
                "GoogleImageProxy",
                "curl/8.0",
                "1.2.3.4, ::1, [::1]",
            ]
        ),
    )
    headers = st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "X-Forwarded-For",
                    "User-Agent",
                    "Content-Type",
                    "Cookie",
                    "Referer",
                    "Accept",
                    "X-Real-IP",
                    "Forwarded",
                    "Range",
                ]
            ),
            header_values,
        ),
        max_size=4,
    )
    bodies = st.one_of(
        st.just(b""),
        st.sampled_from([b"List-Unsubscribe=One-Click", b"scope=all", b"scope=list", b"x"]),
        st.binary(max_size=200),
    )

    @st.composite
    def one(draw: st.DrawFn) -> tuple[bytes, str]:
        route, token, host = draw(real)
        kind = draw(st.integers(0, 9))
        if kind <= 4:
            path = route + draw(_mutations(token))
        elif kind == 5:
            path = draw(routes) + draw(_mutations(token))  # another route's token
        elif kind == 6 and slug_names:
            path = "/s/" + draw(_mutations(draw(st.sampled_from(slug_names))))
        elif kind == 7:
            path = draw(routes) + draw(st.text(alphabet=URLSAFE, max_size=120))
        elif kind == 8:
            path = draw(routes) + urllib.parse.quote_from_bytes(draw(st.binary(max_size=60)))
        else:
            path = draw(st.sampled_from(ODD_PATHS))
        path += draw(suffixes)
        host_choice = draw(st.integers(0, 7))
        if host_choice <= 3:
            host_value = host
        elif host_choice == 4:
            host_value = draw(st.sampled_from(material.hosts))  # another brand's host
        elif host_choice == 5:
            host_value = draw(st.sampled_from([host.upper(), host + ":8080", host + ".",
                                               f" {host} "]))  # fmt: skip
        elif host_choice == 6:
            host_value = draw(st.sampled_from(["", "localhost", "[::1]", "évil.example",
                                               "t.northjobs.example\x00x"]))  # fmt: skip
        else:
            host_value = None  # no Host header at all
        method = draw(methods)
        body = draw(bodies) if method not in ("GET", "HEAD") or draw(st.booleans()) else b""
        lines = [f"{method} {path} HTTP/1.1".encode("utf-8", "surrogateescape")]
        if host_value is not None:
            lines.append(b"Host: " + host_value.encode("utf-8", "surrogateescape"))
        for name, value in draw(headers):
            lines.append(f"{name}: ".encode() + value.encode("utf-8", "surrogateescape"))
        if body or method == "POST":
            lines.append(b"Content-Length: " + str(len(body)).encode())
        lines.append(b"Connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n" + body, token

    return one()


# --- sending and judging --------------------------------------------------------------------
@dataclass
class Tally:
    sent: int = 0
    statuses: Counter = field(default_factory=Counter)
    no_answer: int = 0
    # 302s to a real token's destination (the rest went to landing pages).
    to_destinations: int = 0
    server_errors: list[bytes] = field(default_factory=list)
    bad_redirects: list[tuple[bytes, str]] = field(default_factory=list)


class Judge:
    """Which redirects are allowed: a landing page, or a real token's own destination."""

    def __init__(self, brands: Brands, keyring: KeyRing, slugs: dict[str, str]) -> None:
        self.codec = TokenCodec(keyring)
        self.landings = {brand.landing_url for brand in brands}
        self.brand_of_host = {host: brand.id for brand in brands for host in brand.hosts}
        self.slugs = slugs

    def redirect(self, request: bytes, location: str) -> str | None:
        """ "landing", "destination", or None for a redirect that must not happen."""
        if not location.isascii() or " " in location:
            return None
        if location in self.landings:
            return "landing"
        head = request.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace").split("\r\n")
        target = head[0].split(" ")[1] if len(head[0].split(" ")) > 2 else ""
        host = next((line[5:].strip() for line in head[1:] if line.lower().startswith("host:")), "")
        brand = self.brand_of_host.get(host.lower().rstrip(".").split(":")[0])
        path = urllib.parse.unquote(target.partition("?")[0].partition("#")[0])
        destination = None
        if path.startswith("/c/"):
            with contextlib.suppress(TokenError, ValueError):
                payload = self.codec.open(path[3:])
                if payload.kind == CLICK and payload.brand == brand:
                    destination = payload.url
        elif path.startswith("/s/"):
            destination = self.slugs.get(path[3:])
        if destination is not None and location.startswith(destination):
            return "destination"
        return None


async def _send(port: int, raw: bytes, judge: Judge, tally: Tally) -> None:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), ANSWER_TIMEOUT_S
        )
    except (OSError, TimeoutError):
        tally.no_answer += 1
        return
    try:
        writer.write(raw)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), ANSWER_TIMEOUT_S)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        tally.no_answer += 1
        return
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    status = int(head[9:12]) if head[9:12].isdigit() else 0
    tally.statuses[status] += 1
    if status >= 500:
        tally.server_errors.append(raw[:300])
    if status in (301, 302, 303, 307, 308):
        location = ""
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"location:"):
                location = line[9:].strip().decode("latin-1")
        verdict = judge.redirect(raw, location)
        if verdict is None:
            tally.bad_redirects.append((raw[:300], location[:300]))
        elif verdict == "destination":
            tally.to_destinations += 1


class Sender:
    """An event loop in a thread of its own; Hypothesis hands it batches."""

    def __init__(self, port: int, judge: Judge) -> None:
        self.port = port
        self.judge = judge
        self.tally = Tally()
        self.loop = asyncio.new_event_loop()
        self.slots = threading.BoundedSemaphore(IN_FLIGHT)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def submit(self, raw: bytes) -> None:
        self.slots.acquire()
        self.tally.sent += 1
        future = asyncio.run_coroutine_threadsafe(
            _send(self.port, raw, self.judge, self.tally), self.loop
        )
        future.add_done_callback(lambda _: self.slots.release())

    def drain(self) -> None:
        for _ in range(IN_FLIGHT):
            self.slots.acquire()
        for _ in range(IN_FLIGHT):
            self.slots.release()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


@dataclass
class FuzzResult:
    tally: Tally
    worker_starts: int
    workers: int
    edge_alive: bool
    seconds: float

    @property
    def restarts(self) -> int:
        return self.worker_starts - self.workers

    @property
    def passed(self) -> bool:
        return (
            not self.tally.server_errors
            and not self.tally.bad_redirects
            and self.restarts == 0
            and self.edge_alive
        )

    def report(self, seed_value: int) -> str:
        tally = self.tally
        statuses = ", ".join(
            f"{code or 'unparsed'}: {n}" for code, n in sorted(tally.statuses.items())
        )
        lines = [
            f"requests sent        {tally.sent:,} in {self.seconds:.0f}s "
            f"({tally.sent / max(self.seconds, 1e-9):,.0f}/s), seed {seed_value}",
            f"answers by status    {statuses}",
            f"no answer            {tally.no_answer:,}",
            f"5xx                  {len(tally.server_errors)}",
            f"worker restarts      {self.restarts} (edge {'alive' if self.edge_alive else 'DEAD'})",
            f"bad redirects        {len(tally.bad_redirects)} "
            f"(302s to a valid token's destination: {tally.to_destinations:,})",
        ]
        lines += [f"  5xx for: {raw!r}" for raw in tally.server_errors[:5]]
        lines += [f"  302 to {loc!r} for: {raw!r}" for raw, loc in tally.bad_redirects[:5]]
        lines.append("PASS" if self.passed else "FAIL")
        return "\n".join(lines)


def fuzz(count: int, seed_value: int, directory: Path, workers: int = 2) -> FuzzResult:
    target = FuzzTarget(directory, workers)
    target.start()
    try:
        material = real_material(target, random.Random(seed_value))
        sender = Sender(target.port, Judge(target.brands, target.keyring, material.slugs))
        started = time.monotonic()
        rng = random.Random(seed_value)
        others = [token.encode() for _, token, _ in material.tokens]

        def run_batches(round_seed: int, examples: int) -> None:
            @seed(round_seed)
            @settings(
                max_examples=examples,
                database=None,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(st.lists(requests(material), min_size=BATCH, max_size=BATCH))
            def batch(generated: list[tuple[bytes, str]]) -> None:
                for raw, token in generated:
                    sender.submit(raw)
                    if token and token.encode() in raw:
                        for other in rng.sample(others, VARIANTS):
                            sender.submit(raw.replace(token.encode(), other))

            batch()

        # Rounds until `count` are sent (how many variants a batch gets depends on it).
        for round_number in itertools.count():
            remaining = count - sender.tally.sent
            if remaining <= 0:
                break
            run_batches(seed_value + round_number, max(1, remaining // (BATCH * 3)))
        sender.drain()
        seconds = time.monotonic() - started
        time.sleep(1.5)  # a worker that died on the last requests is seen by now
        return FuzzResult(sender.tally, target.worker_starts(), workers, target.alive(), seconds)
    finally:
        target.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fuzz", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    seed_value = args.seed if args.seed is not None else random.randrange(2**32)
    with tempfile.TemporaryDirectory(prefix="tracer-fuzz-") as directory:
        result = fuzz(args.requests, seed_value, Path(directory), args.workers)
    print(result.report(seed_value), flush=True)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
