"""Country of a client address, from a MaxMind-format database the operator provides
(`TRACER_GEOIP_DB`: GeoLite2 Country or City, DB-IP Lite, IPinfo Lite; see
docs/clients.md for where to get one and its licence). Tracer ships none.

The lookup wants the full address: it runs before the address is truncated for storage,
and only the two-letter country code is kept. The database is memory-mapped and read
with maxminddb's C extension; answers are remembered per address in a bounded dict.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import maxminddb

from tracer.errors import ConfigurationError

logger = logging.getLogger(__name__)

CACHE_MAX_ENTRIES = 65_536
# Databases of the same format that hold no country: a clear error rather than empty
# countries forever.
_NOT_COUNTRY = re.compile(r"(?i)\b(?:ASN|ISP|Domain|Connection-Type|Anonymous-IP)\b")
_ISO_CODE = re.compile(r"[A-Z]{2}")
SETTING = "TRACER_GEOIP_DB"


class GeoIP:
    """Address -> ISO 3166-1 alpha-2 country code ("" when the database has none)."""

    def __init__(self, path: Path | str, *, cache_max: int = CACHE_MAX_ENTRIES) -> None:
        """Opens and checks the database; raises `ConfigurationError` naming the setting
        when the file is missing, unreadable, not a MaxMind DB or holds no country."""
        self.path = Path(path)
        self._reader = _open_reader(self.path)
        metadata = self._reader.metadata()
        self.database_type: str = metadata.database_type
        self.build_epoch: int = metadata.build_epoch
        # "extension": maxminddb's C reader (its wheels ship it); "python" otherwise.
        self.backend = (
            "extension" if type(self._reader).__module__.endswith("extension") else "python"
        )
        if _NOT_COUNTRY.search(self.database_type):
            self._reader.close()
            raise ConfigurationError(
                f"{SETTING}: {self.path} is a {self.database_type!r} database, which holds "
                "no country: use a country or city database (GeoLite2-Country, "
                "DB-IP IP-to-Country Lite, ...)"
            )
        self.cache_max = cache_max
        self.cache: dict[str, str] = {}

    def country(self, ip: str) -> str:
        found = self.cache.get(ip)
        if found is not None:
            return found
        code = self.lookup(ip)
        cache = self.cache
        if len(cache) >= self.cache_max:
            cache.clear()
        cache[ip] = code
        return code

    def lookup(self, ip: str) -> str:
        """The uncached answer: "" for an empty, malformed, private or unknown address."""
        if not ip:
            return ""
        try:
            record = self._reader.get(ip)
        except ValueError:
            return ""
        return country_code(record)

    def close(self) -> None:
        self._reader.close()

    def describe(self) -> str:
        return f"{self.database_type} ({self.path})"


def country_code(record: Any) -> str:
    """The country of a record, in the layouts of MaxMind and DB-IP (`country.iso_code`,
    else the network's `registered_country`) and of IPinfo (`country_code`)."""
    if not isinstance(record, dict):
        return ""
    for key in ("country", "registered_country"):
        entry = record.get(key)
        if isinstance(entry, dict):
            code = entry.get("iso_code")
            if isinstance(code, str) and _ISO_CODE.fullmatch(code):
                return code
    code = record.get("country_code")
    if isinstance(code, str) and _ISO_CODE.fullmatch(code.upper()):
        return code.upper()
    return ""


def _open_reader(path: Path) -> maxminddb.Reader:
    if not path.is_file():
        reason = "is not a file" if path.exists() else "does not exist"
        raise ConfigurationError(f"{SETTING}: {path} {reason} (a MaxMind-format .mmdb file)")
    try:
        return maxminddb.open_database(str(path), maxminddb.MODE_AUTO)
    except (maxminddb.InvalidDatabaseError, ValueError) as exc:
        raise ConfigurationError(
            f"{SETTING}: {path} is not a MaxMind-format database ({exc})"
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"{SETTING}: cannot read {path} ({exc.strerror})") from None


def open_geoip(path: Path | str | None) -> GeoIP | None:
    """The configured database, or None when `TRACER_GEOIP_DB` is unset."""
    if path is None or str(path) == "":
        return None
    geoip = GeoIP(path)
    logger.info("Country lookups from %s", geoip.describe())
    return geoip


def check_geoip(path: Path | str | None) -> None:
    """Open and close the configured database: `tracer up` and `tracer config check`
    fail on a bad one before any role starts."""
    geoip = open_geoip(path)
    if geoip is not None:
        geoip.close()
