"""Helpers of the browser suite: the job board's site and the webmail (`WebServer`), nginx
with TLS in front of the edge, and the `Stack` the tests talk to. The fixtures that start
them, and the browser, are in `tests/browser/conftest.py`, which describes the stack."""

from __future__ import annotations

import asyncio
import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from tests.edge.helpers import EdgeProcess, queued_events
from tests.support import ROOT
from tracer.brands import Brands
from tracer.events import Event
from tracer.links import LinkBuilder

try:
    from playwright import async_api as playwright_api
except ImportError:  # a dev dependency: the suite is skipped without it
    playwright_api = None

CHROMIUM = "/usr/bin/chromium"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DEPLOYED_NGINX = ROOT / "deploy" / "nginx.conf"
SHARDS = 4
LANDING_HOST = "northjobs.example"
WEBMAIL_HOST = "webmail.example"
# The messages of the suite were "sent" this long before they are read: a click seconds
# after sending is a link scanner's (the brand's min_click_delay_s), not a reader's.
SENT_AGO_S = 600.0
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

# Every test module of the suite carries this mark.
browser_suite = [
    pytest.mark.skipif(playwright_api is None, reason="playwright is not installed"),
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"no {CHROMIUM}"),
    pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed"),
    pytest.mark.asyncio(loop_scope="package"),
]


def desktop_user_agent(version: str) -> str:
    """What this Chromium sends when it runs with a window: headless mode says
    `HeadlessChrome`, which the classifier rightly takes for a bot."""
    major = version.split(".")[0]
    return (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{major}.0.0.0 Safari/537.36"
    )


LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="260" height="40" viewBox="0 0 260 40">'
    '<text x="0" y="28" font-family="sans-serif" font-size="22" font-weight="700">{host}</text>'
    "</svg>"
)


# --- the job board's site and the webmail ---------------------------------------------------
@dataclass(frozen=True)
class Visit:
    host: str
    path: str
    query: dict[str, list[str]]
    user_agent: str


@dataclass
class WebServer:
    """Plain HTTP behind nginx. `webmail.example/m/{id}` shows a stored email; every other
    host is the job board, which records each request and answers a small page."""

    mails: dict[str, str] = field(default_factory=dict)
    visits: list[Visit] = field(default_factory=list)

    def start(self) -> WebServer:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                host = self.headers.get("Host", "").partition(":")[0]
                url = urllib.parse.urlsplit(self.path)
                if host == WEBMAIL_HOST:
                    html = owner.mails.get(url.path.removeprefix("/m/"))
                    return self._answer(404 if html is None else 200, html or "not found")
                owner.visits.append(
                    Visit(
                        host,
                        url.path,
                        urllib.parse.parse_qs(url.query),
                        self.headers.get("User-Agent", ""),
                    )
                )
                if url.path.endswith(".svg"):
                    return self._answer(200, LOGO.format(host=host), "image/svg+xml")
                self._answer(200, f"<!doctype html><title>Job {url.path}</title><h1>Job</h1>")

            def _answer(self, status: int, text: str, kind: str = "text/html") -> None:
                body = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def show(self, message_id: str, html: str) -> str:
        """Put an email on the webmail; returns the page's URL."""
        self.mails[message_id] = html
        return f"https://{WEBMAIL_HOST}/m/{message_id}"


# --- nginx with TLS ---------------------------------------------------------------------------
def nginx_config(directory: Path, tls_port: int, http_port: int, edge: int, web: int) -> str:
    """deploy/nginx.conf as deployed (TLS, HTTP/2, the default server refusing other
    hosts), on loopback test ports, with one more server: the job board and the webmail."""
    text = DEPLOYED_NGINX.read_text()
    for deployed, local in {
        "/run/nginx.pid": str(directory / "nginx.pid"),
        "/var/log/nginx/": f"{directory}/",
        "/etc/ssl/tracer/": f"{directory}/",
        "/var/www/acme": str(directory / "acme"),
    }.items():
        text = text.replace(deployed, local)
    temp_paths = "".join(
        f"    {kind}_temp_path {directory / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = text.replace("http {\n", "http {\n" + temp_paths, 1)
    text = re.sub(r"^\s*listen \[::\][^\n]*\n", "", text, flags=re.M)
    text = re.sub(r"\blisten 443\b", f"listen 127.0.0.1:{tls_port}", text)
    text = re.sub(r"\blisten 80\b", f"listen 127.0.0.1:{http_port}", text)
    text = text.replace("server 127.0.0.1:8080", f"server 127.0.0.1:{edge}")
    user = "user root;" if os.geteuid() == 0 else ""  # its files are under the test's tmp
    text = text.replace("user www-data;", user)
    site = f"""
    server {{
        listen 127.0.0.1:{tls_port} ssl http2;
        server_name {LANDING_HOST} {WEBMAIL_HOST};
        ssl_certificate {directory}/fullchain.pem;
        ssl_certificate_key {directory}/privkey.pem;
        location / {{
            proxy_pass http://127.0.0.1:{web};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
        }}
    }}
}}
"""
    head, _, _ = text.rstrip().rpartition("}")
    return head + site


@dataclass
class Nginx:
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, config: str) -> Nginx:
        path = self.directory / "nginx.conf"
        path.write_text(config)
        command = [NGINX, "-p", f"{self.directory}/", "-e", str(self.directory / "error.log")]
        checked = subprocess.run(
            [*command, "-t", "-c", str(path)], capture_output=True, text=True, timeout=30
        )
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen(
            [*command, "-c", str(path), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "the process exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


# --- the stack ----------------------------------------------------------------------------
@dataclass
class Stack:
    """Everything the browser talks to, and what the tests read back."""

    env: dict[str, str]
    edge: EdgeProcess
    web: WebServer
    nginx: Nginx
    tls_port: int
    builder: LinkBuilder
    brands: Brands
    redis: redis.Redis

    @property
    def data_dir(self) -> Path:
        return Path(self.env["TRACER_DATA_DIR"])

    def resolver_rules(self) -> str:
        """Every example brand's tracking host, the job board and the webmail go to
        nginx; any other name does not resolve."""
        hosts = [h for brand in self.brands for h in brand.hosts]
        hosts += [LANDING_HOST, WEBMAIL_HOST]
        rules = [f"MAP {host} 127.0.0.1:{self.tls_port}" for host in hosts]
        return ", ".join([*rules, "MAP * ~NOTFOUND"])

    def clear(self) -> None:
        """An empty queue and no recorded visits (the store keeps what it has)."""
        self.redis.flushall()
        self.web.visits.clear()

    async def events(self, count: int, timeout_s: float = 10.0) -> list[Event]:
        """The queued events, once there are `count` of them (or the time is up)."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = await asyncio.to_thread(queued_events, self.redis, SHARDS)
            if len(found) >= count or time.monotonic() > deadline:
                return sorted(found, key=lambda event: event.id)
            await asyncio.sleep(0.02)

    async def run_batcher(self) -> str:
        """`tracer batcher --burst`: drains the queue into the SQLite store, then exits."""
        command = [sys.executable, "-m", "cli", "batcher", "--burst", "--no-periodic-jobs"]
        command += ["--metrics-port", "0", "--lease-ttl", "2"]
        process = await asyncio.create_subprocess_exec(
            *command,
            env=self.env,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, output.decode(errors="replace")[-3000:]
        return output.decode(errors="replace")
