"""The OpenAPI 3.1 document of the admin API, served at `/openapi.json`.

Schemas are generated from the very Structs requests are decoded into and responses are
encoded from (`admin.schemas`), so the document cannot drift from what the server
enforces; the paths, statuses and prose are written here.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import msgspec

from admin import schemas
from tracer import __version__

REF = "#/components/schemas/{name}"

# Every status the API may answer with, and what it means.
STATUS_TEXT = {
    200: "OK",
    201: "Created.",
    202: "Accepted: the event is queued (it is recorded once the batcher stores it).",
    400: (
        "The body is not JSON; or the request line or a header is longer than the HTTP "
        "server reads (8,190 bytes), which it answers in plain text."
    ),
    401: "No API key, or not a valid one.",
    403: "The request names another brand than the API key's.",
    404: "There is no such rule.",
    413: "The body, or a list in it, is too large.",
    422: "A field is not valid; `field` names it.",
    503: "Redis or the event store is unavailable; retry later.",
}
BODY_ERRORS = (400, 401, 403, 413, 422, 503)
QUERY_ERRORS = (400, 401, 403, 422, 503)

_COMPONENT_TYPES = [
    schemas.MessageRequest,
    schemas.LinksRequest,
    schemas.ConversionRequest,
    schemas.MessageResponse,
    schemas.LinksResponse,
    schemas.ConversionAccepted,
    schemas.StatsResponse,
    schemas.SuppressionPage,
    schemas.SuppressionCheck,
    schemas.RevocationRequest,
    schemas.RevocationResult,
    schemas.RevocationList,
    schemas.RevocationLifted,
    schemas.Health,
    schemas.Readiness,
    schemas.ErrorResponse,
]


@functools.cache
def openapi_json() -> bytes:
    return msgspec.json.encode(build_document())


def build_document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(_COMPONENT_TYPES, ref_template=REF)
    for component in components.values():
        if "description" in component:
            component["description"] = inspect.cleandoc(component["description"])
    # A rule the Struct cannot state: a message gives its html or its urls, not both.
    components["MessageRequest"]["oneOf"] = [{"required": ["html"]}, {"required": ["urls"]}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tracer admin API",
            "version": __version__,
            "description": "Tracked links, rewritten messages, conversions, stats and "
            "suppressions for a brand's sending platform. Every /v1 call needs "
            "`Authorization: Bearer <key>`; a key acts for its own brand only.",
        },
        "paths": _paths(),
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearerAuth": []}],
    }


def _paths() -> dict[str, Any]:
    return {
        "/healthz": {
            "get": _public("healthz", "The process answers.", {200: _json("Health")}),
        },
        "/readyz": {
            "get": _public(
                "readyz",
                "Redis and the event store answer.",
                {200: _json("Readiness"), 503: _json("Readiness", 503)},
            ),
        },
        "/openapi.json": {
            "get": _public("openapi", "This document.", {200: _json_schema({"type": "object"})}),
        },
        "/v1/messages": {
            "post": _operation(
                "createMessage",
                "A message's tracked form, and a `sent` event",
                "Email `html` is rewritten (every http(s) link tracked, header and footer "
                "pixels, a canary link); email `urls` get tracked links, pixels and the "
                "List-Unsubscribe headers; SMS `urls` get short links. A `sent` event is "
                "queued before the answer.",
                body="MessageRequest",
                ok=(200, "MessageResponse"),
            ),
        },
        "/v1/links": {
            "post": _operation(
                "createLinks",
                "Tracked links in bulk",
                f"Up to {schemas.MAX_BULK_LINKS} links a call (413 beyond); `sms` links "
                "are short links.",
                body="LinksRequest",
                ok=(200, "LinksResponse"),
            ),
        },
        "/v1/conversions": {
            "post": _operation(
                "createConversion",
                "Report a conversion by click id",
                "Queues a `conversion` event; the batcher attributes it to the campaign "
                "and job source of the brand's click with that id.",
                body="ConversionRequest",
                ok=(202, "ConversionAccepted"),
            ),
        },
        "/v1/stats": {
            "get": _operation(
                "getStats",
                "Counts per event type, and per client, OS, device or country",
                "From the store's rollups; filters narrow them to a campaign, a job source "
                "and a range of UTC days. `suppressions` is always the brand's total. With "
                "`by` (`client`, `os`, `device` or `country`), `breakdown` lists the hits "
                "per value of that dimension, busiest first, human-only and all.",
                query=schemas.StatsQuery,
                ok=(200, "StatsResponse"),
            ),
        },
        "/v1/suppressions": {
            "get": _operation(
                "listSuppressions",
                "The brand's suppressed recipients (keyed hashes), oldest first",
                "Paged with `offset` and `limit`; `next_offset` is null on the last page.",
                query=schemas.SuppressionsQuery,
                ok=(200, "SuppressionPage"),
            ),
        },
        "/v1/suppressions/check": {
            "get": _operation(
                "checkSuppression",
                "Is a recipient suppressed?",
                "Hashes the address or number with the brand's key and looks it up. "
                "`suppressed` answers for a message on `list_id` (or for all marketing); "
                '`scopes` lists what the recipient left (`""`: everything).',
                query=schemas.SuppressionCheckQuery,
                ok=(200, "SuppressionCheck"),
            ),
        },
        "/v1/revocations": {
            "get": _operation(
                "listRevocations",
                "The brand's revocation rules, oldest first",
                "Every rule in force: clicks on the links it covers go to the brand's "
                "landing page and are recorded as `revoked_click` events.",
                query=schemas.RevocationsQuery,
                ok=(200, "RevocationList"),
            ),
            "post": _operation(
                "createRevocation",
                "Revoke links already sent",
                "Every link of a campaign, of a message, or to a destination host (and its "
                "subdomains): their clicks go to the brand's landing page, on every edge "
                "within a moment. 201 with the new rule, 200 when it was there already.",
                body="RevocationRequest",
                ok=(201, "RevocationResult"),
                extra={200: _json("RevocationResult")},
            ),
            "delete": _operation(
                "deleteRevocation",
                "Lift a revocation rule",
                "Name the rule as it was made. 404 when there is none; 403 for a rule an "
                "operator made with `tracer revoke` (only `tracer revoke --undo` lifts it).",
                query=schemas.RevocationQuery,
                ok=(200, "RevocationLifted"),
                extra={403: _error(403), 404: _error(404)},
            ),
        },
    }


def _operation(
    operation_id: str,
    summary: str,
    description: str,
    *,
    ok: tuple[int, str],
    body: str | None = None,
    query: type | None = None,
    extra: dict[int, Any] | None = None,
) -> dict[str, Any]:
    status, schema = ok
    responses = {status: _json(schema, status)}
    for error in BODY_ERRORS if body else QUERY_ERRORS:
        responses[error] = _error(error)
    responses.update(extra or {})
    responses = dict(sorted(responses.items()))
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "description": description,
        "responses": {str(code): response for code, response in responses.items()},
    }
    if body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": REF.format(name=body)}}},
        }
    if query:
        operation["parameters"] = _query_parameters(query)
    return operation


def _public(operation_id: str, summary: str, responses: dict[int, Any]) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "security": [],
        "responses": {str(code): response for code, response in responses.items()},
    }


def _query_parameters(query: type) -> list[dict[str, Any]]:
    """One `in: query` parameter per field of a query Struct."""
    _, components = msgspec.json.schema_components([query], ref_template=REF)
    schema = components[query.__name__]
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        parameter = {"name": name, "in": "query", "required": name in required}
        if "description" in prop:
            parameter["description"] = prop.pop("description")
        parameter["schema"] = prop
        parameters.append(parameter)
    return parameters


def _json(schema: str, status: int = 200) -> dict[str, Any]:
    return _json_schema({"$ref": REF.format(name=schema)}, status)


def _json_schema(schema: dict[str, Any], status: int = 200) -> dict[str, Any]:
    return {
        "description": STATUS_TEXT[status],
        "content": {"application/json": {"schema": schema}},
    }


def _error(status: int) -> dict[str, Any]:
    response = _json("ErrorResponse", status)
    if status == 400:
        # aiohttp's HTTP parser refuses an over-long request line or header before any
        # handler runs, with a plain-text body.
        response["content"]["text/plain"] = {"schema": {"type": "string"}}
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    if status == 503:
        response["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    return response
