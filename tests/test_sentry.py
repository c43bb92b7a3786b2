"""Sentry: a local aiohttp server stands in for the DSN's host and receives what a real
sentry-sdk transport sends from role processes; events carry the role (and the brand)
and never a secret or a recipient."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.edge.helpers import EdgeProcess
from tests.support import ROOT
from tracer.links import LinkBuilder
from tracer.observability import brand_of, scrub

pytest.importorskip("sentry_sdk")

RECIPIENT = "jane.doe@example.com"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
REDIS_PASSWORD = "hunter2-redis"
CLIENT_IP = "203.0.113.77"


class SentryStandIn:
    """An HTTP server, in a thread of its own, keeping every envelope POSTed to it."""

    def __init__(self) -> None:
        self.envelopes: list[bytes] = []
        self._arrived = threading.Condition()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, name="sentry-stand-in", daemon=True)
        self.port = 0

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.port}/1"

    def start(self) -> SentryStandIn:
        self._thread.start()
        assert self._ready.wait(10), "the Sentry stand-in did not start"
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def wait_for_event(
        self, matches: Callable[[dict[str, Any]], bool], timeout_s: float = 20.0
    ) -> tuple[dict[str, Any], bytes]:
        """The first event for which `matches` is true, and the raw envelope it came in."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while True:
                for raw in self.envelopes:
                    for event in events_in(raw):
                        if matches(event):
                            return event, raw
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no matching event among {len(self.envelopes)} envelope(s)"
                    )
                self._arrived.wait(left)

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._receive)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
        self.port = runner.addresses[0][1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    async def _receive(self, request: web.Request) -> web.Response:
        # aiohttp decodes the transport's Content-Encoding (gzip) itself.
        body = await request.read()
        with self._arrived:
            self.envelopes.append(body)
            self._arrived.notify_all()
        return web.json_response({"id": "0" * 32})


def events_in(envelope: bytes) -> list[dict[str, Any]]:
    """The `event` items of a Sentry envelope (header line, then item header + payload)."""
    _header, _, rest = envelope.partition(b"\n")
    found = []
    while rest.strip():
        item_header, _, rest = rest.partition(b"\n")
        item = json.loads(item_header)
        if "length" in item:
            payload, rest = rest[: item["length"]], rest[item["length"] + 1 :]
        else:
            payload, _, rest = rest.partition(b"\n")
        if item.get("type") == "event":
            found.append(json.loads(payload))
    return found


def exception_of(event: dict[str, Any]) -> dict[str, Any]:
    return event["exception"]["values"][-1]


def assert_nothing_private(raw: bytes, *also: str) -> None:
    for secret in (RECIPIENT, "jane.doe", WEBHOOK_SECRET, REDIS_PASSWORD, CLIENT_IP, *also):
        assert secret.encode() not in raw, secret
    assert b'"vars"' not in raw  # no local variables of any frame


@pytest.fixture
def sentry() -> Iterator[SentryStandIn]:
    server = SentryStandIn().start()
    yield server
    server.stop()


FAILING_ROLE = """
from tracer.observability import init_sentry
from tracer.settings import load_settings


def deliver(brand: str, recipient: str, link: str) -> None:
    secret = {secret!r}
    raise RuntimeError(
        f"cannot deliver {{link}} of {{recipient}} (signed with {{secret}}) "
        f"via redis://:{password}@10.1.2.3:6379/0 for {client_ip}"
    )


assert init_sentry("batcher", load_settings())
deliver("northjobs", {recipient!r}, "https://t.northjobs.example/c/AQAB" + "x" * 64)
"""


def test_an_unhandled_error_reaches_sentry_with_role_and_brand_and_nothing_private(
    sentry: SentryStandIn, tmp_path: Path
) -> None:
    """1. A process initialises Sentry as the batcher does and dies of an exception whose
    message holds a tracking link, a recipient, a webhook secret and a Redis password.
    Result: the event arrives tagged role=batcher and brand=northjobs (the failing frame's
    `brand`), with a stack trace, and none of those values in the envelope."""
    script = tmp_path / "failing_role.py"
    script.write_text(
        FAILING_ROLE.format(
            secret=WEBHOOK_SECRET,
            password=REDIS_PASSWORD,
            client_ip=CLIENT_IP,
            recipient=RECIPIENT,
        )
    )
    env = {"PATH": "/usr/bin:/bin", "SENTRY_DSN": sentry.dsn, "TRACER_DATA_DIR": str(tmp_path)}

    finished = subprocess.run(
        [sys.executable, str(script)], env=env, cwd=ROOT, capture_output=True, timeout=30
    )

    assert finished.returncode == 1
    assert b"RuntimeError" in finished.stderr  # the usual traceback is still printed
    event, raw = sentry.wait_for_event(lambda e: "exception" in e)
    assert event["tags"]["role"] == "batcher"
    assert event["tags"]["brand"] == "northjobs"
    exception = exception_of(event)
    assert exception["type"] == "RuntimeError"
    assert exception["mechanism"]["handled"] is False
    assert exception["stacktrace"]["frames"][-1]["function"] == "deliver"
    message = exception["value"]
    assert "https://t.northjobs.example/c/…" in message
    assert "[email]" in message and f"whsec_{'[Filtered]'}" in message
    assert "redis://[Filtered]@10.1.2.3:6379/0" in message
    assert "203.0.113.0" in message
    assert_nothing_private(raw, "AQAB" + "x" * 64)


INJECT_FAULT = """
# Test-only fault injected into the edge's workers: a click whose destination contains
# /explode fails inside the request path, as a bug would.
import edge.redirects

_location = edge.redirects.RedirectBuilder.location


def location(self, url, *args, **kwargs):
    if "/explode" in url:
        raise RuntimeError(f"cannot build the redirect to {{url}} for {recipient!r}")
    return _location(self, url, *args, **kwargs)


edge.redirects.RedirectBuilder.location = location
"""


@pytest.fixture
def failing_edge(
    request: pytest.FixtureRequest, sentry: SentryStandIn, tmp_path: Path
) -> EdgeProcess:
    """`tracer edge` under granian with SENTRY_DSN set and a fault injected into its
    workers (the edge fixtures of tests/edge, asked for by name)."""
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(INJECT_FAULT.format(recipient=RECIPIENT))
    env = request.getfixturevalue("edge_env")
    start = request.getfixturevalue("start_edge")
    return start({**env, "SENTRY_DSN": sentry.dsn, "PYTHONPATH": str(inject)})


def test_an_internal_error_of_the_edge_reaches_sentry_with_its_error_id(
    sentry: SentryStandIn, failing_edge: EdgeProcess, request: pytest.FixtureRequest
) -> None:
    """1. The edge runs under granian with SENTRY_DSN (Sentry is set up in each worker).
    2. A click fails inside the request path (a fault injected into the worker).
    Result: the recipient still gets an answer (404, no 500); the error log line's id is
    the event's `error_id` tag; the event has role=edge, brand=northjobs, the exception's
    stack trace, and neither the token nor the recipient."""
    links: LinkBuilder = request.getfixturevalue("builder")
    url = links.click("northjobs", "m-1", "https://northjobs.example/explode", recipient=RECIPIENT)
    token = url.rsplit("/", 1)[1]
    edge = failing_edge

    reply = edge.get(url)

    assert reply.status == 404
    event, raw = sentry.wait_for_event(lambda e: e.get("tags", {}).get("role") == "edge")
    logged = [json.loads(line) for line in edge.log_text().splitlines() if '"request ' in line]
    assert len(logged) == 1 and logged[0]["msg"].startswith("request ")
    error_id = logged[0]["msg"].split()[1]
    assert event["tags"]["error_id"] == error_id
    assert event["tags"]["brand"] == "northjobs"
    assert event["level"] == "error" and event["logger"] == "edge.app"
    exception = exception_of(event)
    assert exception["type"] == "RuntimeError"
    functions = [frame["function"] for frame in exception["stacktrace"]["frames"]]
    assert "_redirect" in functions
    assert_nothing_private(raw, token)
    assert event["release"].startswith("tracer@")


def test_brand_of_finds_the_innermost_frame_holding_one() -> None:
    class Endpoint:
        brand = "harborcareers"

    def deliver(endpoint: Endpoint) -> None:
        raise ValueError("refused")

    def run(brand: str) -> None:
        deliver(Endpoint())

    with pytest.raises(ValueError) as caught:
        run("northjobs")
    assert brand_of(caught.value) == "harborcareers"
    assert brand_of(ValueError("never raised")) is None


def test_scrub_filters_secret_keys_and_recipient_fields_at_any_depth() -> None:
    event = {
        "extra": {"recipient": RECIPIENT, "webhook": {"secret": WEBHOOK_SECRET, "id": "e1"}},
        "breadcrumbs": {"values": [{"message": f"GET https://h.example/u/AQAB{'y' * 40}?k=v"}]},
        "logentry": {"params": (RECIPIENT, 3)},
    }

    clean = scrub(event)

    assert clean["extra"] == {"recipient": "[Filtered]", "webhook": {"secret": "[Filtered]",
                                                                     "id": "e1"}}  # fmt: skip
    assert clean["breadcrumbs"]["values"][0]["message"] == "GET https://h.example/u/…?[Filtered]"
    assert clean["logentry"]["params"] == ["[email]", 3]


BREAK_SENTRY_INIT = """
# Test-only: sentry-sdk refuses an option at init, as sentry-sdk 3.0 did with 2.x's options.
import sentry_sdk


def init(*args, **kwargs):
    raise TypeError("Unknown option 'send_default_pii'")


sentry_sdk.init = init
"""


@pytest.mark.parametrize("failure", ["sdk_refuses_init", "malformed_dsn"])
def test_a_role_whose_sentry_cannot_start_logs_one_error_and_serves(
    failure: str, sentry: SentryStandIn, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """1. The edge starts with SENTRY_DSN set, and initialising Sentry fails: the SDK
    refuses an option (as a new major release may), or the DSN is malformed.
    Result: the edge serves clicks all the same; the supervisor and each worker log one
    clear error saying Sentry is off, without the DSN's key; nothing reaches the stand-in."""
    env = request.getfixturevalue("edge_env")
    links: LinkBuilder = request.getfixturevalue("builder")
    if failure == "sdk_refuses_init":
        inject = tmp_path / "inject"
        inject.mkdir()
        (inject / "sitecustomize.py").write_text(BREAK_SENTRY_INIT)
        env = {**env, "SENTRY_DSN": sentry.dsn, "PYTHONPATH": str(inject)}
    else:
        env = {**env, "SENTRY_DSN": "htp:/publickey@127.0.0.1"}
    edge: EdgeProcess = request.getfixturevalue("start_edge")(env)

    reply = edge.get(links.click("northjobs", "m-1", "https://northjobs.example/jobs/1"))

    assert reply.status == 302
    errors = [
        json.loads(line)
        for line in edge.log_text().splitlines()
        if line.startswith("{") and '"level":"error"' in line
    ]
    # One line from the process that validates the configuration, one from the worker.
    assert len(errors) == 2, errors
    for line in errors:
        assert line["msg"].startswith("Sentry is off for edge: initialising sentry-sdk")
        assert line["msg"].endswith("running without it")
        assert "publickey" not in line["msg"]
    assert sentry.envelopes == []
