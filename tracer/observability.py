"""Error reporting to Sentry, the same way in every role, with nothing private in it.

`init_sentry(role, settings)` does nothing unless `SENTRY_DSN` is set. Then unhandled
exceptions and every log record at ERROR or above become Sentry events, tagged with the
role; records at INFO and above travel with them as breadcrumbs. Nothing else is turned
on: no tracing, no local variables in stack frames, no auto-enabled integrations (they
would wrap every Redis command and record webhook URLs as breadcrumbs), no `sys.argv`
(`tracer link … --recipient` would carry an address).

Before an event leaves the process, `_before_send`:
- attaches the exception being handled to an error log record that has none (the edge
  logs its internal errors with a formatted traceback, not `exc_info`), so Sentry gets a
  real stack trace, and tags the edge's error id so a log line and its event meet;
- tags the brand the error concerns: from a `brand` log extra, else from the innermost
  stack frame holding one (a `brand`/`brand_id` string, a brand or site's `.id`, or the
  `.brand` of a token payload, event, webhook job or endpoint). Reading frames costs
  nothing until an error happens: the request path stays as it is;
- scrubs every string and mapping of the event (`scrub_text`, `_DENIED_KEYS`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

from tracer import __version__
from tracer.settings import Settings

logger = logging.getLogger(__name__)

FILTERED = "[Filtered]"
# Mapping keys whose values never leave, matched as lower-case substrings.
_DENIED_KEYS = (
    "secret",
    "password",
    "passwd",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "credential",
    "private_key",
    "dsn",
    "recipient",
    "email",
    "phone",
    "forwarded_for",
    "forwarded-for",
    "redis_url",
    "mongodb_url",
)

_Rule = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]


# Addresses of our own infrastructure, kept in events for debugging (RFC 1918, loopback).
_INFRASTRUCTURE = tuple(
    ipaddress.IPv4Network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                            "127.0.0.0/8")
)  # fmt: skip


def _ipv4(match: re.Match[str]) -> str:
    """Other addresses may be a person's: truncated to /24, as events keep them."""
    try:
        address = ipaddress.IPv4Address(match[0])
    except ValueError:
        return match[0]
    if any(address in network for network in _INFRASTRUCTURE):
        return match[0]
    return f"{match[1]}.0"


# `secret=…`, `token: "…"`, `api-key=…` in free text.
_KEY_VALUE = re.compile(
    r"\b(secret|password|passwd|token|api[_-]?key|dsn)(['\"]?\s*[:=]\s*['\"]?)[^\s'\",;&}]+", re.I
)

# Applied in order to every string of an event.
_RULES: list[_Rule] = [
    # scheme://user:password@host -> scheme://[Filtered]@host (Redis, MongoDB, DSNs)
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^\s/@:]*(?::[^\s/@]*)?@", re.I), rf"\1{FILTERED}@"),
    # Tracking links: /c/<token>, /o/<token>.gif, /u/<token>, /s/<slug> -> /c/…
    (re.compile(r"(?<=/)([cous])/[A-Za-z0-9_-]{6,}(?:\.gif)?"), r"\1/…"),
    # A token anywhere else (version 1 tokens start with "AQ" in base64url).
    (re.compile(r"\bAQ[A-Za-z0-9_-]{30,}"), "[token]"),
    # Query strings may carry a receiver's key or a recipient.
    (re.compile(r"(\bhttps?://[^\s?#\"'<>]+)\?[^\s#\"'<>]*", re.I), rf"\1?{FILTERED}"),
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), f"whsec_{FILTERED}"),
    (re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.I), rf"\1 {FILTERED}"),
    (_KEY_VALUE, rf"\1\2{FILTERED}"),
    (re.compile(r"[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}\b"), "[email]"),
    (re.compile(r"(?<![\w+])\+\d[\d ().-]{6,18}\d\b"), "[phone]"),
    (re.compile(r"\b(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}\b"), _ipv4),
]

# Top-level event keys the SDK fills with its own description.
_SDK_KEYS = frozenset(
    ("event_id", "timestamp", "platform", "release", "environment", "server_name", "sdk",
     "modules", "level", "logger")
)  # fmt: skip

# Local names that hold a brand, and the attribute giving its id ("" for the value itself).
_BRAND_HOLDERS = {
    "brand_id": "",
    "brand": "id",
    "site": "id",
    "payload": "brand",
    "event": "brand",
    "job": "brand",
    "endpoint": "brand",
}
_BRAND_ID = re.compile(r"[a-z0-9-]{1,64}\Z")
# The edge's internal-error log line: "request <error id> failed on …".
_ERROR_ID = re.compile(r"\brequest ([0-9a-f]{12}) failed\b")


def init_sentry(role: str, settings: Settings) -> bool:
    """Report this process's errors to `settings.sentry_dsn`, tagged `role`. Returns
    whether Sentry is on. Call once at start-up (in each granian worker for the edge).

    Error reporting is never a reason for a role to stop: whatever goes wrong here (a bad
    DSN, an SDK that refuses an option, an SDK bug) is logged once and the role runs on
    without Sentry."""
    if not settings.sentry_dsn:
        return False
    try:
        import sentry_sdk
        from sentry_sdk.integrations.argv import ArgvIntegration
        from sentry_sdk.integrations.logging import LoggingIntegration
    except ImportError:
        logger.warning("SENTRY_DSN is set but sentry-sdk is not installed: errors stay local")
        return False
    try:
        sentry_sdk.init(
            dsn=str(settings.sentry_dsn),
            release=os.environ.get("SENTRY_RELEASE") or f"tracer@{__version__}",
            data_collection=_DATA_COLLECTION,
            max_request_body_size="never",
            auto_enabling_integrations=False,
            # Errors become events, INFO and above their breadcrumbs; no record is sent as
            # a Sentry Log (`level=None`): log lines stay in the role's own log.
            integrations=[
                LoggingIntegration(
                    level=None, event_level=logging.ERROR, breadcrumb_level=logging.INFO
                )
            ],
            disabled_integrations=[ArgvIntegration()],
            before_send=_before_send,
            send_client_reports=False,
        )
        # The global scope: every thread and task of the process carries the role.
        sentry_sdk.get_global_scope().set_tag("role", role)
    except Exception as exc:
        # The message only: an SDK error may quote the DSN, whose key is a secret.
        logger.error(
            "Sentry is off for %s: initialising sentry-sdk %s failed (%s); running without it",
            role,
            getattr(sentry_sdk, "VERSION", "?"),
            type(exc).__name__,
        )
        _disable_sentry()
        return False
    return True


def sentry_dsn_problem(dsn: str | None) -> str | None:
    """Why `dsn` cannot work, for `tracer config check` (roles only log it and run on)."""
    if not dsn:
        return None
    try:
        from sentry_sdk.utils import BadDsn, Dsn
    except ImportError:
        return "SENTRY_DSN is set but sentry-sdk is not installed"
    try:
        Dsn(str(dsn))
    except BadDsn as exc:
        return f"SENTRY_DSN: not a valid DSN ({exc})"
    return None


# What sentry-sdk (3.x) may collect by itself: nothing about people (Tracer's requests
# carry recipients' addresses and tokens), no local variables (they hold keys and
# payloads), no request bodies, headers, cookies or query strings.
_DATA_COLLECTION: dict[str, Any] = {
    "user_info": False,
    "cookies": {"mode": "off"},
    "http_headers": {"request": {"mode": "off"}},
    "http_bodies": [],
    "url_query_params": {"mode": "off"},
    "database_query_data": False,
    "queues": False,
    "stack_frame_variables": False,
}


def _disable_sentry() -> None:
    """Leave no half-initialised client behind a failed `init`."""
    try:
        import sentry_sdk

        sentry_sdk.init(dsn=None)
    except Exception:  # nothing more to undo
        logger.debug("could not reset sentry-sdk after a failed init", exc_info=True)


def _before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    record: logging.LogRecord | None = hint.get("log_record")
    if record is not None and "exception" not in event and record.levelno >= logging.ERROR:
        try:
            _attach_handled_exception(event, hint)
        except Exception:  # the event still goes, without the stack trace
            logger.debug("cannot attach the handled exception to a Sentry event", exc_info=True)
    tags = event.setdefault("tags", {})
    brand = getattr(record, "brand", None) or brand_of(_exception(hint))
    if isinstance(brand, str) and _BRAND_ID.match(brand):
        tags.setdefault("brand", brand)
    if record is not None:
        error_id = getattr(record, "error_id", None) or _error_id(record.getMessage())
        if error_id:
            tags.setdefault("error_id", error_id)
    return scrub(event)


def _attach_handled_exception(event: dict[str, Any], hint: dict[str, Any]) -> None:
    """An error logged inside an `except` block without `exc_info`: before_send runs
    synchronously in the logging call, so the exception being handled is still at hand."""
    exc_info = sys.exc_info()
    if exc_info[1] is None:
        return
    from sentry_sdk.utils import event_from_exception

    built, _hint = event_from_exception(exc_info, mechanism={"type": "logging", "handled": True})
    event["exception"] = built["exception"]
    hint["exc_info"] = exc_info


def _exception(hint: dict[str, Any]) -> BaseException | None:
    exc_info = hint.get("exc_info")
    return exc_info[1] if exc_info else None


def brand_of(exc: BaseException | None) -> str | None:
    """The brand an exception concerns: the innermost frame (of it, then of its cause or
    context) holding a brand id in one of `_BRAND_HOLDERS`."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        for frame_locals in reversed(list(_frame_locals(exc.__traceback__))):
            brand = _brand_in(frame_locals)
            if brand is not None:
                return brand
        exc = exc.__cause__ or exc.__context__
    return None


def _frame_locals(tb: TracebackType | None) -> Iterator[dict[str, Any]]:
    while tb is not None:
        yield tb.tb_frame.f_locals
        tb = tb.tb_next


def _brand_in(frame_locals: dict[str, Any]) -> str | None:
    for name, attribute in _BRAND_HOLDERS.items():
        value = frame_locals.get(name)
        if value is None:
            continue
        try:
            candidate = getattr(value, attribute, None) if attribute else value
        except Exception:  # a property that fails is no brand
            continue
        if name == "brand" and isinstance(value, str):
            candidate = value
        if isinstance(candidate, str) and _BRAND_ID.match(candidate):
            return candidate
    return None


def _error_id(message: str) -> str | None:
    match = _ERROR_ID.search(message)
    return match[1] if match else None


def scrub(event: dict[str, Any]) -> dict[str, Any]:
    """A copy of an event with secrets and personal data removed (what the SDK itself
    describes, its version, the installed packages, is left as it is)."""
    return {
        key: value if key in _SDK_KEYS else FILTERED if _denied(key) else _scrub(value)
        for key, value in event.items()
    }


def _scrub(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if depth > 30:
        return value
    if isinstance(value, dict):
        return {
            key: FILTERED if _denied(key) else _scrub(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(item, depth + 1) for item in value]
    return value


def scrub_text(text: str) -> str:
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def _denied(key: object) -> bool:
    lowered = str(key).lower()
    return any(denied in lowered for denied in _DENIED_KEYS)
