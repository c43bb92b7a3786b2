"""The classifier's verdicts on real user agents and real vendor addresses.

Every case names the request as the edge would see it and the exact verdict expected:
the agent and every reason code, in precedence order.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracer.brands import parse_brands
from tracer.classify import HUMAN, Classifier, Verdict
from tracer.classify.bursts import PRUNE_EVERY_S, WINDOW_S, BurstTracker
from tracer.classify.useragents import CACHE_MAX_ENTRIES, UserAgents, shared_user_agents
from tracer.events import AGENTS

RESIDENTIAL = "93.184.216.34"  # not in any shipped vendor range
RESIDENTIAL_V6 = "2001:4860:7:30e::f5"

CHROME_WIN = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
FIREFOX_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
FIREFOX_ANDROID = "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0"
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Safari/605.1.15"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
APPLE_MAIL_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Mobile/15E148"
)
OUTLOOK_DESKTOP = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"
OUTLOOK_IOS = "Outlook-iOS/723.4027091.prod.iphone (4.2449.1)"
THUNDERBIRD = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.4.3"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
MPP = "Mozilla/5.0"
SLACKBOT = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
IMESSAGE = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like "
    "Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0"
)
LINKEDIN = "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)"
TEAMS = (
    "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 "
    "skype-url-preview@microsoft.com"
)
BINGPREVIEW = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/116.0.1938.76 Safari/537.36 Edg/116.0.1938.76 BingPreview/1.0b"
)
MS_OFFICE = "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"
CURL = "curl/8.5.0"
PYTHON_REQUESTS = "python-requests/2.32.3"
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.6099.71 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

# Addresses inside the shipped vendor lists (and what publishes them).
APPLE = "17.58.63.100"  # Apple 17.0.0.0/8: MPP relays
APPLE_V6 = "2620:149:a44::12"
GOOGLE_PROXY = "66.249.84.10"  # google-proxy-66-249-84-10.google.com
SAFELINKS = "40.107.22.104"  # Exchange Online Protection 40.107.0.0/16
SAFELINKS_V6 = "2a01:111:f403:c201::1"
PROOFPOINT = "148.163.150.10"
BARRACUDA = "209.222.82.50"
MIMECAST = "205.139.110.30"


def v(agent: str, *reasons: str) -> Verdict:
    return Verdict(agent, tuple(reasons))


@pytest.fixture
def classifier() -> Classifier:
    return Classifier()


OPENS = [
    # People reading in a mail client or webmail that loads images itself
    (RESIDENTIAL, CHROME_WIN, v("human", "no_signal")),
    (RESIDENTIAL, FIREFOX_WIN, v("human", "no_signal")),
    (RESIDENTIAL, SAFARI_MAC, v("human", "no_signal")),
    (RESIDENTIAL, APPLE_MAIL_IPHONE, v("human", "no_signal")),
    (RESIDENTIAL, OUTLOOK_DESKTOP, v("human", "no_signal")),
    (RESIDENTIAL, OUTLOOK_IOS, v("human", "no_signal")),
    (RESIDENTIAL, THUNDERBIRD, v("human", "no_signal")),
    (RESIDENTIAL_V6, CHROME_ANDROID, v("human", "no_signal")),
    # Image proxies: real opens, fetched on the reader's behalf
    (GOOGLE_PROXY, GMAIL_PROXY, v("proxy", "net:gmail-image-proxy", "ua:gmail-image-proxy")),
    (RESIDENTIAL, GMAIL_PROXY, v("proxy", "ua:gmail-image-proxy")),
    (RESIDENTIAL, YAHOO_PROXY, v("proxy", "ua:yahoo-mail-proxy")),
    # Apple Mail Privacy Protection
    (APPLE, MPP, v("mpp", "net:apple", "ua:apple-mpp")),
    (APPLE, APPLE_MAIL_IPHONE, v("mpp", "net:apple")),
    (APPLE_V6, APPLE_MAIL_IPHONE, v("mpp", "net:apple")),
    (f"::ffff:{APPLE}", MPP, v("mpp", "net:apple", "ua:apple-mpp")),
    (RESIDENTIAL, MPP, v("mpp", "ua:apple-mpp")),
    (APPLE, "", v("mpp", "net:apple", "no_ua")),
    # Security gateways loading the pixel while vetting the message
    (SAFELINKS, CHROME_WIN, v("scanner", "net:microsoft-safelinks")),
    (SAFELINKS_V6, CHROME_WIN, v("scanner", "net:microsoft-safelinks")),
    (PROOFPOINT, CHROME_WIN, v("scanner", "net:proofpoint")),
    (MIMECAST, "", v("scanner", "net:mimecast", "no_ua")),
    (RESIDENTIAL, BINGPREVIEW, v("scanner", "ua:bingpreview")),
    # Previews, scripts and crawlers
    (RESIDENTIAL, SLACKBOT, v("preview", "ua:slackbot")),
    (RESIDENTIAL, CURL, v("bot", "ua:curl")),
    (RESIDENTIAL, GOOGLEBOT, v("bot", "ua:googlebot")),
    (RESIDENTIAL, "", v("bot", "no_ua")),
]


@pytest.mark.parametrize(("ip", "ua", "expected"), OPENS)
def test_open_verdicts(classifier: Classifier, ip: str, ua: str, expected: Verdict) -> None:
    assert classifier.open(ip, ua, "GET") == expected


CLICKS = [
    # People clicking in a browser
    (RESIDENTIAL, CHROME_WIN, v("human", "no_signal")),
    (RESIDENTIAL, CHROME_ANDROID, v("human", "no_signal")),
    (RESIDENTIAL, FIREFOX_WIN, v("human", "no_signal")),
    (RESIDENTIAL, FIREFOX_ANDROID, v("human", "no_signal")),
    (RESIDENTIAL, SAFARI_MAC, v("human", "no_signal")),
    (RESIDENTIAL, SAFARI_IPHONE, v("human", "no_signal")),
    (RESIDENTIAL_V6, SAFARI_IPHONE, v("human", "no_signal")),
    # Apple's network says nothing about a click: a person at Apple, or a relay user
    (APPLE, SAFARI_IPHONE, v("human", "no_signal")),
    # Security gateways following every link
    (SAFELINKS, CHROME_WIN, v("scanner", "net:microsoft-safelinks")),
    (PROOFPOINT, FIREFOX_WIN, v("scanner", "net:proofpoint")),
    (BARRACUDA, CHROME_WIN, v("scanner", "net:barracuda")),
    (MIMECAST, CHROME_WIN, v("scanner", "net:mimecast")),
    (RESIDENTIAL, BINGPREVIEW, v("scanner", "ua:bingpreview")),
    (RESIDENTIAL, MS_OFFICE, v("scanner", "ua:ms-office-link-check")),
    (SAFELINKS, BINGPREVIEW, v("scanner", "net:microsoft-safelinks", "ua:bingpreview")),
    # Link previews in chat apps
    (RESIDENTIAL, SLACKBOT, v("preview", "ua:slackbot")),
    (RESIDENTIAL, IMESSAGE, v("preview", "ua:imessage-preview")),
    (RESIDENTIAL, TEAMS, v("preview", "ua:skype-teams-preview")),
    (RESIDENTIAL, LINKEDIN, v("preview", "ua:linkedinbot")),  # not its Apache-HttpClient
    # Proxies do not click: their user agent on a click is a robot's
    (GOOGLE_PROXY, GMAIL_PROXY, v("bot", "ua:gmail-image-proxy")),
    (RESIDENTIAL, YAHOO_PROXY, v("bot", "ua:yahoo-mail-proxy")),
    (APPLE, MPP, v("bot", "ua:apple-mpp")),
    # Scripts, headless browsers, crawlers, nothing at all
    (RESIDENTIAL, CURL, v("bot", "ua:curl")),
    (RESIDENTIAL, PYTHON_REQUESTS, v("bot", "ua:python-requests")),
    (RESIDENTIAL, HEADLESS, v("bot", "ua:headless-chrome")),
    (RESIDENTIAL, GOOGLEBOT, v("bot", "ua:googlebot")),
    (RESIDENTIAL, "", v("bot", "no_ua")),
    (RESIDENTIAL, "   ", v("bot", "no_ua")),
]


@pytest.mark.parametrize(("ip", "ua", "expected"), CLICKS)
def test_click_verdicts(classifier: Classifier, ip: str, ua: str, expected: Verdict) -> None:
    assert classifier.click(ip, ua, "GET", age_s=3600.0) == expected


def test_a_person_is_human_with_no_reasons(classifier: Classifier) -> None:
    verdict = classifier.click(RESIDENTIAL, CHROME_WIN, "GET", age_s=600.0)
    assert verdict is HUMAN
    assert verdict == ("human", ("no_signal",))


def test_head_is_a_link_checker(classifier: Classifier) -> None:
    assert classifier.click(RESIDENTIAL, CHROME_WIN, "HEAD") == v("scanner", "head")
    assert classifier.click(RESIDENTIAL, CHROME_WIN, "head") == v("scanner", "head")
    assert classifier.open(RESIDENTIAL, CHROME_WIN, "HEAD") == v("bot", "head")
    # A stronger signal keeps its agent; the HEAD still shows in the reasons
    assert classifier.click(RESIDENTIAL, CURL, "HEAD") == v("bot", "ua:curl", "head")


def test_canary_link_is_always_a_scanner(classifier: Classifier) -> None:
    assert classifier.click(RESIDENTIAL, CHROME_WIN, "GET", canary=True) == v("scanner", "canary")
    assert classifier.click(RESIDENTIAL, SLACKBOT, "GET", canary=True) == v(
        "scanner", "canary", "ua:slackbot"
    )


def test_a_click_sooner_than_the_brand_delay_is_a_scanner(classifier: Classifier) -> None:
    assert classifier.min_click_delay_s == 2.0
    assert classifier.click(RESIDENTIAL, CHROME_WIN, "GET", age_s=0.4) == v("scanner", "fast_click")
    assert classifier.click(RESIDENTIAL, CHROME_WIN, "GET", age_s=1.99) == v(
        "scanner", "fast_click"
    )
    assert classifier.click(RESIDENTIAL, CHROME_WIN, "GET", age_s=2.0) is HUMAN
    assert classifier.click(RESIDENTIAL, CHROME_WIN, "GET", age_s=None) is HUMAN
    # A link "made in the future" is clock skew, not evidence
    assert classifier.click(RESIDENTIAL, CHROME_WIN, "GET", age_s=-5.0) is HUMAN
    assert classifier.click(RESIDENTIAL, CHROME_WIN, "GET", age_s=float("nan")) is HUMAN


def test_precedence_orders_the_reasons_and_picks_the_agent(classifier: Classifier) -> None:
    verdict = classifier.click(
        SAFELINKS, SLACKBOT, "HEAD", age_s=0.1, canary=True, message_id="m-prec", link=9, now=5.0
    )
    assert verdict == v(
        "scanner", "canary", "net:microsoft-safelinks", "ua:slackbot", "head", "fast_click"
    )
    # mpp outranks proxy, proxy outranks a robot's user agent
    assert classifier.open(APPLE, GMAIL_PROXY, "GET") == v(
        "mpp", "net:apple", "ua:gmail-image-proxy"
    )
    assert classifier.open(GOOGLE_PROXY, CURL, "GET") == v(
        "proxy", "net:gmail-image-proxy", "ua:curl"
    )
    # scanners outrank mpp, network scanners outrank user-agent scanners
    assert classifier.open(MIMECAST, MPP, "GET") == v("scanner", "net:mimecast", "ua:apple-mpp")
    assert classifier.open(APPLE, BINGPREVIEW, "GET") == v("scanner", "ua:bingpreview", "net:apple")
    assert classifier.click(PROOFPOINT, BINGPREVIEW, "GET") == v(
        "scanner", "net:proofpoint", "ua:bingpreview"
    )
    # proxy outranks preview, preview outranks bot
    assert classifier.open(GOOGLE_PROXY, SLACKBOT, "GET") == v(
        "proxy", "net:gmail-image-proxy", "ua:slackbot"
    )
    # head outranks fast_click, fast_click outranks burst, burst outranks no_ua
    for link in range(3):
        last = classifier.click(RESIDENTIAL, "", "HEAD", 0.5, False, "m-order", link, 50.0)
    assert last == v("scanner", "head", "fast_click", "burst", "no_ua")
    # bot outranks head, head outranks no_ua
    assert classifier.click(RESIDENTIAL, "", "HEAD") == v("scanner", "head", "no_ua")


def test_verdicts_do_not_depend_on_call_order() -> None:
    first, second = Classifier(), Classifier()
    requests = [(SAFELINKS, CURL), (APPLE, MPP), (RESIDENTIAL, GOOGLEBOT), (PROOFPOINT, "")]
    forward = [first.open(ip, ua, "GET") for ip, ua in requests]
    backward = [second.open(ip, ua, "GET") for ip, ua in reversed(requests)]
    assert forward == list(reversed(backward))


class TestBurst:
    def test_three_links_of_one_message_within_two_seconds(self, classifier: Classifier) -> None:
        hits = [
            classifier.click(RESIDENTIAL, CHROME_WIN, "GET", 60.0, False, "m-1", link, now)
            for link, now in ((0, 100.0), (1, 100.4), (2, 100.9), (3, 101.2))
        ]
        assert hits == [HUMAN, HUMAN, v("scanner", "burst"), v("scanner", "burst")]

    def test_a_reader_clicking_twice_is_not_a_burst(self, classifier: Classifier) -> None:
        hits = [
            classifier.click(RESIDENTIAL, CHROME_WIN, "GET", 60.0, False, "m-2", link, now)
            for link, now in ((0, 100.0), (0, 100.3), (1, 100.6), (0, 100.9), (1, 101.0))
        ]
        assert hits == [HUMAN] * 5

    def test_links_spread_over_time_are_not_a_burst(self, classifier: Classifier) -> None:
        hits = [
            classifier.click(RESIDENTIAL, CHROME_WIN, "GET", 60.0, False, "m-3", link, now)
            for link, now in ((0, 100.0), (1, 101.5), (2, 102.5), (3, 104.0))
        ]
        assert hits == [HUMAN] * 4

    def test_messages_are_counted_apart(self, classifier: Classifier) -> None:
        hits = [
            classifier.click(RESIDENTIAL, CHROME_WIN, "GET", 60.0, False, f"m-4-{i}", i, 100.0)
            for i in range(5)
        ]
        assert hits == [HUMAN] * 5

    def test_memory_is_bounded(self) -> None:
        tracker = BurstTracker(max_messages=100)
        for i in range(10_000):
            tracker.observe(f"m{i}", 0, 1000.0 + i * 0.001)
            assert len(tracker) <= 100
        # Still detects a burst afterwards
        assert [tracker.observe("last", link, 2000.0) for link in range(3)] == [False, False, True]

    def test_expired_windows_leave_below_the_cap(self) -> None:
        # 100 first clicks a second on distinct messages for five minutes: the tracker
        # keeps about the last PRUNE_EVERY_S + WINDOW_S seconds' worth, not 30,000.
        tracker = BurstTracker()
        for i in range(30_000):
            tracker.observe(f"m{i}", 0, 1000.0 + i * 0.01)
        assert len(tracker) <= 100 * (PRUNE_EVERY_S + WINDOW_S) + 1
        assert [tracker.observe("late", link, 1300.0) for link in range(3)] == [False, False, True]


BRANDS = """
[[brands]]
id = "alpha"
name = "Alpha Jobs"
hosts = ["t.alpha.example"]
landing_url = "https://alpha.example/"
[brands.bot_policy]
min_click_delay_s = 5.0
ignore_vendors = ["barracuda"]
[brands.bot_policy.networks]
alpha-gateway = ["198.51.100.0/24", "2001:db8:a::/48"]
apple = ["203.0.113.0/25"]

[[brands]]
id = "beta"
name = "Beta Careers"
hosts = ["t.beta.example"]
landing_url = "https://beta.example/"
[brands.bot_policy]
min_click_delay_s = 5.0
ignore_vendors = ["barracuda"]
[brands.bot_policy.networks]
alpha-gateway = ["198.51.100.0/24", "2001:db8:a::/48"]
apple = ["203.0.113.0/25"]

[[brands]]
id = "gamma"
name = "Gamma Staffing"
hosts = ["t.gamma.example"]
landing_url = "https://gamma.example/"
"""


@pytest.fixture(scope="module")
def brands():
    return parse_brands(BRANDS)


class TestBrands:
    def test_added_networks_are_scanners(self, brands) -> None:
        alpha = Classifier.for_brand(brands.get("alpha"))
        assert alpha.click("198.51.100.7", CHROME_WIN, "GET") == v("scanner", "net:alpha-gateway")
        assert alpha.click("2001:db8:a::9", CHROME_WIN, "GET") == v("scanner", "net:alpha-gateway")
        assert Classifier().click("198.51.100.7", CHROME_WIN, "GET") is HUMAN

    def test_cidrs_added_to_a_shipped_vendor_take_its_agent(self, brands) -> None:
        alpha = Classifier.for_brand(brands.get("alpha"))
        assert alpha.open("203.0.113.5", APPLE_MAIL_IPHONE, "GET") == v("mpp", "net:apple")
        assert alpha.open(APPLE, APPLE_MAIL_IPHONE, "GET") == v("mpp", "net:apple")

    def test_an_ignored_vendor_is_not_applied(self, brands) -> None:
        alpha = Classifier.for_brand(brands.get("alpha"))
        assert alpha.click(BARRACUDA, CHROME_WIN, "GET") is HUMAN
        assert Classifier.for_brand(brands.get("gamma")).click(BARRACUDA, CHROME_WIN, "GET") == v(
            "scanner", "net:barracuda"
        )

    def test_the_brand_click_delay_applies(self, brands) -> None:
        alpha = Classifier.for_brand(brands.get("alpha"))
        gamma = Classifier.for_brand(brands.get("gamma"))
        assert alpha.click(RESIDENTIAL, CHROME_WIN, "GET", age_s=4.0) == v("scanner", "fast_click")
        assert gamma.click(RESIDENTIAL, CHROME_WIN, "GET", age_s=4.0) is HUMAN

    def test_brands_with_the_same_policy_share_one_instance(self, brands) -> None:
        alpha = Classifier.for_brand(brands.get("alpha"))
        assert Classifier.for_brand(brands.get("beta")) is alpha
        assert Classifier.for_brand(brands.get("alpha")) is alpha
        gamma = Classifier.for_brand(brands.get("gamma"))
        assert gamma is not alpha
        assert alpha.user_agents is gamma.user_agents is shared_user_agents()


class TestUnsubscribePage:
    def test_a_person_on_the_page(self, classifier: Classifier) -> None:
        assert classifier.page(RESIDENTIAL, SAFARI_IPHONE, "GET") is HUMAN
        assert classifier.page(RESIDENTIAL, SAFARI_IPHONE, "POST") is HUMAN

    def test_scanners_opening_the_page(self, classifier: Classifier) -> None:
        assert classifier.page(MIMECAST, CHROME_WIN, "GET") == v("scanner", "net:mimecast")
        assert classifier.page(RESIDENTIAL, CURL, "GET") == v("bot", "ua:curl")
        assert classifier.page(RESIDENTIAL, "", "GET") == v("bot", "no_ua")

    def test_one_click_posts_from_mail_providers_count(self, classifier: Classifier) -> None:
        # RFC 8058: the mailbox provider's server POSTs for the reader
        assert classifier.page(RESIDENTIAL, PYTHON_REQUESTS, "POST") is HUMAN
        assert classifier.page(RESIDENTIAL, "", "POST") is HUMAN
        assert classifier.page(PROOFPOINT, "", "POST") == v("scanner", "net:proofpoint")


class TestGarbage:
    @pytest.mark.parametrize(
        "ip",
        [
            "",
            "garbage",
            "999.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.4 ",
            "01.2.3.4x",
            "::zz",
            "1.2.3.4\x00",
            "[::1]",
            "17.58.63.100/8",
            "fe80::1%eth0",
            "ø" * 50,
        ],
    )
    def test_unparsable_addresses_are_in_no_network(self, classifier: Classifier, ip) -> None:
        assert classifier.click(ip, CHROME_WIN, "GET") is HUMAN
        assert classifier.open(ip, MPP, "GET") == v("mpp", "ua:apple-mpp")

    def test_very_long_user_agents(self, classifier: Classifier) -> None:
        # No browser sends 200,000 characters, nor anything of this shape
        assert classifier.click(RESIDENTIAL, "A" * 200_000, "GET").agent == "bot"
        # Judged on the first 1,024 characters, like every other string
        assert classifier.click(RESIDENTIAL, CURL + "x" * 100_000, "GET") == v("bot", "ua:curl")
        tail = classifier.click(RESIDENTIAL, "x" * 5000 + "curl/8.5.0", "GET")
        assert tail.agent == "bot" and "ua:curl" not in tail.reasons
        long_chrome = CHROME_WIN + " Extension/1.0" * 200
        assert classifier.click(RESIDENTIAL, long_chrome, "GET") is HUMAN

    def test_odd_user_agents(self, classifier: Classifier) -> None:
        assert classifier.click(RESIDENTIAL, "\x00\x01\xff\u202e", "GET") == v(
            "bot", "ua:not-a-browser"
        )
        assert classifier.click(RESIDENTIAL, CURL.encode(), "GET") == v("bot", "ua:curl")
        assert classifier.click(RESIDENTIAL, None, "GET") == v("bot", "no_ua")  # type: ignore[arg-type]

    def test_wrong_types_never_raise(self, classifier: Classifier) -> None:
        verdict = classifier.click(
            None, ["not", "a", "ua"], None, age_s="soon", canary=1, message_id=None, link="x"
        )  # type: ignore[arg-type]
        assert verdict == v("scanner", "canary", "no_ua")
        assert classifier.open(42, {"ua": 1}, b"HEAD") == v("bot", "no_ua")  # type: ignore[arg-type]
        assert classifier.page(object(), CURL, 3) == v("bot", "ua:curl")  # type: ignore[arg-type]

    @settings(max_examples=300, deadline=None)
    @given(
        ip=st.text(max_size=60),
        ua=st.text(max_size=400),
        method=st.sampled_from(["GET", "HEAD", "POST", "get", "", "BREW"]) | st.text(max_size=8),
        age=st.none() | st.floats(allow_nan=True, allow_infinity=True),
        message=st.text(max_size=10),
        link=st.integers(-5, 5),
    )
    def test_any_text_gets_a_verdict(self, ip, ua, method, age, message, link) -> None:
        classifier = Classifier()
        for verdict in (
            classifier.click(ip, ua, method, age, False, message, link, 10.0),
            classifier.open(ip, ua, method, age),
            classifier.page(ip, ua, method),
        ):
            assert isinstance(verdict, Verdict)
            assert verdict.agent in AGENTS
            assert isinstance(verdict.reasons, tuple)
            assert all(isinstance(r, str) and r for r in verdict.reasons)
            assert verdict.reasons  # every verdict says why
            assert (verdict.agent == "human") == (verdict.reasons == ("no_signal",))


def test_the_user_agent_cache_is_bounded() -> None:
    shared = shared_user_agents()
    small = UserAgents(shared.rules + shared.fallback_rules, shared.crawlers, cache_max=50)
    for i in range(1000):
        small.lookup(f"{CHROME_WIN} build/{i}")
        assert len(small.cache) <= 50
    assert small.lookup(CURL)[1].reason == "ua:curl"
    assert shared.cache_max == CACHE_MAX_ENTRIES == 65_536


def test_the_cache_answers_what_classification_does(classifier: Classifier) -> None:
    fresh = [classifier.click(RESIDENTIAL, ua, "GET") for ua in (CURL, GOOGLEBOT, CHROME_WIN)]
    cached = [classifier.click(RESIDENTIAL, ua, "GET") for ua in (CURL, GOOGLEBOT, CHROME_WIN)]
    assert fresh == cached == [v("bot", "ua:curl"), v("bot", "ua:googlebot"), HUMAN]
