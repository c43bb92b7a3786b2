"""MaxMind-format country databases for tests and benchmarks, written with mmdb-writer (a
dev dependency): the real format, read by the real reader. Tracer ships no database."""

from __future__ import annotations

import ipaddress
import random
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


def world_networks(count: int = 20_000, seed: int = 3) -> dict[str, str]:
    """About `count` IPv4 networks (/16 to /24) spread over the address space, each with a
    country, plus `NETWORKS`: a search tree about as deep as a real country database's."""
    rng = random.Random(seed)
    countries = ["US", "DE", "FR", "GB", "CA", "AU", "NL", "SE", "IN", "BR", "JP", "ES", "IT"]
    networks: dict[str, str] = {}
    while len(networks) < count:
        prefix = rng.choice((16, 18, 20, 22, 24))
        address = rng.getrandbits(32) >> (32 - prefix) << (32 - prefix)
        network = ipaddress.ip_network((address, prefix))
        if network.is_global:
            networks[str(network)] = rng.choice(countries)
    # Drop those that overlap a fixed one, so the fixed answers stay what tests expect.
    fixed = [ipaddress.ip_network(cidr) for cidr in NETWORKS if ":" not in cidr]
    kept = {cidr: code for cidr, code in networks.items()
            if not any(ipaddress.ip_network(cidr).overlaps(f) for f in fixed)}  # fmt: skip
    return {**kept, **NETWORKS}
