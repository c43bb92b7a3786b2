"""Fixtures of the browser suite: Debian's headless Chromium, driven by Playwright, in
front of the real pipeline.

One stack and one browser serve the whole suite (package-scoped: they are stopped when
the suite is done, not left running through the rest of `just test`):

    Chromium ─TLS, HTTP/2─▶ nginx (deploy/nginx.conf, self-signed certificate)
        t.northjobs.example … (every example brand's tracking host) ─▶ the edge (granian)
        northjobs.example, webmail.example                           ─▶ `WebServer`
    edge ─▶ the session's redis-server ─▶ `tracer batcher --burst` ─▶ SQLite

Chromium resolves those names to nginx through `--host-resolver-rules`, and every other
name to nothing, so no request leaves the machine. `WebServer` plays the job board's
site (the destination of clicks, which it records) and a webmail page showing an email.

The browser tests are coroutines on the suite's event loop (Playwright's async API):
Playwright's sync API keeps its own loop running in the main thread while the browser is
open, which would break every asyncio test that pytest runs after this suite.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
import redis

from tests.browser.helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LANDING_HOST,
    SENT_AGO_S,
    SHARDS,
    WEBMAIL_HOST,
    Nginx,
    Stack,
    WebServer,
    desktop_user_agent,
    nginx_config,
    playwright_api,
    wait_for_port,
)
from tests.certificates import write_certificate
from tests.edge.helpers import EdgeProcess, register_keyring
from tests.support import EXAMPLE_BRANDS, environment_without_settings
from tracer.brands import Brands
from tracer.keyring import KeyRing, new_keyring, write_keyring
from tracer.links import LinkBuilder
from tracer.redis_server import RedisServer, free_port


@pytest.fixture(scope="package")
def browser_keyring() -> KeyRing:
    return new_keyring()


@pytest.fixture(scope="package")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    example_brands: Brands,
    browser_keyring: KeyRing,
) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("browser-stack")
    write_keyring(browser_keyring, directory / "keyring.json")
    register_keyring(browser_keyring, directory / "keyring.json")
    env = environment_without_settings()
    env.update(
        {
            "TRACER_CONFIG": str(EXAMPLE_BRANDS),
            "TRACER_KEYS": str(directory / "keyring.json"),
            "TRACER_DATA_DIR": str(directory / "var"),
            "TRACER_EDGE_PORT": str(free_port()),
            "TRACER_QUEUE_SHARDS": str(SHARDS),
            "REDIS_URL": redis_server.url,
            "TRACER_LOG_LEVEL": "INFO",
            "TRACER_REDIS_TIMEOUT_S": "0.5",
            "WORKERS": "1",
        }
    )
    hosts = [h for brand in example_brands for h in brand.hosts]
    write_certificate(directory, [*hosts, LANDING_HOST, WEBMAIL_HOST])
    tls_port, http_port = free_port(), free_port()
    with contextlib.ExitStack() as cleanup:
        client = redis.Redis.from_url(redis_server.url)
        cleanup.callback(client.close)
        client.flushall()
        edge = EdgeProcess(int(env["TRACER_EDGE_PORT"]), env, directory / "edge.log")
        cleanup.callback(edge.stop)
        edge.start()
        web = WebServer().start()
        cleanup.callback(web.stop)
        nginx = Nginx(directory)
        cleanup.callback(nginx.stop)
        nginx.start(nginx_config(directory, tls_port, http_port, edge.port, web.port))
        wait_for_port(tls_port, nginx.process)
        clock = lambda: time.time() - SENT_AGO_S  # noqa: E731
        builder = LinkBuilder(example_brands, browser_keyring, clock=clock)
        yield Stack(env, edge, web, nginx, tls_port, builder, example_brands, client)


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def browser(stack: Stack) -> AsyncIterator[playwright_api.Browser]:
    """One headless Chromium for the suite (Debian's, not a Playwright download)."""
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, f"--host-resolver-rules={stack.resolver_rules()}"],
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(loop_scope="package")
async def context(
    browser: playwright_api.Browser, stack: Stack
) -> AsyncIterator[playwright_api.BrowserContext]:
    """A fresh profile per test with the desktop user agent; the queue emptied first."""
    stack.clear()
    context = await browser.new_context(
        ignore_https_errors=True, user_agent=desktop_user_agent(browser.version)
    )
    yield context
    await context.close()
