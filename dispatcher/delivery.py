"""One HTTP attempt and what its result means for the jobs it carried."""

from __future__ import annotations

import enum
import re
import time
from dataclasses import dataclass

import aiohttp
import yarl

from dispatcher.backoff import parse_retry_after
from dispatcher.deadlines import Deadline
from dispatcher.ssrf import is_refusal

# Read at most this much of a receiver's answer: enough for an error message, and a
# receiver cannot make us buffer a huge body.
RESPONSE_PEEK_BYTES = 65536
# Statuses worth another attempt besides 5xx: the receiver is busy, not refusing.
RETRYABLE_STATUSES = frozenset({408, 425, 429})
# A URL in an error's text, split into its origin and the rest (path, query: where a
# receiver's tokens live). Details are logged and listed by `tracer dlq`: origin only.
_URL = re.compile(r"(https?://[^/?#\s'\"]*)[^\s'\"]*")


class Disposition(enum.Enum):
    DELIVERED = "delivered"
    # Worth another attempt later: connection error, timeout, 5xx, 408/425/429.
    RETRY = "retry"
    # 410 Gone: the receiver asks us to stop; the endpoint is disabled.
    GONE = "gone"
    # Any other answer (3xx, 4xx): another attempt would get the same; dead-letter now.
    REJECTED = "rejected"
    # The SSRF guard refused the target address.
    REFUSED = "refused"
    # Not attempted: the endpoint's circuit breaker is open.
    CIRCUIT_OPEN = "circuit_open"
    # Not attempted: the endpoint was disabled while the job waited for a slot.
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class Outcome:
    disposition: Disposition
    # For metrics and the dead-letter list: "http_503", "timeout", "connection", ...
    reason: str = ""
    # Human-readable detail kept as the job's `last_error` (never headers or secrets).
    detail: str = ""
    retry_after_s: float | None = None
    latency_s: float = 0.0

    @property
    def counts_against_breaker(self) -> bool:
        return self.disposition is Disposition.RETRY


DELIVERED = Outcome(Disposition.DELIVERED, "ok")
CIRCUIT_OPEN = Outcome(
    Disposition.CIRCUIT_OPEN, "circuit_open", "not attempted: circuit breaker open"
)
DISABLED = Outcome(Disposition.DISABLED, "disabled", "not attempted: endpoint disabled")


async def post(
    session: aiohttp.ClientSession,
    url: yarl.URL,
    body: bytes,
    headers: dict[str, str],
    deadline: Deadline,
) -> Outcome:
    """POST once (redirects are not followed) within `deadline`, from connecting to the
    last byte read, and classify the result."""
    started = time.perf_counter()
    try:
        async with (
            deadline,
            session.post(url, data=body, headers=headers, allow_redirects=False) as resp,
        ):
            status = resp.status
            text = b"" if 200 <= status < 300 else await resp.content.read(RESPONSE_PEEK_BYTES)
            retry_after = resp.headers.get("Retry-After")
    except TimeoutError:
        return Outcome(Disposition.RETRY, "timeout", "timed out", latency_s=_since(started))
    except aiohttp.ClientConnectorError as exc:
        if is_refusal(exc.os_error):
            return Outcome(
                Disposition.REFUSED, "refused", str(exc.os_error), latency_s=_since(started)
            )
        return Outcome(Disposition.RETRY, "connection", _describe(exc), latency_s=_since(started))
    except (aiohttp.ClientError, OSError) as exc:
        return Outcome(Disposition.RETRY, "connection", _describe(exc), latency_s=_since(started))
    return classify(status, text, retry_after, _since(started))


def classify(status: int, text: bytes, retry_after: str | None, latency_s: float) -> Outcome:
    if 200 <= status < 300:
        return Outcome(Disposition.DELIVERED, "ok", latency_s=latency_s)
    detail = f"HTTP {status}"
    snippet = text[:200].decode("utf-8", "replace").strip()
    if snippet:
        detail += f": {snippet}"
    reason = f"http_{status}"
    if status == 410:
        return Outcome(Disposition.GONE, reason, detail, latency_s=latency_s)
    if status >= 500 or status in RETRYABLE_STATUSES:
        wait = parse_retry_after(retry_after)
        return Outcome(Disposition.RETRY, reason, detail, retry_after_s=wait, latency_s=latency_s)
    return Outcome(Disposition.REJECTED, reason, detail, latency_s=latency_s)


def _describe(exc: BaseException) -> str:
    """The error's type and text, any URL in it cut to its origin (aiohttp names the
    whole URL, query string included, in some errors)."""
    text = _URL.sub(r"\1", str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _since(started: float) -> float:
    return time.perf_counter() - started
