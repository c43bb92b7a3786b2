"""When to try again: exponential back-off with full jitter, or what `Retry-After` says."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime


def retry_delay(
    schedule_s: Sequence[float], attempts: int, rng: random.Random | None = None
) -> float | None:
    """Delay before the next attempt once `attempts` attempts have failed, drawn uniformly
    from [0, schedule_s[attempts - 1]] (full jitter spreads a burst of failures instead of
    retrying it in lockstep); None when the schedule is exhausted."""
    if attempts > len(schedule_s):
        return None
    return (rng or random).uniform(0.0, schedule_s[attempts - 1])


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delay-seconds or an HTTP date);
    None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))
