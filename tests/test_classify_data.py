"""The shipped data: every file parses, documents its source and date, and does what it says
on its own real samples (the crawler list's user agents, real browsers' user agents)."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import random
import re
import tomllib
from pathlib import Path

import pytest

from bench.classify_speed import REAL_USER_AGENTS
from tracer.classify import HUMAN, Classifier
from tracer.classify.networks import CLOUD_AGENT, OPEN_ONLY_AGENTS, load_shipped_vendors
from tracer.classify.useragents import (
    PLAIN_BROWSER,
    CrawlerList,
    literal_of,
    load_email_rules,
    shared_user_agents,
)
from tracer.events import AGENTS

DATA = Path(__file__).resolve().parent.parent / "tracer" / "data"
CRAWLERS = json.loads((DATA / "crawler-user-agents.json").read_text(encoding="utf-8"))
EMAIL_RULES = tomllib.loads((DATA / "email-user-agents.toml").read_text(encoding="utf-8"))
NETWORKS = tomllib.loads((DATA / "networks.toml").read_text(encoding="utf-8"))
CLOUD = json.loads((DATA / "cloud-networks.json").read_text(encoding="utf-8"))
EXCLUDED = set(EMAIL_RULES["exclude_upstream"])
# Named vendors (scanner, mpp, proxy), as opposed to hosting/cloud address space.
VENDORS = {name: v for name, v in NETWORKS["vendors"].items() if v["agent"] != CLOUD_AGENT}

# Real people's user agents, from the benchmark mix (everything before the image proxies).
PEOPLE = [
    ua
    for _, ua in REAL_USER_AGENTS[
        : REAL_USER_AGENTS.index(
            next(item for item in REAL_USER_AGENTS if "GoogleImageProxy" in item[1])
        )
    ]
]
BROWSERS_AND_MAIL_APPS = PEOPLE
RESIDENTIAL = "93.184.216.34"


def is_office(ua: str) -> bool:
    return "MSOffice" in ua or "Microsoft Office/" in ua


def test_people_sample_is_what_it_claims() -> None:
    assert len(BROWSERS_AND_MAIL_APPS) >= 25
    assert any("Outlook" in ua for ua in BROWSERS_AND_MAIL_APPS)
    assert not any("bot" in ua.lower() for ua in BROWSERS_AND_MAIL_APPS)


class TestNetworks:
    def test_every_vendor_documents_source_and_date(self) -> None:
        assert {
            "apple",
            "microsoft-safelinks",
            "proofpoint",
            "mimecast",
            "barracuda",
            "gmail-image-proxy",
        } <= set(NETWORKS["vendors"])
        for name, vendor in NETWORKS["vendors"].items():
            assert re.fullmatch(r"[a-z0-9-]+", name), name
            assert vendor["agent"] in {*AGENTS, CLOUD_AGENT} - {"human"}, name
            assert len(vendor["source"]) > 40, name
            datetime.date.fromisoformat(vendor["retrieved"])
            assert vendor["cidrs"], name

    def test_every_cidr_is_a_network_address(self) -> None:
        for name, vendor in NETWORKS["vendors"].items():
            for cidr in vendor["cidrs"]:
                network = ipaddress.ip_network(cidr)  # strict: host bits must be zero
                assert network.is_global, (name, cidr)

    def test_the_loader_reads_them_all(self) -> None:
        vendors = load_shipped_vendors()
        assert {name: len(v.cidrs) for name, v in vendors.items()} == {
            **{name: len(p["cidrs"]) for name, p in CLOUD["providers"].items()},
            **{name: len(v["cidrs"]) for name, v in NETWORKS["vendors"].items()},
        }
        assert {"aws", "azure", "google-cloud", "oracle-cloud"} <= {
            name for name, v in vendors.items() if v.agent == CLOUD_AGENT
        }
        assert {v.agent for v in vendors.values() if v.agent in OPEN_ONLY_AGENTS} == {
            "mpp",
            "proxy",
        }

    @pytest.mark.parametrize(
        ("vendor", "agent"),
        [(name, v["agent"]) for name, v in VENDORS.items()],
    )
    def test_first_and_last_address_of_every_range_match(self, vendor: str, agent: str) -> None:
        classifier = Classifier()
        for cidr in NETWORKS["vendors"][vendor]["cidrs"]:
            network = ipaddress.ip_network(cidr)
            for address in (network[0], network[-1]):
                assert f"net:{vendor}" in classifier.open(str(address), "", "GET").reasons
            outside = network[-1] + 1
            reasons = classifier.open(str(outside), "", "GET").reasons
            assert f"net:{vendor}" not in reasons or any(
                outside in ipaddress.ip_network(other)
                for other in NETWORKS["vendors"][vendor]["cidrs"]
            )

    def test_the_table_agrees_with_ipaddress_on_many_addresses(self) -> None:
        """Octet index + bisect must give exactly the vendors `ipaddress` finds, around
        every range boundary and on random addresses (seeded)."""
        networks = [
            (ipaddress.ip_network(cidr), name)
            for name, vendor in VENDORS.items()
            for cidr in vendor["cidrs"]
        ]
        rng = random.Random(20261127)
        addresses = [ipaddress.ip_address(rng.getrandbits(32)) for _ in range(20_000)]
        addresses += [
            ipaddress.ip_address((0x2620_0149 << 96) | rng.getrandbits(96)) for _ in range(2_000)
        ]
        for network, _ in networks:
            for edge in (network[0], network[-1]):
                for step in (-1, 0, 1):
                    with contextlib.suppress(ipaddress.AddressValueError):
                        addresses.append(edge + step)
        classifier = Classifier()
        for address in addresses:
            expected = sorted(
                {
                    f"net:{name}"
                    for network, name in networks
                    if address.version == network.version and address in network
                }
            )
            reasons = classifier.open(str(address), "", "GET").reasons
            assert sorted(r for r in reasons if r.startswith("net:")) == expected, address


class TestEmailRules:
    def test_rules_are_well_formed(self) -> None:
        names = [rule["name"] for rule in EMAIL_RULES["rules"]]
        assert len(names) == len(set(names))
        for rule in EMAIL_RULES["rules"]:
            assert re.fullmatch(r"[a-z0-9-]+", rule["name"])
            re.compile(rule["pattern"])
            assert rule["open"] in AGENTS and rule["click"] in AGENTS
            assert set(rule) <= {"name", "pattern", "open", "click", "fallback"}

    def test_excluded_upstream_names_exist(self) -> None:
        names = {entry["name"] for entry in CRAWLERS["entries"]}
        for source in ("crawlerdetect", "isbot"):
            listed = json.loads((DATA / f"{source}.json").read_text(encoding="utf-8"))
            names |= {f"{source}:{entry['name']}" for entry in listed["entries"]}
        assert EXCLUDED
        assert names >= EXCLUDED

    @pytest.mark.parametrize("ua", BROWSERS_AND_MAIL_APPS)
    def test_no_rule_marks_a_person_as_a_machine_on_an_open(self, ua: str) -> None:
        rules, _ = load_email_rules()
        assert [rule.name for rule in rules if rule.regex.search(ua) and rule.on_open] == []

    @pytest.mark.parametrize("ua", BROWSERS_AND_MAIL_APPS)
    def test_people_are_human(self, ua: str) -> None:
        classifier = Classifier()
        assert classifier.open(RESIDENTIAL, ua, "GET") is HUMAN
        if not is_office(ua):
            assert classifier.click(RESIDENTIAL, ua, "GET", age_s=120.0) is HUMAN

    def test_office_user_agents_check_links_on_clicks(self) -> None:
        """Outlook desktop loads images with the Office user agent (a person, above); on a
        click the same user agent is Office vetting the link."""
        office = [ua for ua in PEOPLE if is_office(ua)]
        assert len(office) == 2
        for ua in office:
            verdict = Classifier().click(RESIDENTIAL, ua, "GET", age_s=120.0)
            assert verdict == ("scanner", ("ua:ms-office-link-check",))


class TestCrawlerList:
    def test_it_documents_source_release_and_date(self) -> None:
        assert CRAWLERS["source"] == "https://github.com/monperrus/crawler-user-agents"
        assert re.match(r"crawler-user-agents \d+\.\d+\.\d+", CRAWLERS["release"])
        datetime.date.fromisoformat(CRAWLERS["retrieved"])
        assert "MIT" in (DATA / "crawler-user-agents.LICENSE").read_text(encoding="utf-8")
        assert len(CRAWLERS["entries"]) > 1000
        names = [entry["name"] for entry in CRAWLERS["entries"]]
        assert len(names) == len(set(names))

    def test_every_upstream_sample_is_machine_traffic(self) -> None:
        classifier = Classifier()
        missed = [
            (entry["name"], ua)
            for entry in CRAWLERS["entries"]
            if entry["name"] not in EXCLUDED
            for ua in entry["instances"]
            if classifier.click(RESIDENTIAL, ua, "GET", age_s=3600.0) is HUMAN
        ]
        assert missed == []
        assert sum(len(e["instances"]) for e in CRAWLERS["entries"]) > 1500

    def test_no_upstream_sample_has_the_plain_browser_shape(self) -> None:
        shaped = [
            ua
            for e in CRAWLERS["entries"]
            for ua in e["instances"]
            if e["name"] not in EXCLUDED and PLAIN_BROWSER.fullmatch(ua)
        ]
        assert shaped == []

    def test_the_index_finds_what_the_regexes_find(self) -> None:
        """The trigram index must name the same (first) entry as searching every
        pattern in list order would, on every sample and on people."""
        crawlers = shared_user_agents().crawlers
        regexes = [(re.compile(e["pattern"]), e["name"]) for e in crawlers.entries]
        samples = [ua for e in CRAWLERS["entries"] for ua in e["instances"]]
        samples += [*PEOPLE, "", "Mozilla/5.0", "xx curl", "BW/1.1", "zzBW/1.1"]
        for ua in samples:
            expected = next((f"ua:{name}" for regex, name in regexes if regex.search(ua)), None)
            found = crawlers.match(ua)
            assert (found.reason if found else None) == expected, ua

    def test_anchors_are_honoured(self) -> None:
        crawlers = CrawlerList(
            [
                {"name": "start", "pattern": "^Start\\/", "tags": []},
                {"name": "end", "pattern": "Tail$", "tags": ["social-preview"]},
                {"name": "scan", "pattern": "Scan-It", "tags": ["scanner"]},
            ]
        )
        assert _pair(crawlers.match("Start/1.0")) == ("bot", "ua:start")
        assert crawlers.match("x Start/1.0") is None
        assert _pair(crawlers.match("the Tail")) == ("preview", "ua:end")
        assert crawlers.match("the Tail end") is None
        assert _pair(crawlers.match("a Scan-It b")) == ("scanner", "ua:scan")

    @pytest.mark.parametrize(
        ("pattern", "literal"),
        [
            ("Googlebot\\/", ("Googlebot/", False, False)),
            ("^curl", ("curl", True, False)),
            ("SSL Labs$", ("SSL Labs", False, True)),
            ("[wW]get", None),
            ("a\\d", None),
            ("AdsBot-Google([^-]|$)", None),
        ],
    )
    def test_literal_extraction(self, pattern: str, literal) -> None:
        assert literal_of(pattern) == literal


def _pair(found) -> tuple[str, str]:
    return (found.agent, found.reason)


def test_data_readme_names_every_file() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for path in DATA.iterdir():
        if path.name != "README.md":
            assert path.name in readme, path.name
