"""The live dashboard on the admin port: only the admin token opens it, and a real browser
watching it sees the pipeline's numbers move while traffic flows through the real edge
and a real batcher (headless Chromium driven by Playwright). First, the pieces it is made
of: the token, the session cookie, rates from counters, and reading the dispatchers'
metrics back."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

from admin.dashboard.prometheus import parse
from admin.dashboard.redis_state import RedisReading
from admin.dashboard.sections import webhooks_section
from admin.dashboard.sessions import Sessions
from admin.dashboard.token import load_admin_token
from admin.dashboard.window import Reading, Window
from dispatcher.metrics import Metrics
from tests.admin.helpers import NORTHJOBS_KEY, SHARDS, AdminProcess
from tests.edge.helpers import EdgeProcess, Reply
from tests.support import EXAMPLE_BRANDS, ROOT, environment_without_settings
from tracer.brands import Brands
from tracer.endpoint_state import EndpointState
from tracer.errors import ConfigurationError
from tracer.keyring import KeyRing
from tracer.links import LinkBuilder
from tracer.redis_server import free_port
from tracer.webhooks import endpoints

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TOKEN = "dashboard-test-token-6f1c0b3e9a"
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
APPLE_MPP_ADDRESS = "17.58.101.7"
GMAIL_PROXY_UA = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)


# --- the pieces ----------------------------------------------------------------------
def test_a_generated_token_is_private_reused_and_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    first = load_admin_token({}, tmp_path)
    path = tmp_path / "admin-token"
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(first.value) >= 40 and first.source == str(path)
    assert load_admin_token({}, tmp_path).value == first.value  # a restart keeps it
    assert str(path) in caplog.text and first.value not in caplog.text
    configured = load_admin_token({"TRACER_ADMIN_TOKEN": TOKEN}, tmp_path)
    assert (configured.value, configured.source) == (TOKEN, "TRACER_ADMIN_TOKEN")
    assert configured.matches(TOKEN) and not configured.matches(TOKEN + "x")
    with pytest.raises(ConfigurationError, match=r"TRACER_ADMIN_TOKEN: .* at least 16"):
        load_admin_token({"TRACER_ADMIN_TOKEN": "short"}, tmp_path)


def test_a_session_cookie_expires_and_cannot_be_forged() -> None:
    now = [1_000_000.0]
    sessions = Sessions(TOKEN, ttl_s=60, clock=lambda: now[0])
    cookie = sessions.issue()
    assert sessions.session(cookie) is not None and TOKEN not in cookie
    expires, session_id, signature = cookie.split(".")
    assert sessions.session(f"{int(expires) + 3600}.{session_id}.{signature}") is None  # stretched
    assert sessions.session(f"{expires}.another-id.{signature}") is None
    assert sessions.session(cookie.replace(signature, "0" * len(signature))) is None
    assert Sessions("another-token-entirely", clock=lambda: now[0]).session(cookie) is None
    assert sessions.session("ünïcode.x.y") is None and sessions.session(None) is None
    now[0] += 61
    assert sessions.session(cookie) is None


def test_rates_come_from_counter_increases_and_survive_a_restart() -> None:
    window = Window(rate_window_s=5.0)
    window.add(Reading(t=100.0, edge_requests={"click": 1000.0}))
    assert window.per_s(lambda r: r.edge_requests["click"]) is None  # one reading: unknown
    window.add(Reading(t=102.0, edge_requests={"click": 1100.0}))
    assert window.per_s(lambda r: r.edge_requests["click"]) == 50.0
    # The edge restarted: its counters begin again from zero.
    window.add(Reading(t=104.0, edge_requests={"click": 40.0}))
    assert window.per_s(lambda r: r.edge_requests["click"]) == 10.0
    # Readings older than the window stop counting.
    window.add(Reading(t=110.0, edge_requests={"click": 100.0}))
    assert window.per_s(lambda r: r.edge_requests["click"]) == 10.0


def test_webhook_health_reads_the_dispatchers_own_metrics(example_brands: Brands) -> None:
    """The dispatcher's real /metrics text, read back per endpoint, next to the breaker
    state and dead letters Redis holds."""
    brand = example_brands.get("northjobs")
    endpoint_id = next(iter(endpoints(brand)))
    metrics = Metrics()
    stats = metrics.for_endpoint(brand.id, endpoint_id)
    stats.delivered, stats.retried, stats.dead_lettered = 40, 3, 1
    stats.failed.update({"timeout": 2, "http_503": 1})
    for seconds in (0.02, 0.03, 0.04, 2.0):
        stats.observe_latency(seconds)
    redis = RedisReading(
        dlq={brand.id: 1},
        endpoints={endpoint_id: EndpointState(breaker="open")},
    )

    section = webhooks_section(example_brands, redis, parse(metrics.render()))

    row = next(row for row in section.endpoints if row.endpoint == endpoint_id)
    assert (row.delivered, row.failed, row.retried, row.dead_lettered) == (40, 3, 3, 1)
    assert (row.breaker, row.disabled, row.dlq) == ("open", False, 1)
    assert row.latency_p99_s is not None and 1.0 < row.latency_p99_s <= 2.5
    assert "?" not in row.url
    assert (section.delivered, section.failed, section.dlq) == (40, 3, 1)


# --- plain HTTP, no redirects followed --------------------------------------------------
@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def call(
    url: str,
    *,
    bearer: str | None = None,
    cookie: str | None = None,
    form: dict[str, str] | None = None,
) -> Answer:
    headers = {}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    if cookie is not None:
        headers["Cookie"] = cookie
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with _opener.open(request, timeout=10) as reply:
            # The event stream never ends: its first bytes are enough.
            body = (
                reply.read(200)
                if "event-stream" in reply.headers.get("Content-Type", "")
                else reply.read()
            )
            return Answer(reply.status, {k.lower(): v for k, v in reply.headers.items()}, body)
    except urllib.error.HTTPError as error:
        return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


GUARDED = ["/", "/dashboard/data", "/dashboard/events"]


@pytest.fixture
def admin(start_admin: Callable[..., AdminProcess], redis_url: str) -> AdminProcess:
    return start_admin(
        redis_url,
        TRACER_ADMIN_TOKEN=TOKEN,
        TRACER_BATCHER_METRICS_PORT="0",
        TRACER_DISPATCHER_METRICS_PORT="0",
    )


def test_only_the_admin_token_opens_the_dashboard(admin: AdminProcess) -> None:
    """1. The page, its data and its event stream are asked for without credentials, with a
    wrong token, with a brand's API key, then with the admin token.
    2. The login form is sent a wrong token, then the right one.
    Result: only the admin token (as a bearer or through the session cookie it buys) is
    let in; a browser without a session is sent to the login form; the cookie is HttpOnly,
    SameSite=Strict and is not the token; the token never reaches the log."""
    base = admin.url
    assert call(base + "/").status == 303
    assert call(base + "/").headers["location"] == "/dashboard/login"
    for path in GUARDED[1:]:
        answer = call(base + path)
        assert answer.status == 401, path
        assert answer.headers["www-authenticate"].startswith("Bearer")
    for wrong in ("not-the-token-at-all", TOKEN[:-1], NORTHJOBS_KEY):
        for path in GUARDED:
            assert call(base + path, bearer=wrong).status == 401, (wrong, path)
    # The admin token is no brand key either.
    assert call(base + "/v1/stats", bearer=TOKEN).status == 401

    page = call(base + "/", bearer=TOKEN)
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    # Self-contained: nothing is loaded from anywhere else.
    assert re.search(rb"""(src|href)\s*=\s*["']?(https?:)?//""", page.body) is None
    data = call(base + "/dashboard/data", bearer=TOKEN)
    assert data.status == 200 and data.headers["content-type"].startswith("application/json")
    stream = call(base + "/dashboard/events", bearer=TOKEN)
    assert stream.status == 200 and stream.headers["content-type"].startswith("text/event-stream")

    refused = call(base + "/dashboard/login", form={"token": "guess-guess-guess-guess"})
    assert refused.status == 401 and b"not the admin token" in refused.body
    assert "set-cookie" not in refused.headers
    login = call(base + "/dashboard/login", form={"token": TOKEN})
    assert (login.status, login.headers["location"]) == (303, "/")
    cookie_header = login.headers["set-cookie"]
    assert "HttpOnly" in cookie_header and "SameSite=Strict" in cookie_header
    morsel = next(iter(SimpleCookie(cookie_header).values()))
    assert TOKEN not in morsel.value
    session = f"{morsel.key}={morsel.value}"
    assert call(base + "/dashboard/data", cookie=session).status == 200
    assert call(base + "/", cookie=session).status == 200
    tampered = session[:-1] + ("1" if session.endswith("0") else "0")
    assert call(base + "/dashboard/data", cookie=tampered).status == 401
    # A wrong bearer is not rescued by a good cookie.
    assert call(base + "/dashboard/data", cookie=session, bearer="wrong-wrong").status == 401

    logout = call(base + "/dashboard/logout", cookie=session, form={})
    assert (logout.status, logout.headers["location"]) == (303, "/dashboard/login")
    assert 'tracer_dashboard=""' in logout.headers["set-cookie"]

    assert TOKEN not in admin.log_text()


def test_logout_ends_the_session_on_every_admin_process(
    start_admin: Callable[..., AdminProcess], redis_url: str
) -> None:
    """1. Log in on one admin process; the cookie opens the dashboard on it and on a
    second process sharing Redis and the token.
    2. Log out on the first.
    Result: the old cookie (kept by a thief, say) opens nothing, on either process; a new
    login works."""
    env = {"TRACER_ADMIN_TOKEN": TOKEN, "TRACER_BATCHER_METRICS_PORT": "0",
           "TRACER_DISPATCHER_METRICS_PORT": "0"}  # fmt: skip
    first, second = start_admin(redis_url, **env), start_admin(redis_url, **env)
    login = call(first.url + "/dashboard/login", form={"token": TOKEN})
    morsel = next(iter(SimpleCookie(login.headers["set-cookie"]).values()))
    session = f"{morsel.key}={morsel.value}"
    for admin in (first, second):
        assert call(admin.url + "/dashboard/data", cookie=session).status == 200

    assert call(first.url + "/dashboard/logout", cookie=session, form={}).status == 303

    for admin in (first, second):
        assert call(admin.url + "/dashboard/data", cookie=session).status == 401
        assert call(admin.url + "/", cookie=session).headers["location"] == "/dashboard/login"
    again = call(second.url + "/dashboard/login", form={"token": TOKEN})
    fresh = next(iter(SimpleCookie(again.headers["set-cookie"]).values()))
    assert call(first.url + "/dashboard/data", cookie=f"{fresh.key}={fresh.value}").status == 200


# --- the live page ----------------------------------------------------------------------
@dataclass
class Stack:
    admin: AdminProcess
    edge: EdgeProcess
    batcher_metrics_port: int


@pytest.fixture
def stack(
    tmp_path: Path,
    redis_url: str,
    admin_keyring_file: Path,
    start_admin: Callable[..., AdminProcess],
) -> Iterator[Stack]:
    """Edge, batcher and admin sharing one data directory (the edge's snapshot files, the
    SQLite store) and the session's Redis."""
    data_dir = tmp_path / "admin-var"  # the one `start_admin` gives the admin
    base_env = {
        **environment_without_settings(),
        "TRACER_CONFIG": str(EXAMPLE_BRANDS),
        "TRACER_KEYS": str(admin_keyring_file),
        "TRACER_DATA_DIR": str(data_dir),
        "TRACER_QUEUE_SHARDS": str(SHARDS),
        "REDIS_URL": redis_url,
        "TRACER_LOG_FORMAT": "text",
    }
    metrics_port = free_port()
    batcher_log = (tmp_path / "batcher.log").open("wb")
    batcher = subprocess.Popen(
        [sys.executable, "-m", "cli", "batcher", "--no-periodic-jobs"],
        env={**base_env, "TRACER_BATCHER_METRICS_PORT": str(metrics_port)},
        cwd=ROOT,
        stdout=batcher_log,
        stderr=subprocess.STDOUT,
    )
    edge_port = free_port()
    edge = EdgeProcess(
        port=edge_port,
        env={**base_env, "TRACER_EDGE_PORT": str(edge_port)},
        log_path=tmp_path / "edge.log",
    )
    try:
        edge.start()
        admin = start_admin(
            redis_url,
            TRACER_ADMIN_TOKEN=TOKEN,
            TRACER_BATCHER_METRICS_PORT=str(metrics_port),
            TRACER_DISPATCHER_METRICS_PORT="0",
            TRACER_DASHBOARD_INTERVAL_S="0.5",
        )
        yield Stack(admin=admin, edge=edge, batcher_metrics_port=metrics_port)
    finally:
        edge.stop()
        batcher.send_signal(signal.SIGTERM)
        try:
            batcher.wait(20)
        except subprocess.TimeoutExpired:
            batcher.kill()
            batcher.wait()
        batcher_log.close()


def send_messages(admin: AdminProcess, count: int) -> None:
    """Messages sent through the API with North Jobs' key (their `sent` events are what
    MPP-adjusted opens are estimated against)."""
    for i in range(count):
        body = {
            "recipient": f"r{i}@example.com",
            "message_id": f"dash-sent-{i}",
            "campaign": "weekly-matches",
            "job_source": "indeed",
            "urls": [f"https://northjobs.example/jobs/{i}"],
        }
        request = urllib.request.Request(
            admin.url + "/v1/messages",
            data=json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {NORTHJOBS_KEY}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert reply.status == 200


def send_traffic(edge: EdgeProcess, brands: Brands, keyring: KeyRing, round_: int) -> int:
    """People's clicks, Apple MPP prefetches, Gmail proxy opens, a bot and tampered links,
    all for North Jobs; returns the requests sent."""
    # Links sent an hour ago: a click now is a reader's, not a scanner's right after sending.
    builder = LinkBuilder(brands, keyring, clock=lambda: time.time() - 3600)
    replies: list[Reply] = []
    for i in range(30):
        message = f"dash-{round_}-{i}"
        campaign = "weekly-matches" if i % 2 else "new-jobs"
        source = "indeed" if i % 3 else "linkedin"
        click = builder.click(
            "northjobs",
            message,
            f"https://northjobs.example/jobs/{i}",
            recipient=f"r{i}@example.com",
            campaign=campaign,
            job_source=source,
        )
        replies.append(edge.get(click, headers={"User-Agent": BROWSER_UA}))
        pixel = builder.open("northjobs", message, campaign=campaign, job_source=source)
        if i % 3 == 0:
            replies.append(
                edge.get(
                    pixel,
                    headers={"User-Agent": "Mozilla/5.0", "X-Forwarded-For": APPLE_MPP_ADDRESS},
                )
            )
        elif i % 3 == 1:
            replies.append(edge.get(pixel, headers={"User-Agent": GMAIL_PROXY_UA}))
        else:
            replies.append(edge.get(pixel, headers={"User-Agent": BROWSER_UA}))
        if i % 10 == 0:
            replies.append(edge.get(click, headers={"User-Agent": "python-requests/2.32"}))
            replies.append(edge.get(click[:-6] + "AAAAAA", headers={"User-Agent": BROWSER_UA}))
    assert all(reply.status in (200, 302, 404) for reply in replies)
    return len(replies)


def wait_for_value(page, selector: str, minimum: float) -> None:
    """Until the `data-value` of `selector` reaches `minimum`. (A function, not a string:
    the page's Content-Security-Policy forbids evaluating strings.)"""
    page.wait_for_function(
        """([selector, minimum]) => {
            const node = document.querySelector(selector);
            return node !== null && Number(node.dataset.value) >= minimum;
        }""",
        arg=[selector, minimum],
    )


def test_the_page_follows_live_traffic_without_reloading(
    stack: Stack, tmp_path: Path, example_brands: Brands, admin_keyring: KeyRing
) -> None:
    """1. A browser opens the dashboard, is sent to the login form and logs in.
    2. Clicks and opens flow through the real edge; the batcher stores them.
    Result: without a reload, the page's edge request counter grows by what was sent, the
    stored clicks of North Jobs appear with their human share, its opens per email client
    (human and machine) and per device class, the live workers include the edge worker and
    the batcher, and a screenshot is saved."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(20_000)
            page.goto(stack.admin.url + "/")
            assert page.url.endswith("/dashboard/login")
            page.fill("#token", TOKEN)
            page.click("button[type=submit]")
            page.wait_for_function("() => window.tracerDashboard.updates > 0")
            assert page.url == stack.admin.url + "/"
            # Marks this document: a reload would lose it.
            page.evaluate("window.noReload = true")
            before = int(page.get_attribute("#edge-requests", "data-value") or 0)

            send_messages(stack.admin, 12)
            sent = send_traffic(stack.edge, example_brands, admin_keyring, 1)

            wait_for_value(page, "#edge-requests", before + sent)
            clicks = "#brands tr[data-brand=northjobs] td[data-field=clicks_all]"
            wait_for_value(page, clicks, 33)
            human = page.get_attribute(
                "#brands tr[data-brand=northjobs] td[data-field=clicks_human]", "data-value"
            )
            assert int(float(human or 0)) == 30
            wait_for_value(page, "#brands tr[data-brand=northjobs] td[data-field=sent]", 12)
            page.wait_for_function(
                "() => document.querySelectorAll('#workers td.state-live').length >= 2"
            )
            roles = page.eval_on_selector_all(
                "#workers tr", "rows => rows.map(r => r.cells[0].textContent)"
            )
            assert {"edge", "batcher"} <= set(roles)
            # Who read: Gmail's proxy (a person, by North Jobs' bot policy), Apple MPP
            # prefetches (machines, shown as Apple Mail's) and Chrome, 10 opens each.
            page.select_option("#client-brand", "northjobs")
            wait_for_value(page, '#clients tr[data-client="Gmail"] td[data-field=opens_human]', 10)
            mpp = '#clients tr[data-client="Apple Mail"] td[data-field=opens_machine]'
            wait_for_value(page, mpp, 10)
            chrome = '#clients tr[data-client="Chrome"] td[data-field=opens_human]'
            wait_for_value(page, chrome, 10)
            share = page.get_attribute(
                '#clients tr[data-client="Chrome"] td[data-field=share]', "data-value"
            )
            assert float(share or 0) == pytest.approx(0.5)
            devices = "#devices tr[data-brand=northjobs] td[data-field={}]"
            wait_for_value(page, devices.format("desktop"), 10)
            wait_for_value(page, devices.format("unknown"), 20)  # proxies do not say
            mobile = page.get_attribute(devices.format("mobile"), "data-value")
            assert int(float(mobile or 0)) == 0
            assert page.locator("#chart-clients rect").count() >= 3
            assert page.evaluate("window.noReload") is True
            assert page.evaluate("window.tracerDashboard.transport") == "sse"
            assert page.locator("#chart-throughput path").count() >= 1
            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
