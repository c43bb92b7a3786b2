"""Client fields of hit events, as each brand's privacy settings allow."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.geoip import write_country_db
from tests.store.events import make_event
from tracer.brands import Brands, parse_brands
from tracer.enrichment import ClientEnricher
from tracer.geo import GeoIP

IOS_MAIL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
BRANDS = """
[[brands]]
id = "open-book"
name = "Open Book"
hosts = ["t.open.example"]
landing_url = "https://open.example/"

[[brands]]
id = "no-country"
name = "No Country"
hosts = ["t.nocountry.example"]
landing_url = "https://nocountry.example/"
privacy = { country = false }

[[brands]]
id = "no-client"
name = "No Client"
hosts = ["t.noclient.example"]
landing_url = "https://noclient.example/"
privacy = { client_info = false }
"""


@pytest.fixture(scope="module")
def brands() -> Brands:
    return parse_brands(BRANDS)


@pytest.fixture
def geoip(tmp_path: Path):
    database = GeoIP(write_country_db(tmp_path / "countries.mmdb"))
    yield database
    database.close()


def test_a_hit_gets_client_device_os_and_country(brands: Brands, geoip: GeoIP) -> None:
    enricher = ClientEnricher(brands, geoip)
    event = make_event("open", "open-book", ua=IOS_MAIL, ip="203.0.113.0")

    enriched = enricher.enrich(event)

    assert (enriched.client, enriched.client_type, enriched.os, enriched.device,
            enriched.country) == ("Apple Mail", "mail", "iOS", "mobile", "AU")  # fmt: skip
    assert (enriched.id, enriched.ua, enriched.ip) == (event.id, event.ua, event.ip)


def test_the_full_address_is_looked_up_when_given(brands: Brands, geoip: GeoIP) -> None:
    enricher = ClientEnricher(brands, geoip)
    # The event's own address was truncated to nothing; the raw hit's is whole.
    event = make_event("click", "open-book", ua=IOS_MAIL, ip="")
    assert enricher.enrich(event, ip="198.51.100.23").country == "CA"
    assert enricher.enrich(event).country == ""


def test_each_brand_can_turn_country_or_client_info_off(brands: Brands, geoip: GeoIP) -> None:
    enricher = ClientEnricher(brands, geoip)
    no_country = enricher.enrich(make_event("open", "no-country", ua=IOS_MAIL, ip="203.0.113.0"))
    no_client = enricher.enrich(make_event("open", "no-client", ua=IOS_MAIL, ip="203.0.113.0"))

    assert (no_country.client, no_country.country) == ("Apple Mail", "")
    assert (no_client.client, no_client.client_type, no_client.os, no_client.device,
            no_client.country) == ("", "", "", "unknown", "AU")  # fmt: skip


def test_without_a_database_there_is_no_country(brands: Brands) -> None:
    enriched = ClientEnricher(brands).enrich(make_event("open", "open-book", ua=IOS_MAIL,
                                                        ip="203.0.113.0"))  # fmt: skip
    assert (enriched.client, enriched.country) == ("Apple Mail", "")


def test_an_apple_mpp_prefetch_is_apples_proxy_whatever_its_string(brands: Brands) -> None:
    event = make_event("open", "open-book", ua=IOS_MAIL, agent="mpp", bot=True)
    enriched = ClientEnricher(brands).enrich(event)
    assert (enriched.client, enriched.client_type, enriched.device) == (
        "Apple Mail", "proxy", "unknown")  # fmt: skip


def test_only_hits_are_enriched_and_only_once(brands: Brands, geoip: GeoIP) -> None:
    enricher = ClientEnricher(brands, geoip)
    for kind in ("sent", "conversion"):
        event = make_event(kind, "open-book", ua=IOS_MAIL, ip="203.0.113.0")
        assert enricher.enrich(event) is event
    done = enricher.enrich(make_event("open", "open-book", ua=IOS_MAIL, ip="203.0.113.0"))
    assert enricher.enrich(done) is done
    # Nothing to derive: the event is kept as it is (and its payload with it).
    bare = make_event("open", "no-client", ua=IOS_MAIL, ip="")
    assert enricher.enrich(bare) is bare


def test_privacy_keys_are_validated() -> None:
    with pytest.raises(Exception, match=r"privacy.country"):
        parse_brands(BRANDS.replace("privacy = { country = false }",
                                    'privacy = { country = "no" }'))  # fmt: skip
