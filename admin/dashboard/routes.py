"""The dashboard's routes on the admin port, and their registration.

| path | answer |
|---|---|
| `GET /` | the dashboard page (303 to the login form without a session) |
| `GET /dashboard/data` | one reading, JSON (`admin.dashboard.model.Dashboard`) |
| `GET /dashboard/events` | Server-Sent Events: a reading every `push_interval_s` |
| `GET/POST /dashboard/login` | the login form; a right token sets the session cookie |
| `POST /dashboard/logout` | ends the session |

Every route but the login form needs the admin token (`admin.dashboard.gate`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Mapping

import aiohttp
from aiohttp import web

from admin.dashboard.collect import Collector
from admin.dashboard.gate import DASHBOARD_AUTH, LOGIN_PATH, DashboardAuth, shared_redis
from admin.dashboard.options import DashboardOptions
from admin.dashboard.page import page
from admin.dashboard.sessions import COOKIE_NAME, Sessions
from admin.dashboard.token import load_admin_token
from admin.services import SERVICES
from tracer.context import Context

COLLECTOR = web.AppKey("dashboard_collector", Collector)
# Set when the server stops: open event streams end instead of holding up the shutdown.
STOPPING = web.AppKey("dashboard_stopping", asyncio.Event)

_LOGIN_FAILED = b'<p class="error" role="alert">That is not the admin token.</p>'
_ERROR_SLOT = b"<!-- error -->"
_NO_STORE = {"Cache-Control": "no-store"}


async def dashboard_page(request: web.Request) -> web.Response:
    return page("index.html").response()


async def dashboard_data(request: web.Request) -> web.Response:
    body = await request.app[COLLECTOR].latest()
    return web.Response(body=body, content_type="application/json", headers=_NO_STORE)


async def dashboard_events(request: web.Request) -> web.StreamResponse:
    """A reading every `push_interval_s` until the page goes away or the server stops."""
    collector = request.app[COLLECTOR]
    stopping = request.app[STOPPING]
    response = web.StreamResponse(headers={**_NO_STORE, "X-Accel-Buffering": "no"})
    response.content_type = "text/event-stream"
    await response.prepare(request)
    try:
        # How long the browser waits before reconnecting after the stream ends.
        await response.write(b"retry: 2000\n\n")
        while not stopping.is_set():
            await response.write(b"data: " + await collector.latest() + b"\n\n")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), collector.options.push_interval_s)
    except ConnectionResetError:
        pass  # the page was closed
    return response


async def login_form(request: web.Request) -> web.Response:
    return page("login.html").response()


async def login(request: web.Request) -> web.Response:
    auth = request.app[DASHBOARD_AUTH]
    form = await request.post()
    token = form.get("token")
    if not isinstance(token, str) or not auth.token.matches(token.strip()):
        login_page = page("login.html")
        return login_page.response(401, login_page.body.replace(_ERROR_SLOT, _LOGIN_FAILED))
    response = web.Response(status=303, headers={"Location": "/", **_NO_STORE})
    response.set_cookie(
        COOKIE_NAME,
        auth.sessions.issue(),
        max_age=int(auth.sessions.ttl_s),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    return response


async def logout(request: web.Request) -> web.Response:
    """End the session on the server (its cookie no longer opens anything, wherever it
    went), then in the browser."""
    sessions = request.app[DASHBOARD_AUTH].sessions
    await sessions.revoke(request.cookies.get(COOKIE_NAME), shared_redis(request))
    response = web.Response(status=303, headers={"Location": LOGIN_PATH, **_NO_STORE})
    response.del_cookie(COOKIE_NAME, path="/")
    return response


# (method, path, handler, name); the names are those `admin.dashboard.gate` guards.
ROUTES = [
    ("GET", "/", dashboard_page, "dashboard"),
    ("GET", "/dashboard/data", dashboard_data, "dashboard_data"),
    ("GET", "/dashboard/events", dashboard_events, "dashboard_events"),
    ("GET", LOGIN_PATH, login_form, "dashboard_login_form"),
    ("POST", LOGIN_PATH, login, "dashboard_login"),
    ("POST", "/dashboard/logout", logout, "dashboard_logout"),
]


def add_dashboard(
    app: web.Application, context: Context, environ: Mapping[str, str] | None = None
) -> None:
    """Serve the dashboard from `app` (whose middlewares include `dashboard_auth`). Loads
    the admin token now, so a bad one stops the start."""
    environ = os.environ if environ is None else environ
    token = load_admin_token(environ, context.settings.data_dir)
    app[DASHBOARD_AUTH] = DashboardAuth(token, Sessions(token.value))
    app.cleanup_ctx.append(
        _collector_context(
            context, DashboardOptions.from_environ(environ, context.settings.data_dir)
        )
    )
    app.on_shutdown.append(_stop_streams)
    for method, path, handler, name in ROUTES:
        if method == "GET":
            app.router.add_get(path, handler, name=name)
        else:
            app.router.add_route(method, path, handler, name=name)


def _collector_context(
    context: Context, options: DashboardOptions
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def collector(app: web.Application) -> AsyncIterator[None]:
        services = app[SERVICES]
        async with aiohttp.ClientSession() as session:
            app[COLLECTOR] = Collector(
                brands=context.brands,
                shards=context.settings.queue_shards,
                metrics_dir=context.settings.metrics_dir,
                redis=services.redis,
                store=services.store,
                session=session,
                options=options,
            )
            app[STOPPING] = asyncio.Event()
            try:
                yield
            finally:
                await app[COLLECTOR].close()

    return collector


async def _stop_streams(app: web.Application) -> None:
    app[STOPPING].set()
