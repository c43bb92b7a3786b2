"""The one event schema shared by the edge, the batcher and the dispatcher.

Events travel through Redis as msgpack arrays (`array_like`): compact and fast, which is
why fields may only ever be *appended*, each with a default, and never change type
(msgspec's schema-evolution rules). JSON (webhooks, the API) uses field names.
"""

from __future__ import annotations

import os
import time

import msgspec

# `revoked_click`: a click on a revoked link, sent to the landing page (tracer.revocations).
EVENT_TYPES = (
    "sent",
    "open",
    "click",
    "unsubscribe_view",
    "unsubscribe",
    "conversion",
    "revoked_click",
)
AGENTS = ("human", "bot", "scanner", "mpp", "proxy", "preview")
CHANNELS = ("email", "sms")
POSITIONS = ("header", "footer")
# Events a recipient's software makes by fetching a tracked URL ("hits"): they carry a
# user agent and an address, so client info and country are derived for them.
HIT_TYPES = ("open", "click", "unsubscribe_view", "unsubscribe")
# What fetched a hit, as derived from its user agent (`tracer.clients`); "" when unknown.
CLIENT_TYPES = ("mail", "webmail", "browser", "webview", "proxy", "robot")
DEVICES = ("desktop", "mobile", "tablet", "unknown")


class Event(msgspec.Struct, array_like=True, kw_only=True, gc=False):
    """One engagement event. `recipient` is a keyed hash, never an address or a number."""

    id: str
    type: str
    # Unix time in seconds (UTC), with sub-millisecond precision.
    ts: float
    brand: str
    channel: str = "email"
    message_id: str = ""
    campaign: str = ""
    job_source: str = ""
    link: int = 0
    url: str = ""
    position: str = ""
    recipient: str = ""
    # Client address truncated per the brand's privacy setting ("" when dropped).
    ip: str = ""
    ua: str = ""
    agent: str = "human"
    reasons: list[str] = msgspec.field(default_factory=list)
    bot: bool = False
    # --- appended fields (keep appending below) ---
    # Click id appended to the redirect; conversions point back to it.
    click_id: str = ""
    method: str = "GET"
    host: str = ""
    # When the link was made (about when the message was sent), Unix seconds.
    sent_ts: float = 0.0
    # Suppression scope of an unsubscribe: "" for all marketing of the brand, or a list id.
    list_id: str = ""
    # Conversion value, and revenue attributed to a click by the brand's CPC table.
    value: float = 0.0
    currency: str = ""
    # Free-form attributes (conversions carry e.g. the application id).
    attrs: dict[str, str] = msgspec.field(default_factory=dict)
    # Who read it, derived by the batcher from `ua` (tracer.clients) and from the client
    # address before truncation (tracer.geo); "" (device "unknown") when not derived: not
    # a hit, no user agent or database, or the brand's privacy settings turn them off.
    client: str = ""
    client_type: str = ""
    os: str = ""
    device: str = "unknown"
    # ISO 3166-1 alpha-2 code, upper case.
    country: str = ""


# One encoder/decoder per process, reused (msgspec's "reuse Encoders/Decoders" advice).
_msgpack_encoder = msgspec.msgpack.Encoder()
_msgpack_decoder = msgspec.msgpack.Decoder(Event)
_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder(Event)

encode = _msgpack_encoder.encode
decode = _msgpack_decoder.decode


def queued_age_s(raw: bytes | None, now: float) -> float:
    """How long ago the oldest hit or event of a queue entry happened: 0 for an empty queue,
    and for a payload that decodes as neither (the batcher's dead list counts those)."""
    if raw is None:
        return 0.0
    from tracer.hits import oldest_ts  # the raw-hit envelope builds on this module

    ts = oldest_ts(raw)
    return 0.0 if ts is None else max(0.0, now - ts)


def to_json(event: Event) -> bytes:
    """JSON object with named fields (webhooks, API, logs)."""
    return _json_encoder.encode(to_dict(event))


def to_dict(event: Event) -> dict[str, object]:
    return msgspec.structs.asdict(event)


def from_dict(data: dict[str, object]) -> Event:
    """An `Event` from named fields (`Event` itself is array_like on the wire)."""
    return Event(**data)


# Sequence numbers within one millisecond, formatted once (formatting costs more than the
# rest of id generation).
_SEQUENCE_TEXT = [f"{n:03x}" for n in range(4096)]


class EventIds:
    """Unique, time-ordered ids of 23 hex digits: 12 of Unix milliseconds, 8 of a random
    node id chosen per process, 3 of a sequence within the millisecond.

    Sorting by id sorts by time. Within a process ids only ever increase: if the clock steps
    back, or 4,096 ids are needed in one millisecond, the millisecond part moves ahead of
    the clock instead of repeating. Two processes never collide unless they draw the same
    random 32-bit node id.
    """

    __slots__ = ("_millis", "_node", "_prefix", "_sequence")

    def __init__(self) -> None:
        self._node = os.urandom(4).hex()
        self._millis = -1
        self._sequence = 0
        self._prefix = ""

    def reseed(self) -> None:
        """Pick a fresh node id (call in a child after fork)."""
        self._node = os.urandom(4).hex()
        self._prefix = f"{self._millis:012x}{self._node}"

    def next(self, now: float | None = None) -> str:
        millis = int((time.time() if now is None else now) * 1000)
        if millis > self._millis:
            self._millis = millis
            self._sequence = 0
            self._prefix = f"{millis:012x}{self._node}"
        else:
            sequence = self._sequence + 1
            if sequence == 4096:
                self._millis += 1
                sequence = 0
                self._prefix = f"{self._millis:012x}{self._node}"
            self._sequence = sequence
        return self._prefix + _SEQUENCE_TEXT[self._sequence]


def id_time(event_id: str) -> float:
    """The Unix time (seconds) encoded in an event id."""
    return int(event_id[:12], 16) / 1000
