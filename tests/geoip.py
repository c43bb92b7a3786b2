"""Small MaxMind-format databases for tests, written with mmdb-writer (the real format the
real reader opens; no database is shipped)."""

from __future__ import annotations

from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

# Documentation and benchmark networks, given countries for the tests.
NETWORKS = {
    "203.0.113.0/24": "AU",
    "198.51.100.0/24": "CA",
    "192.0.2.0/24": "DE",
    "73.0.0.0/8": "US",
    "17.0.0.0/8": "US",
    "2001:db8::/32": "FR",
    "2600:1700::/28": "US",
}


def write_country_db(
    path: Path,
    networks: dict[str, str] | None = None,
    *,
    database_type: str = "GeoLite2-Country",
    layout: str = "maxmind",
) -> Path:
    """A country database: `layout` "maxmind" (also DB-IP's: `country.iso_code`) or
    "ipinfo" (`country_code`)."""
    writer = MMDBWriter(6, database_type, languages=["en"], description="Tracer test data",
                        ipv4_compatible=True)  # fmt: skip
    for cidr, code in (networks or NETWORKS).items():
        if layout == "ipinfo":
            record = {"country_code": code, "country": code}
        else:
            record = {"country": {"iso_code": code, "names": {"en": code}},
                      "continent": {"code": "XX"}}  # fmt: skip
        writer.insert_network(IPSet([cidr]), record)
    writer.to_db_file(str(path))
    return path
