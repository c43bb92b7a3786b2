"""Who may see the dashboard: whoever holds the admin token, sent as
`Authorization: Bearer <token>` or once through the login form, which sets a session
cookie. Brand API keys grant nothing here, and the admin token grants nothing on `/v1`.

`dashboard_auth` sits before the API's key middleware (`admin.auth`) in the chain: it
answers the dashboard's routes itself, so those never meet the brand-key check, and hands
every other request on untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from admin.auth import bearer_key
from admin.dashboard.sessions import COOKIE_NAME, Sessions
from admin.dashboard.token import AdminToken
from admin.errors import error_response
from admin.services import SERVICES
from tracer.redis_cluster import AnyRedis

PAGE_ROUTE = "dashboard"
# Routes that need the admin token.
GUARDED_ROUTES = frozenset({PAGE_ROUTE, "dashboard_data", "dashboard_events", "dashboard_logout"})
# Routes of the dashboard anyone may reach: the login form and its submission.
OPEN_ROUTES = frozenset({"dashboard_login_form", "dashboard_login"})
LOGIN_PATH = "/dashboard/login"
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tracer-admin"'}


@dataclass(frozen=True)
class DashboardAuth:
    token: AdminToken
    sessions: Sessions

    async def admits(self, request: web.Request) -> bool:
        key = bearer_key(request.headers.get("Authorization"))
        if key is not None:
            # A header that is there decides alone: a wrong token is not rescued by a cookie.
            return self.token.matches(key)
        return await self.sessions.valid(request.cookies.get(COOKIE_NAME), shared_redis(request))


def shared_redis(request: web.Request) -> AnyRedis | None:
    """Where sessions ended by any admin process are listed (None before start-up)."""
    services = request.app.get(SERVICES)
    return services.redis if services is not None else None


DASHBOARD_AUTH = web.AppKey("dashboard_auth", DashboardAuth)


@web.middleware
async def dashboard_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    match = request.match_info
    name = match.route.name if match.http_exception is None else None
    if name in OPEN_ROUTES:
        return await match.handler(request)
    if name not in GUARDED_ROUTES:
        return await handler(request)
    if await request.app[DASHBOARD_AUTH].admits(request):
        return await match.handler(request)
    if name == PAGE_ROUTE and "Authorization" not in request.headers:
        # A browser without a session: to the login form rather than a bare 401.
        return web.Response(status=303, headers={"Location": LOGIN_PATH})
    return error_response(
        401,
        f"the admin token is required: Authorization: Bearer <token>, or log in at {LOGIN_PATH}",
        headers=_CHALLENGE,
    )
