"""Who reads where, through the real pipeline: `tracer up` with a GeoIP database, opens
and clicks from several mail clients, browsers and countries, then `tracer stats --by`,
`GET /v1/stats?by=`, the dashboard in headless Chromium and a signed webhook payload."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from bench.geoip import write_country_db
from tests.admin.test_dashboard import CHROMIUM, CHROMIUM_ARGS
from tests.edge.helpers import fetch
from tracer.redis_server import free_port

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
API_KEY = "readers-test-key"
ADMIN_TOKEN = "client-info-dashboard-token-0123456789"
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"
IPHONE_MAIL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.6422.165 Mobile Safari/537.36"
)
BRANDS = """
[[brands]]
id = "readers"
name = "Readers Weekly"
hosts = ["t.readers.example"]
landing_url = "https://readers.example/"

[brands.bot_policy]
min_click_delay_s = 0.0

[[brands.webhooks]]
url = "http://127.0.0.1:{port}/hook"
secret = "{secret}"
events = ["open", "click"]
include_bots = true
allow_private = true

[[brands.api_keys]]
id = "test"
sha256 = "{key_hash}"

[[brands]]
id = "quiet"
name = "Quiet Careers"
hosts = ["t.quiet.example"]
landing_url = "https://quiet.example/"

[brands.privacy]
country = false
"""


@dataclass
class Up:
    env: dict[str, str]
    edge_port: int
    admin_url: str

    def tracer(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "cli", *args],
            env=self.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    def hit(self, url: str, ua: str, address: str) -> int:
        parts = urllib.parse.urlsplit(url)
        # 127.0.0.1 is a trusted proxy by default: the edge takes the client from XFF.
        headers = {"User-Agent": ua, "X-Forwarded-For": address}
        return fetch(self.edge_port, parts.path, parts.hostname, headers=headers).status


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[int, list[dict]]]:
    """A webhook receiver that checks every signature (Standard Webhooks)."""
    received: list[dict] = []
    verifier = Webhook(SECRET)

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        payload = verifier.verify(body, dict(request.headers))  # raises if forged
        received.extend(payload if isinstance(payload, list) else [payload])
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield port, received
    await runner.cleanup()


@pytest.fixture
def up(tmp_path: Path, receiver: tuple[int, list[dict]]) -> AsyncIterator[Up]:
    key_hash = hashlib.sha256(API_KEY.encode()).hexdigest()
    brands = tmp_path / "brands.toml"
    brands.write_text(BRANDS.format(port=receiver[0], secret=SECRET, key_hash=key_hash))
    edge_port, admin_port = free_port(), free_port()
    env = {
        "PATH": os.environ["PATH"],
        "TRACER_CONFIG": str(brands),
        "TRACER_DATA_DIR": str(tmp_path / "var"),
        "TRACER_GEOIP_DB": str(write_country_db(tmp_path / "countries.mmdb")),
        "TRACER_EDGE_PORT": str(edge_port),
        "TRACER_ADMIN_PORT": str(admin_port),
        "TRACER_ADMIN_TOKEN": ADMIN_TOKEN,
        "TRACER_DASHBOARD_INTERVAL_S": "0.5",
        "TRACER_LOG_FORMAT": "text",
    }
    log = (tmp_path / "up.log").open("w+")
    process = subprocess.Popen([sys.executable, "-m", "cli", "up"], env=env,
                               stdout=subprocess.PIPE, stderr=log, text=True)  # fmt: skip
    try:
        banner = ""
        deadline = time.monotonic() + 60
        while "Press Ctrl-C" not in banner and time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, _tail(log)
            banner += line
        _wait_for(lambda: _answers(edge_port), 30)
        yield Up(env, edge_port, f"http://127.0.0.1:{admin_port}")
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
        process.stdout.close()
        text = _tail(log)
        log.close()
    assert code == 0, text


async def test_clients_devices_and_countries_reach_stats_api_dashboard_and_webhooks(
    up: Up, receiver: tuple[int, list[dict]], tmp_path: Path
) -> None:
    _, received = receiver
    link = lambda *args: up.tracer("link", *args).strip()  # noqa: E731

    # 1. Readers open and click from mail apps, webmail, browsers and several countries.
    visits = [
        (link("open", "--brand", "readers", "--message-id", "m-1"), OUTLOOK, "203.0.113.9"),
        (link("open", "--brand", "readers", "--message-id", "m-2"), IPHONE_MAIL, "198.51.100.7"),
        (link("open", "--brand", "readers", "--message-id", "m-3"), GMAIL, "66.249.84.10"),
        # Apple Mail Privacy Protection: a bare string from Apple's network.
        (link("open", "--brand", "readers", "--message-id", "m-4"), "Mozilla/5.0",
         "17.58.101.3"),
        (link("click", "--brand", "readers", "--message-id", "m-1", "--url",
              "https://readers.example/jobs/1"), CHROME, "73.1.2.3"),
        (link("click", "--brand", "readers", "--message-id", "m-2", "--url",
              "https://readers.example/jobs/2"), ANDROID, "2600:1700:1:2::9"),
        # A brand that turned countries off.
        (link("open", "--brand", "quiet", "--message-id", "q-1"), OUTLOOK, "203.0.113.9"),
    ]  # fmt: skip
    assert [up.hit(*visit) for visit in visits] == [200, 200, 200, 200, 302, 302, 200]

    # 2. `tracer stats --by`: what the batcher derived and rolled up.
    def stored() -> bool:
        counts = json.loads(up.tracer("stats", "--brand", "readers", "--json"))
        return (counts["open"]["all"], counts["click"]["all"]) == (4, 2)

    await asyncio.to_thread(_wait_for, stored, 60)
    clients = json.loads(up.tracer("stats", "--brand", "readers", "--by", "client", "--json"))
    opens = {value: entry["open"] for value, entry in clients.items() if entry["open"]["all"]}
    assert opens == {
        "Apple Mail": {"all": 2, "human": 1},  # the reader on the iPhone, and MPP
        "Outlook": {"all": 1, "human": 1},
        "Gmail": {"all": 1, "human": 1},
    }
    assert clients["Chrome"]["click"]["all"] == clients["Chrome Mobile"]["click"]["all"] == 1
    countries = json.loads(up.tracer("stats", "--brand", "readers", "--by", "country", "--json"))
    assert {value: entry["open"]["all"] for value, entry in countries.items()} == {
        "AU": 1, "CA": 1, "US": 1, "": 1}  # fmt: skip
    assert countries["US"]["click"]["all"] == 2  # IPv4 and IPv6 readers in the US
    table = up.tracer("stats", "--brand", "readers", "--by", "device")
    assert table.splitlines()[0].split()[:3] == ["device", "opens", "human"]
    rows = table.split("\n\n")[0].splitlines()[1:]
    assert {row.split()[0] for row in rows} == {"desktop", "mobile", "unknown"}
    quiet = json.loads(up.tracer("stats", "--brand", "quiet", "--by", "country", "--json"))
    assert list(quiet) == [""]
    quiet_clients = json.loads(up.tracer("stats", "--brand", "quiet", "--by", "client", "--json"))
    assert list(quiet_clients) == ["Outlook"]

    # 3. The admin API gives the same breakdown.
    async with aiohttp.ClientSession() as session, session.get(
        up.admin_url + "/v1/stats", params={"by": "device"},
        headers={"Authorization": f"Bearer {API_KEY}"},
    ) as reply:  # fmt: skip
        assert reply.status == 200
        body = await reply.json()
    devices = {entry["value"]: entry for entry in body["breakdown"]}
    assert devices["desktop"]["open"]["all"] == 1 and devices["desktop"]["click"]["all"] == 1
    assert devices["mobile"]["open"]["all"] == 1 and devices["mobile"]["click"]["all"] == 1
    assert devices["unknown"]["open"] == {"all": 2, "human": 1}

    # 4. Every webhook carries the fields, signed.
    await asyncio.to_thread(_wait_for, lambda: len(received) >= 6, 60)
    by_ua = {event["ua"]: event for event in received}
    fields = ("client", "client_type", "os", "device", "country")
    assert [by_ua[OUTLOOK][name] for name in fields] == ["Outlook", "mail", "Windows",
                                                         "desktop", "AU"]  # fmt: skip
    assert [by_ua[IPHONE_MAIL][name] for name in fields] == ["Apple Mail", "mail", "iOS",
                                                             "mobile", "CA"]  # fmt: skip
    assert [by_ua["Mozilla/5.0"][name] for name in fields] == ["Apple Mail", "proxy", "",
                                                               "unknown", "US"]  # fmt: skip
    assert [by_ua[ANDROID][name] for name in fields] == ["Chrome Mobile", "browser", "Android",
                                                         "mobile", "US"]  # fmt: skip
    # No full address is kept anywhere: only the truncated one.
    assert by_ua[OUTLOOK]["ip"] == "203.0.113.0"

    # 5. The dashboard shows the client share and the device split.
    await _check_dashboard(up, tmp_path / "dashboard.png")


async def _check_dashboard(up: Up, shot: Path) -> None:
    async_api = pytest.importorskip("playwright.async_api")
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            await page.goto(up.admin_url + "/")
            await page.fill("#token", ADMIN_TOKEN)
            await page.click("button[type=submit]")
            await page.wait_for_function("() => window.tracerDashboard.updates > 0")
            await page.wait_for_function(
                "() => document.querySelector('#client-brand option[value=readers]') !== null"
            )
            await page.select_option("#client-brand", "readers")
            row = '#clients tr[data-client="Apple Mail"] td[data-field={}]'
            await _wait_for_value(page, row.format("opens_all"), 2)
            assert await page.get_attribute(row.format("opens_machine"), "data-value") == "1"
            # Outlook, Gmail and Apple Mail each have one of the three human opens.
            share = await page.get_attribute(row.format("share"), "data-value")
            assert float(share or 0) == pytest.approx(1 / 3)
            devices = "#devices tr[data-brand=readers] td[data-field={}]"
            await _wait_for_value(page, devices.format("unknown"), 2)
            for device, opens in (("desktop", "1"), ("mobile", "1"), ("tablet", "0")):
                assert await page.get_attribute(devices.format(device), "data-value") == opens
            await page.screenshot(path=str(shot), full_page=True)
        finally:
            await browser.close()


async def _wait_for_value(page, selector: str, minimum: float) -> None:
    await page.wait_for_function(
        """([selector, minimum]) => {
            const node = document.querySelector(selector);
            return node !== null && Number(node.dataset.value) >= minimum;
        }""",
        arg=[selector, minimum],
    )


def _answers(port: int) -> bool:
    try:
        return fetch(port, "/healthz", "localhost").status == 200
    except OSError:
        return False


def _wait_for(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _tail(log) -> str:
    log.seek(0)
    return log.read()[-4000:]
