"""Building events for tests."""

from __future__ import annotations

import time

from tracer.events import Event, EventIds

_ids = EventIds()


def make_event(type: str = "open", brand: str = "northjobs", **fields: object) -> Event:
    """An event with a fresh id; `ts` defaults to now."""
    fields.setdefault("ts", time.time())
    fields.setdefault("message_id", "m-1")
    return Event(id=_ids.next(fields["ts"]), type=type, brand=brand, **fields)  # type: ignore[arg-type]
