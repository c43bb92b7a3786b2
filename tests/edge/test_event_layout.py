"""The edge encodes events positionally (no Struct on the hot path): the bytes must decode
to the `Event` the hit describes, so every stage reads them the same."""

from __future__ import annotations

import msgspec

from edge.hits import HitEncoder
from edge.metrics import EdgeMetrics
from edge.sites import SiteDirectory
from edge.trust import ClientAddress
from tracer import events
from tracer.events import Event
from tracer.tokens import UNSUBSCRIBE, LinkPayload


def test_a_hit_encodes_to_the_event_struct_field_for_field(example_brands) -> None:
    sites = SiteDirectory(example_brands)
    site = sites.by_id["nordlys-jobb"]  # keeps 16 bits of IPv4 and no user agent
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
    headers = [(b"host", b"t.nordlysjobb.example"), (b"user-agent", b"curl/8.5.0")]
    hit = (
        "unsubscribe",
        site,
        payload,
        headers,
        ("192.0.2.77", 5000),
        "POST",
        1_700_000_100.25,
        "evt-1",
        "",
    )
    metrics = EdgeMetrics()

    (encoded,) = HitEncoder(ClientAddress(""), metrics)([hit])

    decoded = events.decode(encoded)
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
        agent=decoded.agent,
        reasons=decoded.reasons,
        bot=decoded.bot,
        click_id="",
        method="POST",
        host="",
        sent_ts=1_700_000_000.0,
        list_id="",
    )
    assert decoded == expected
    # Field for field the same as the Struct's encoding (which has more trailing defaults).
    positional = msgspec.msgpack.decode(encoded)
    assert positional == msgspec.msgpack.decode(msgspec.msgpack.encode(expected))[:22]
    assert metrics.requests == {("unsubscribe", 200, "nordlys-jobb", decoded.agent): 1}


def test_a_classifier_failure_keeps_the_event_marked_unclassified(example_brands) -> None:
    site = SiteDirectory(example_brands).by_id["northjobs"]
    payload = LinkPayload(kind=0, brand="northjobs", message_id="m", issued=1, url="https://x/")
    hit = ("click", site, payload, [(b"user-agent", b"x")], None, "GET", 2.0, "evt-2", None)

    class Broken:
        def click(self, *args: object) -> None:
            raise RuntimeError("bug")

    site.classifier = Broken()
    (encoded,) = HitEncoder(ClientAddress(""), EdgeMetrics())([hit])

    event = events.decode(encoded)
    assert (event.id, event.agent, event.reasons) == ("evt-2", "human", ["classify_error"])
