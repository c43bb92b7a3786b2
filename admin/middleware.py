"""Middlewares: every answer is JSON, nothing leaks a traceback, one log line a request.

Expected failures become their status: `ApiError` as raised, aiohttp's own (404 unknown
path, 405, 413 body too large) as JSON, Redis or the store unreachable as 503, a client that
hung up before its body arrived as one info line (400). Anything else is a bug: it is
logged with its traceback and answered `{"error": "internal"}`.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from admin.auth import BRAND
from admin.errors import ApiError, error_response
from tracer.redis_cluster import REDIS_ERRORS
from tracer.store import StoreUnavailable

logger = logging.getLogger(__name__)
access_logger = logging.getLogger(f"{__name__}.access")

_RETRY_SOON = {"Retry-After": "1"}


@web.middleware
async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One line per request: never the query string (it may hold a recipient) nor any
    header (the API key)."""
    started = time.perf_counter()
    response = await handler(request)
    access_logger.info(
        "%s %s %d",
        request.method,
        request.path[:200],
        response.status,
        extra={
            "status": response.status,
            "ms": round((time.perf_counter() - started) * 1000, 2),
            "brand": request.get(BRAND, ""),
        },
    )
    return response


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        # aiohttp's text is "404: Not Found", or a sentence worth passing on (413's sizes).
        text = exc.text or ""
        detail = exc.reason if text.startswith(f"{exc.status}:") or not text else text
        return error_response(exc.status, detail, headers=headers)
    except REDIS_ERRORS as exc:
        logger.warning("Redis unavailable during %s %s: %s", request.method, request.path, exc)
        return error_response(503, "the event queue is unavailable", headers=_RETRY_SOON)
    except StoreUnavailable as exc:
        logger.warning("store unavailable during %s %s: %s", request.method, request.path, exc)
        return error_response(503, "the event store is unavailable", headers=_RETRY_SOON)
    except ConnectionResetError:
        # The client went away before its request body arrived: nothing broke here, and
        # nobody is left to read an answer (the access log still gets its line).
        logger.info(
            "%s %s: the client closed the connection before sending its whole body",
            request.method,
            request.path[:200],
        )
        return error_response(400, "the request body did not arrive")
    except Exception:
        logger.exception("%s %s failed", request.method, request.path)
        return error_response(500)
