"""`/healthz` (the process answers), `/readyz` (Redis and the store answer) and
`/openapi.json`; none of them needs an API key."""

from __future__ import annotations

from aiohttp import web

from admin.errors import json_response
from admin.openapi import openapi_json
from admin.schemas import Health, Readiness
from admin.services import SERVICES
from tracer.redis_cluster import REDIS_ERRORS
from tracer.store import StoreUnavailable


async def healthz(request: web.Request) -> web.Response:
    return json_response(Health(status="ok"))


async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        await services.redis.ping()
        redis = "ok"
    except REDIS_ERRORS:
        redis = "down"
    try:
        await services.store.ping()
        store = "ok"
    except StoreUnavailable:
        store = "down"
    ready = redis == "ok" and store == "ok"
    return json_response(
        Readiness(status="ready" if ready else "unavailable", redis=redis, store=store),
        status=200 if ready else 503,
    )


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=openapi_json(), content_type="application/json")
