"""Every route of the admin API, in one table (the OpenAPI document lists the same)."""

from __future__ import annotations

from aiohttp import web

from admin.routes import conversions, links, messages, meta, revocations, stats, suppressions

# (method, path, handler, name). Names in `admin.auth.PUBLIC_ROUTES` need no API key.
ROUTES = [
    ("GET", "/healthz", meta.healthz, "healthz"),
    ("GET", "/readyz", meta.readyz, "readyz"),
    ("GET", "/openapi.json", meta.openapi, "openapi"),
    ("POST", "/v1/messages", messages.post_message, "messages"),
    ("POST", "/v1/links", links.post_links, "links"),
    ("POST", "/v1/conversions", conversions.post_conversion, "conversions"),
    ("GET", "/v1/stats", stats.get_stats, "stats"),
    ("GET", "/v1/suppressions", suppressions.list_suppressions, "suppressions"),
    ("GET", "/v1/suppressions/check", suppressions.check_suppression, "suppression_check"),
    ("GET", "/v1/revocations", revocations.list_revocations, "revocations"),
    ("POST", "/v1/revocations", revocations.post_revocation, "revocation_create"),
    ("DELETE", "/v1/revocations", revocations.delete_revocation, "revocation_delete"),
]


def add_routes(app: web.Application) -> None:
    for method, path, handler, name in ROUTES:
        if method == "GET":
            app.router.add_get(path, handler, name=name)
        else:
            app.router.add_route(method, path, handler, name=name)
