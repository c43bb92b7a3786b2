"""Countries from a MaxMind-format database built for the test (TRACER_GEOIP_DB)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.geoip import write_country_db
from tests.support import ROOT, environment_without_settings
from tracer.errors import ConfigurationError
from tracer.geo import GeoIP, country_code, open_geoip
from tracer.settings import load_settings


@pytest.fixture(scope="module")
def country_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_country_db(tmp_path_factory.mktemp("geo") / "countries.mmdb")


def test_full_and_truncated_addresses_find_their_country(country_db: Path) -> None:
    geoip = GeoIP(country_db)
    try:
        assert geoip.country("203.0.113.77") == "AU"
        # What the batcher sees on an event whose address was truncated to /24 or /48.
        assert geoip.country("198.51.100.0") == "CA"
        assert geoip.country("73.12.200.1") == "US"
        assert geoip.country("2001:db8:85a3::8a2e:370:7334") == "FR"
        assert geoip.country("2001:db8:85a3::") == "FR"
    finally:
        geoip.close()


def test_reads_with_the_c_extension(country_db: Path) -> None:
    geoip = GeoIP(country_db)
    try:
        assert geoip.backend == "extension"
        assert geoip.database_type == "GeoLite2-Country"
    finally:
        geoip.close()


def test_unknown_private_and_malformed_addresses_have_no_country(country_db: Path) -> None:
    geoip = GeoIP(country_db)
    try:
        assert [geoip.country(ip) for ip in ("8.8.8.8", "10.1.2.3", "::1", "", "not-an-ip",
                                             "999.1.1.1")] == [""] * 6  # fmt: skip
    finally:
        geoip.close()


def test_answers_are_cached_per_address_within_a_bound(country_db: Path) -> None:
    geoip = GeoIP(country_db, cache_max=3)
    try:
        for last in range(10):
            assert geoip.country(f"203.0.113.{last}") == "AU"
        assert 0 < len(geoip.cache) <= 3
    finally:
        geoip.close()


def test_ipinfo_layout_is_read_too(tmp_path: Path) -> None:
    path = write_country_db(tmp_path / "ipinfo.mmdb", {"192.0.2.0/24": "nz"},
                            database_type="ipinfo lite.mmdb", layout="ipinfo")  # fmt: skip
    geoip = GeoIP(path)
    try:
        assert geoip.country("192.0.2.10") == "NZ"
    finally:
        geoip.close()


def test_record_layouts() -> None:
    assert country_code({"country": {"iso_code": "SE"}}) == "SE"
    # Anycast and satellite networks: only the registered country is known.
    assert country_code({"registered_country": {"iso_code": "NL"}}) == "NL"
    assert country_code({"country": {"iso_code": "Sweden"}}) == ""
    assert country_code({"city": {"names": {"en": "Oslo"}}}) == ""
    assert country_code(None) == ""


def test_a_missing_database_is_a_startup_error_naming_the_setting(tmp_path: Path) -> None:
    missing = tmp_path / "GeoLite2-Country.mmdb"
    with pytest.raises(ConfigurationError, match=r"TRACER_GEOIP_DB: .*does not exist"):
        load_settings({"TRACER_GEOIP_DB": str(missing)})
    with pytest.raises(ConfigurationError, match=r"TRACER_GEOIP_DB: .*does not exist"):
        GeoIP(missing)
    with pytest.raises(ConfigurationError, match=r"TRACER_GEOIP_DB: .*is not a file"):
        GeoIP(tmp_path)


def test_a_file_that_is_not_a_database_is_a_startup_error(tmp_path: Path) -> None:
    bogus = tmp_path / "countries.mmdb"
    bogus.write_bytes(b"this is not a MaxMind database\n" * 100)
    with pytest.raises(ConfigurationError, match="is not a MaxMind-format database"):
        GeoIP(bogus)


def test_a_database_without_countries_is_refused(tmp_path: Path) -> None:
    path = write_country_db(tmp_path / "asn.mmdb", database_type="GeoLite2-ASN")
    with pytest.raises(ConfigurationError, match="'GeoLite2-ASN' database, which holds no country"):
        GeoIP(path)


def test_without_the_setting_there_is_no_database() -> None:
    assert open_geoip(None) is None
    assert load_settings({}).geoip_db is None


def test_config_check_and_tracer_up_refuse_a_bad_database(tmp_path: Path) -> None:
    asn = write_country_db(tmp_path / "asn.mmdb", database_type="GeoLite2-ASN")
    env = {**environment_without_settings(), "TRACER_DATA_DIR": str(tmp_path / "var"),
           "TRACER_GEOIP_DB": str(asn)}  # fmt: skip
    for command in (["config", "check"], ["up"]):
        result = subprocess.run([sys.executable, "-m", "cli", *command], env=env, cwd=ROOT,
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert result.returncode == 1, command
        assert "TRACER_GEOIP_DB:" in result.stderr and "holds no country" in result.stderr
    # Nothing was started: no instance recorded.
    assert not (tmp_path / "var" / "instance.json").exists()
