"""Enrichment: a raw hit as the edge recorded it becomes the `Event` the store keeps."""

from __future__ import annotations

import pytest

from batcher.enrich import Enricher
from tracer.brands import Brands
from tracer.events import Event
from tracer.hits import CLICK, OPEN, UNSUBSCRIBE, RawHit
from tracer.keyring import KeyRing, new_keyring
from tracer.links import LinkBuilder
from tracer.tokens import CLICK as CLICK_KIND
from tracer.tokens import UNSUBSCRIBE as UNSUBSCRIBE_KIND
from tracer.tokens import LinkPayload, TokenCodec

NOW = 1_700_000_100.25
FIREFOX = b"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0"


@pytest.fixture
def enrich(example_brands: Brands, keyring: KeyRing) -> Enricher:
    return Enricher(example_brands, keyring, "127.0.0.1/32")


def hit(route: str, brand: str = "northjobs", **fields: object) -> RawHit:
    values: dict[str, object] = {
        "route": route, "brand": brand, "token": "", "plain": b"", "ua": FIREFOX, "xff": b"",
        "peer": ["192.0.2.77", 5000], "method": "GET", "ts": NOW, "id": "evt-1",
    }  # fmt: skip
    values.update(fields)
    return RawHit(**values)  # type: ignore[arg-type]


def sealed(keyring: KeyRing, payload: LinkPayload) -> tuple[str, bytes]:
    codec = TokenCodec(keyring)
    token = codec.seal(payload)
    return token, codec.open_plain(token)[0]


def test_an_unsubscribe_hit_becomes_its_event_field_for_field(
    enrich: Enricher, keyring: KeyRing
) -> None:
    payload = LinkPayload(
        kind=UNSUBSCRIBE_KIND, brand="nordlys-jobb", message_id="m-9", issued=1_700_000_000,
        campaign="winter", job_source="finn", recipient="hash", list_id="newsletter",
        hint="a•••@b.example",
    )  # fmt: skip
    _, plain = sealed(keyring, payload)
    raw = hit(UNSUBSCRIBE, "nordlys-jobb", plain=plain, ua=b"curl/8.5.0", method="POST",
              list_id="")  # fmt: skip

    event = enrich(raw)

    assert isinstance(event, Event)
    # nordlys-jobb keeps 16 bits of an IPv4 address and no user agent. A one-click POST
    # with a library's user agent is the mailbox provider acting for the reader: a person
    # (docs/classification.md, "Unsubscribe POSTs").
    assert event == Event(
        id="evt-1", type="unsubscribe", ts=NOW, brand="nordlys-jobb", channel="email",
        message_id="m-9", campaign="winter", job_source="finn", recipient="hash",
        ip="192.0.0.0", ua="", agent="human", reasons=["no_signal"], bot=False,
        method="POST", sent_ts=1_700_000_000.0, list_id="",
    )  # fmt: skip


def test_an_open_token_is_opened_here_and_a_bad_one_dropped_with_its_reason(
    enrich: Enricher, keyring: KeyRing, example_brands: Brands
) -> None:
    builder = LinkBuilder(example_brands, keyring)
    token = builder.open("northjobs", "m-1", recipient="r@x.example").rsplit("/", 1)[1][:-4]
    foreign = builder.open("harborcareers", "m-1").rsplit("/", 1)[1][:-4]
    click = builder.click("northjobs", "m-1", "https://northjobs.example/").rsplit("/", 1)[1]
    tampered = token[:30] + ("A" if token[30] != "A" else "B") + token[31:]
    other_ring = Enricher(example_brands, new_keyring(), "")

    opened = enrich(hit(OPEN, token=token))

    assert isinstance(opened, Event)
    assert (opened.type, opened.message_id, opened.agent, opened.ip) == (
        "open", "m-1", "human", "192.0.2.0",
    )  # fmt: skip
    assert enrich(hit(OPEN, token=tampered)) == "tampered"
    assert enrich(hit(OPEN, token=foreign)) == "wrong_host"
    assert enrich(hit(OPEN, token=click)) == "wrong_route"
    assert other_ring(hit(OPEN, token=token)) == "tampered"
    assert Enricher(example_brands, None, "")(hit(OPEN, token=token)) == "no_keyring"


def test_an_expired_open_link_is_dropped(keyring: KeyRing, example_brands: Brands) -> None:
    brand = next(b for b in example_brands if b.link_ttl_days)
    token, _ = sealed(keyring, LinkPayload(kind=1, brand=brand.id, message_id="m", issued=1000))
    enrich = Enricher(example_brands, keyring, "")

    assert enrich(hit(OPEN, brand.id, token=token, ts=1000 + brand.link_ttl_days * 86400 + 1)) == (
        "expired"
    )
    assert isinstance(enrich(hit(OPEN, brand.id, token=token, ts=1001)), Event)


@pytest.mark.parametrize(
    ("peer", "forwarded", "ip"),
    [
        ("127.0.0.1", b"203.0.113.5", "203.0.113.0"),  # a trusted proxy: its header is believed
        ("198.51.100.9", b"203.0.113.5", "198.51.100.0"),  # anyone else: the peer
        ("127.0.0.1", b"", "127.0.0.0"),
    ],
)
def test_the_client_address_is_the_trusted_proxys_word_then_truncated(
    enrich: Enricher, keyring: KeyRing, peer: str, forwarded: bytes, ip: str
) -> None:
    payload = LinkPayload(kind=0, brand="northjobs", message_id="m", issued=1, url="https://x/")
    _, plain = sealed(keyring, payload)

    event = enrich(hit(CLICK, plain=plain, peer=[peer, 1], xff=forwarded))

    assert isinstance(event, Event)
    assert event.ip == ip
    assert event.click_id == event.id


def test_a_classifier_failure_keeps_the_event_marked_unclassified(
    enrich: Enricher, keyring: KeyRing
) -> None:
    payload = LinkPayload(kind=0, brand="northjobs", message_id="m", issued=1, url="https://x/")
    _, plain = sealed(keyring, payload)

    class Broken:
        def click(self, *args: object) -> None:
            raise RuntimeError("bug")

    enrich.rules("northjobs").classifier = Broken()  # type: ignore[assignment]
    event = enrich(hit(CLICK, plain=plain, id="evt-2"))

    assert isinstance(event, Event)
    assert (event.id, event.agent, event.reasons) == ("evt-2", "human", ["classify_error"])


def test_a_hit_of_a_brand_no_longer_configured_is_still_stored(
    enrich: Enricher, keyring: KeyRing
) -> None:
    payload = LinkPayload(kind=0, brand="gone", message_id="m", issued=1, url="https://x/")
    _, plain = sealed(keyring, payload)

    event = enrich(hit(CLICK, "gone", plain=plain))

    assert isinstance(event, Event)
    assert (event.brand, event.ip) == ("gone", "192.0.2.0")
    assert enrich(hit(CLICK, plain=b"\xc1")) == "bad_payload"


def test_client_details_come_from_the_full_user_agent_and_the_address_before_truncation(
    keyring: KeyRing, example_brands: Brands, tmp_path
) -> None:
    """The country is looked up on the client's full address (192.0.2.77), which only the
    raw hit carries: the stored address is truncated to 192.0.2.0, which the database
    does not know."""
    from bench.geoip import write_country_db
    from tracer.enrichment import ClientEnricher
    from tracer.geo import GeoIP

    geoip = GeoIP(write_country_db(tmp_path / "c.mmdb", {"192.0.2.77/32": "NL"}))
    try:
        clients = ClientEnricher(example_brands, geoip)
        enrich = Enricher(example_brands, keyring, "", clients=clients)
        payload = LinkPayload(
            kind=CLICK_KIND,
            brand="northjobs",
            message_id="m-1",
            issued=1_700_000_000,
            url="https://northjobs.example/jobs/1",
        )
        _, plain = sealed(keyring, payload)
        event = enrich(hit(CLICK, plain=plain))
    finally:
        geoip.close()

    assert isinstance(event, Event)
    assert (event.client, event.client_type, event.os, event.device) == (
        "Firefox", "browser", "Windows", "desktop",
    )  # fmt: skip
    assert (event.country, event.ip) == ("NL", "192.0.2.0")
