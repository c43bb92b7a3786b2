"""Moments as the command line takes them (`--since T`)."""

from __future__ import annotations

import datetime as dt
import re
import time

_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_moment(text: str, now: float | None = None) -> float:
    """Unix seconds of `text`: an ISO date or time (UTC unless it says), Unix seconds, or
    an age before `now` such as 30m, 12h, 2d, 1w; "" is the beginning of time (0).
    ValueError, with a message that names `text`, for anything else."""
    text = text.strip()
    if not text:
        return 0.0
    age = _AGE.fullmatch(text)
    if age:
        amount, unit = age.groups()
        return (time.time() if now is None else now) - float(amount) * _UNIT_S[unit]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO date or time, Unix seconds or an age (30m, 12h, 2d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()
