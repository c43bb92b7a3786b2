"""JSON responses and the errors every handler may raise.

Every answer of the API is JSON, errors included: `{"error": code, "field": …, "detail": …}`
where `field` names the request field at fault (`urls[3]`, `links[0].message_id`).
"""

from __future__ import annotations

import msgspec
from aiohttp import web
from msgspec import UNSET, UnsetType

from admin.schemas import ErrorResponse

_encode = msgspec.json.Encoder().encode

# The `error` code of each status the API answers with.
ERROR_CODES = {
    400: "malformed",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    422: "invalid",
    429: "too_many_requests",
    500: "internal",
    503: "unavailable",
}


class ApiError(Exception):
    """Raised by handlers to answer with an error; the error middleware renders it."""

    def __init__(
        self,
        status: int,
        detail: str | UnsetType = UNSET,
        *,
        field: str | UnsetType = UNSET,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail if isinstance(detail, str) else ERROR_CODES[status])
        self.status = status
        self.detail = detail
        self.field = field
        self.headers = headers

    def response(self) -> web.Response:
        return error_response(self.status, self.detail, field=self.field, headers=self.headers)


def json_response(body: object, status: int = 200) -> web.Response:
    """`body` (a msgspec Struct, or plain data) encoded as JSON."""
    return web.Response(body=_encode(body), status=status, content_type="application/json")


def error_response(
    status: int,
    detail: str | UnsetType = UNSET,
    *,
    field: str | UnsetType = UNSET,
    headers: dict[str, str] | None = None,
) -> web.Response:
    error = ErrorResponse(error=ERROR_CODES.get(status, "error"), field=field, detail=detail)
    response = json_response(error, status)
    if headers:
        response.headers.update(headers)
    return response
