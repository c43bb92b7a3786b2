"""The edge encodes events positionally (no Struct on the hot path): the bytes must be the
ones msgspec produces for the `Event` Struct, so every stage decodes them the same."""

from __future__ import annotations

import msgspec

from edge.app import Edge
from tracer import events
from tracer.classify import Verdict
from tracer.context import Context
from tracer.events import Event
from tracer.settings import Settings
from tracer.tokens import UNSUBSCRIBE, LinkPayload


def test_positional_encoding_matches_the_event_struct(example_brands, keyring, tmp_path) -> None:
    edge = Edge(Context(Settings(data_dir=tmp_path), example_brands, keyring))
    recorded: list[bytes] = []
    edge._record = recorded.append
    site = edge.sites.by_id["nordlys-jobb"]  # keeps 16 bits of IPv4 and no user agent
    payload = LinkPayload(
        kind=UNSUBSCRIBE,
        brand="nordlys-jobb",
        message_id="m-9",
        issued=1_700_000_000,
        campaign="winter",
        job_source="finn",
        channel="email",
        recipient="hash",
        list_id="newsletter",
        hint="a•••@b.example",
    )
    verdict = Verdict("bot", ("ua:curl",))

    edge._record_event(
        site,
        payload,
        "unsubscribe",
        "evt-1",
        1_700_000_100.25,
        "192.0.2.77",
        "curl/8.5",
        "POST",
        verdict,
        list_id="",
    )

    expected = Event(
        id="evt-1",
        type="unsubscribe",
        ts=1_700_000_100.25,
        brand="nordlys-jobb",
        channel="email",
        message_id="m-9",
        campaign="winter",
        job_source="finn",
        link=0,
        url="",
        position="",
        recipient="hash",
        ip="192.0.0.0",
        ua="",
        agent="bot",
        reasons=["ua:curl"],
        bot=True,
        click_id="",
        method="POST",
        host="",
        sent_ts=1_700_000_000.0,
        list_id="",
    )
    assert events.decode(recorded[0]) == expected
    # Field for field the same as the Struct's encoding (which has 3 more trailing defaults).
    positional = msgspec.msgpack.decode(recorded[0])
    assert positional == msgspec.msgpack.decode(msgspec.msgpack.encode(expected))[:22]
