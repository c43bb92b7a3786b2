"""Kind-aware rules: a mail client fetching the pixel is a person reading the mail; on a
click, Outlook desktop's Office user agent is Office vetting the link. And clicks from
hosting/cloud address space soon after sending are scanners'."""

from __future__ import annotations

import pytest

from tracer.brands import parse_brands
from tracer.classify import Classifier, Verdict

RESIDENTIAL = "93.184.216.34"
AWS = "52.1.2.3"  # in AWS's published ranges
AZURE_EOP_OUTSIDE = "40.94.12.7"  # Microsoft's 40.64.0.0/10, outside Exchange Online's list
EOP = "40.107.22.104"  # Exchange Online Protection: a named scanner vendor
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
OUTLOOK_DESKTOP = [
    "Microsoft Office/16.0 (Microsoft Outlook 16.0.12329; Pro), Mozilla/4.0 (compatible; "
    "ms-office; MSOffice 16)",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)",
    "Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
    "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; WOW64; Trident/7.0; .NET4.0C; "
    ".NET4.0E; Microsoft Outlook 16.0.5435; ms-office; MSOffice 16)",
]
MAIL_CLIENTS = [
    "Outlook-iOS/723.4027091.prod.iphone (4.2449.1)",
    "Outlook-Android/2.0",
    "Microsoft Office Outlook/16.100.824 (Mac OS/15.6.1; Desktop; en-US; NonAppStore)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.4.3",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "Mail/3731.600.7 CFNetwork/1408.0.4 Darwin/22.5.0",
    "Postbox 1.0b14 (Windows/2009072715)",
    "The Bat! 4.0.0.22",
]
OFFICE_PROBES = [
    "Microsoft Office Existence Discovery",
    "Microsoft Office Protocol Discovery",
    "Microsoft-WebDAV-MiniRedir/10.0.14393",
]


@pytest.fixture
def classifier() -> Classifier:
    return Classifier()


@pytest.mark.parametrize("ua", OUTLOOK_DESKTOP)
def test_outlook_desktop_is_a_reader_on_opens_and_a_link_check_on_clicks(
    classifier: Classifier, ua: str
) -> None:
    assert classifier.open(RESIDENTIAL, ua, "GET") == ("human", ("no_signal",))
    assert classifier.click(RESIDENTIAL, ua, "GET", age_s=900.0) == (
        "scanner",
        ("ua:ms-office-link-check",),
    )


@pytest.mark.parametrize("ua", MAIL_CLIENTS)
def test_mail_clients_are_people_on_opens_and_clicks(classifier: Classifier, ua: str) -> None:
    assert classifier.open(RESIDENTIAL, ua, "GET") == ("human", ("no_signal",))
    assert classifier.click(RESIDENTIAL, ua, "GET", age_s=900.0) == ("human", ("no_signal",))


@pytest.mark.parametrize("ua", OFFICE_PROBES)
def test_office_link_probes_are_scanners_on_every_kind(classifier: Classifier, ua: str) -> None:
    assert classifier.open(RESIDENTIAL, ua, "GET").agent == "scanner"
    assert classifier.click(RESIDENTIAL, ua, "GET", age_s=900.0).agent == "scanner"


def test_a_robot_claiming_a_mail_client_is_still_a_robot(classifier: Classifier) -> None:
    ua = "Mozilla/5.0 (Windows; U) Gecko/20050716 Thunderbird/1.0.6 - WebCrawler http://x.example/bot"
    assert classifier.open(RESIDENTIAL, ua, "GET").agent == "bot"


class TestHostingTiming:
    @pytest.mark.parametrize(
        ("ip", "provider"), [(AWS, "aws"), (AZURE_EOP_OUTSIDE, "microsoft-registry")]
    )
    def test_a_click_soon_after_sending_is_a_scanner(
        self, classifier: Classifier, ip: str, provider: str
    ) -> None:
        assert classifier.click(ip, CHROME, "GET", age_s=40.0) == Verdict(
            "scanner", (f"cloud-scan:{provider}",)
        )

    def test_a_later_click_is_noted_and_counts_as_a_person(self, classifier: Classifier) -> None:
        assert classifier.click(AWS, CHROME, "GET", age_s=4000.0) == ("human", ("cloud:aws",))
        assert classifier.click(AWS, CHROME, "GET") == ("human", ("cloud:aws",))  # no timing

    def test_opens_and_named_vendors_are_unaffected(self, classifier: Classifier) -> None:
        assert classifier.open(AWS, CHROME, "GET") == ("human", ("no_signal",))
        assert classifier.click(EOP, CHROME, "GET", age_s=40.0) == (
            "scanner",
            ("net:microsoft-safelinks",),
        )
        assert classifier.click(RESIDENTIAL, CHROME, "GET", age_s=40.0) == ("human", ("no_signal",))

    def test_the_brand_sets_the_window_and_may_opt_in(self) -> None:
        brands = parse_brands(
            """
[[brands]]
id = "strict"
name = "Strict"
hosts = ["t.strict.example"]
landing_url = "https://strict.example/"
[brands.bot_policy]
cloud_scan_window_s = 60
cloud_clicks_are_scanners = true

[[brands]]
id = "off"
name = "Off"
hosts = ["t.off.example"]
landing_url = "https://off.example/"
[brands.bot_policy]
cloud_scan_window_s = 0
ignore_vendors = ["aws"]
"""
        )
        strict = Classifier.for_brand(brands.get("strict"))
        assert strict.click(AWS, CHROME, "GET", age_s=30.0) == ("scanner", ("cloud-scan:aws",))
        assert strict.click(AWS, CHROME, "GET", age_s=120.0) == ("scanner", ("cloud:aws",))
        # Window 0 turns the rule off: hosting space is not even looked up
        off = Classifier.for_brand(brands.get("off"))
        assert off.click(AWS, CHROME, "GET", age_s=30.0) == ("human", ("no_signal",))
        assert off.click(AZURE_EOP_OUTSIDE, CHROME, "GET", age_s=30.0) == ("human", ("no_signal",))
        assert off.click(EOP, CHROME, "GET", age_s=30.0).agent == "scanner"

    def test_a_window_out_of_range_is_a_configuration_error(self) -> None:
        from tracer.errors import ConfigurationError

        with pytest.raises(ConfigurationError, match="cloud_scan_window_s"):
            parse_brands(
                """
[[brands]]
id = "bad"
name = "Bad"
hosts = ["t.bad.example"]
landing_url = "https://bad.example/"
[brands.bot_policy]
cloud_scan_window_s = -5
"""
            )
