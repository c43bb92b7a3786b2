"""The edge encodes raw hits positionally (no Struct on the hot path): the bytes must decode
to the `RawHit` the recorder was given, and a flush's envelope to the hit batch every
reader (the batcher's take script, `tracer.hits`) counts the same."""

from __future__ import annotations

import msgspec
import pytest

from tracer import hits
from tracer.events import Event, encode


def test_the_recorded_fields_decode_as_the_raw_hit_struct_field_for_field() -> None:
    fields = (
        hits.UNSUBSCRIBE, "nordlys-jobb", "", b"\x9e\x01", b"curl/8.5.0", b"198.51.100.7",
        ("192.0.2.77", 5000), "POST", 1_700_000_100.25, "evt-1", "newsletter", 3,
    )  # fmt: skip
    record = hits.encode_hit_fields(fields)

    hit = hits.decode_hit(record)

    assert hit == hits.RawHit(
        route=hits.UNSUBSCRIBE,
        brand="nordlys-jobb",
        token="",
        plain=b"\x9e\x01",
        ua=b"curl/8.5.0",
        xff=b"198.51.100.7",
        peer=["192.0.2.77", 5000],
        method="POST",
        ts=1_700_000_100.25,
        id="evt-1",
        list_id="newsletter",
        shard=3,
    )
    assert msgspec.msgpack.decode(record) == msgspec.msgpack.decode(msgspec.msgpack.encode(hit))


@pytest.mark.parametrize("count", [0, 1, 15, 16, 65_535, 65_536])
def test_a_frame_is_a_hit_batch_whose_header_counts_its_hits(count: int) -> None:
    record = hits.encode_hit_fields(
        (hits.OPEN, "b", "tok", b"", b"", b"", None, "GET", 1.0, "e", None, -1)
    )

    framed = hits.frame([record] * count)

    assert hits.is_hit_batch(framed)
    assert hits.hits_in(framed) == count
    decoded = hits.decode_queued(framed)
    assert len(decoded) == count
    assert framed == hits.encode_batch(decoded)


def test_an_event_queued_by_an_older_edge_still_decodes_as_an_event() -> None:
    event = Event(id="e1", type="open", ts=5.0, brand="northjobs", ip="192.0.2.0")
    raw = encode(event)

    assert not hits.is_hit_batch(raw)
    assert hits.hits_in(raw) == 1
    assert hits.decode_queued(raw) == event
    assert hits.oldest_ts(raw) == 5.0


def test_garbage_is_neither() -> None:
    with pytest.raises(msgspec.DecodeError):
        hits.decode_queued(b"\x92\x01\xc1")
    assert hits.oldest_ts(b"not msgpack") is None
