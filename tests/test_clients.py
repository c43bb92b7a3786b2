"""Client info from user agents: the labelled corpus, the email families, the cache."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.clients import Case, load_corpus
from tests.support import ROOT, environment_without_settings
from tracer.clients import (
    MAX_UA_CHARS,
    NO_CLIENT,
    ClientInfo,
    ClientParser,
    load_client_rules,
    shared_client_parser,
)
from tracer.errors import ConfigurationError
from tracer.events import CLIENT_TYPES, DEVICES

CORPUS = load_corpus()


@pytest.fixture(scope="module")
def parser() -> ClientParser:
    return shared_client_parser()


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: f"{c.source}:{c.expected.client}")
def test_every_labelled_user_agent_is_named_as_labelled(parser: ClientParser, case: Case) -> None:
    assert parser.parse(case.ua) == case.expected


def test_the_corpus_covers_every_client_type_and_device_class() -> None:
    assert {c.expected.client_type for c in CORPUS} == set(CLIENT_TYPES)
    assert {c.expected.device for c in CORPUS} == set(DEVICES)
    email = {c.expected.client for c in CORPUS if c.source == "mail"}
    assert {"Apple Mail", "Outlook", "Gmail", "Yahoo Mail", "Thunderbird"} <= email


def test_uses_the_native_accelerator(parser: ClientParser) -> None:
    # ua-parser-rs is a locked dependency (ua-parser[regex]); the pure-Python resolver
    # would cost about a hundred times more per new string.
    assert parser.backend == "ua-parser-rs"


def test_missing_or_blank_user_agents_say_nothing(parser: ClientParser) -> None:
    assert parser("") == NO_CLIENT
    assert parser("   ") == NO_CLIENT
    assert parser.parse(None) == NO_CLIENT  # type: ignore[arg-type]


def test_an_unknown_string_is_other_with_no_type(parser: ClientParser) -> None:
    browserlike = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SomeNewBrowser/1.0"
    )
    assert parser(browserlike) == ClientInfo("Other", "", "Windows", "desktop")


@pytest.mark.parametrize(
    ("ua", "name"),
    [
        ("Mozilla/5.0 (compatible; BLEXBot/1.0; +http://webmeup-crawler.com/)", "blexbot"),
        ("Acme Intranet Fetcher", "Acme"),  # a generic word: named by its product token
        ("Go-http-client/1.1", "Go-http-client"),
        ("Mozilla/5.0 (compatible; Foobot/1.0)", "Foobot"),
    ],
)
def test_a_robot_is_named_by_its_rule_or_its_own_product_token(
    parser: ClientParser, ua: str, name: str
) -> None:
    info = parser(ua)
    assert (info.client.lower(), info.client_type) == (name.lower(), "robot")


def test_answers_are_cached_per_string_within_a_bound() -> None:
    parser = ClientParser(cache_max=4)
    for build in range(20):
        ua = (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            f"(KHTML, like Gecko) Mobile/{build}"
        )
        assert parser(ua).client == "Apple Mail"
        assert parser(ua) is parser.cache[ua]
    assert 0 < len(parser.cache) <= 4


def test_a_huge_user_agent_is_judged_on_its_first_characters(parser: ClientParser) -> None:
    ua = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"
    assert parser.parse(ua + " x" * MAX_UA_CHARS) == parser.parse(ua)
    # A token past the limit does not count.
    assert parser.parse("a" * MAX_UA_CHARS + " YahooMailProxy").client != "Yahoo Mail"


def test_a_malformed_rules_file_names_the_entry() -> None:
    bad_type = {"rules": [{"name": "x", "pattern": "X", "client": "X", "type": "app"}]}
    with pytest.raises(ConfigurationError, match=r"rules\[0\] \(x\): type: 'app' is not one of"):
        load_client_rules(bad_type)
    bad_regex = {"rules": [{"name": "y", "pattern": "(", "client": "Y", "type": "mail"}]}
    with pytest.raises(ConfigurationError, match=r"rules\[0\] \(y\): pattern: "):
        load_client_rules(bad_regex)
    with pytest.raises(ConfigurationError, match=r"families\.Z: type: 'tv'"):
        load_client_rules({"families": {"Z": ["Z", "tv"]}})


def test_the_shipped_rules_are_valid() -> None:
    rules, families = load_client_rules()
    assert len({rule.name for rule in rules}) == len(rules)
    assert all(kind in CLIENT_TYPES for _, kind in families.values())


def test_tracer_clients_answers_each_line_of_stdin() -> None:
    lines = [
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)",
        "",
        "Mozilla/5.0",
        "curl/8.5.0",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "cli", "clients"],
        input=("\r\n".join(lines) + "\n").encode("latin-1") + b"caf\xe9-agent\n",
        env=environment_without_settings(), cwd=ROOT, capture_output=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines() == [
        "Outlook\tmail\tWindows\tdesktop",
        "\t\t\tunknown",
        "Apple Mail\tproxy\t\tunknown",
        "curl\trobot\t\tunknown",
        "café-agent\trobot\t\tunknown",
    ]
