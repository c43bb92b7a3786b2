"""Who sends the benchmark's requests: user agents and client addresses, drawn from a mix
that looks like a job board's email traffic.

Real traffic has a few dominant browsers in many versions and a long tail (in-app browsers
carry build numbers and device models), so user agents are templates whose fields vary: the
edge's per-string user-agent cache sees a realistic number of distinct strings, not a handful.
Addresses come from residential ISP blocks for people and from each vendor's own ranges for
proxies, scanners and crawlers; the edge sees them in `X-Forwarded-For`.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field

RESIDENTIAL = ("73.0.0.0/8", "24.0.0.0/8", "98.0.0.0/8", "174.192.0.0/10", "2600:1700::/28")
GOOGLE_PROXY = ("66.249.80.0/20", "66.102.0.0/20")
GOOGLEBOT = ("66.249.64.0/20",)
APPLE = ("17.0.0.0/8", "104.28.0.0/16")
MICROSOFT = ("40.94.0.0/16", "52.100.0.0/14")
YAHOO = ("98.136.0.0/14",)
CLOUD = ("3.0.0.0/9", "54.144.0.0/12", "95.216.0.0/16", "34.64.0.0/10")

CHROME = tuple(str(major) for major in range(120, 132))
IOS = ("16_7_10", "17_5_1", "17_6_1", "18_0", "18_0_1", "18_1", "18_1_1", "18_2")
SAFARI = ("16.6", "17.5", "17.6", "18.0", "18.1", "18.2")
ANDROID = ("10", "13", "14", "15")
SAMSUNG_MODELS = ("SM-S918B", "SM-S911U", "SM-A546B", "SM-A155F", "SM-G991B", "SM-S928U")
OUTLOOK_BUILDS = ("16.0.17928", "16.0.18025", "16.0.18129", "16.0.18227", "16.0.14332")
IPHONES = ("14,5", "14,7", "15,2", "15,4", "16,1", "16,2", "17,1", "17,3")


@dataclass(frozen=True)
class Agent:
    """A user-agent template (`{field}`s filled from `choices`), where its requests come
    from, and its weight in the mix (percent)."""

    template: str
    networks: tuple[str, ...]
    weight: int
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def user_agent(self, rng: random.Random) -> str:
        values = {name: rng.choice(options) for name, options in self.choices.items()}
        return self.template.format(**values)

    def address(self, rng: random.Random) -> str:
        network = ipaddress.ip_network(rng.choice(self.networks))
        return str(network[rng.randrange(1, min(network.num_addresses - 1, 2**32))])


def _build_numbers(low: int, high: int) -> tuple[str, ...]:
    return tuple(str(n) for n in range(low, high))


CHROME_WIN = Agent(
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36",
    RESIDENTIAL, 22, {"v": CHROME},
)  # fmt: skip
IOS_SAFARI = Agent(
    "Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/{v} Mobile/15E148 Safari/604.1",
    RESIDENTIAL, 18, {"ios": IOS, "v": SAFARI},
)  # fmt: skip
IOS_MAIL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
APPLE_MAIL = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook {build}; Pro)"

CLICK_AGENTS: tuple[Agent, ...] = (
    # People (about 85 %): desktop and mobile browsers, mail apps' in-app browsers.
    CHROME_WIN,
    IOS_SAFARI,
    Agent(
        "Mozilla/5.0 (Linux; Android {android}; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/{v}.0.0.0 Mobile Safari/537.36",
        RESIDENTIAL, 14, {"android": ANDROID, "v": CHROME},
    ),
    Agent(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/{v} Safari/605.1.15",
        RESIDENTIAL, 7, {"v": SAFARI},
    ),
    Agent(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0",
        RESIDENTIAL, 8, {"v": CHROME},
    ),
    Agent(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
        RESIDENTIAL, 4, {"v": ("128", "131", "132", "133")},
    ),
    Agent(
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG {model}) AppleWebKit/537.36 (KHTML, like "
        "Gecko) SamsungBrowser/{v}.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        RESIDENTIAL, 3, {"model": SAMSUNG_MODELS, "v": ("25", "26", "27")},
    ),
    Agent(IOS_MAIL, RESIDENTIAL, 5, {"ios": IOS}),  # mail apps' in-app browser on iOS
    # The long tail: in-app browsers with build numbers and device models, mostly unique.
    Agent(
        "Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/22B83 [FBAN/FBIOS;FBAV/{fbav}.0.0.{patch};FBBV/{fbbv};"
        "FBDV/iPhone{phone};FBMD/iPhone;FBSN/iOS;FBSS/3;FBCR/;FBID/phone;FBLC/en_US;FBOP/80]",
        RESIDENTIAL, 2,
        {"ios": IOS, "fbav": _build_numbers(480, 495), "patch": _build_numbers(10, 60),
         "fbbv": _build_numbers(640_000_000, 640_000_400), "phone": IPHONES},
    ),
    # Machines (about 15 %): link scanners, previews, crawlers, scripts.
    Agent(CHROME_WIN.template, MICROSOFT, 4, CHROME_WIN.choices),  # Safe Links: a browser UA
    Agent(OUTLOOK, MICROSOFT, 2, {"build": OUTLOOK_BUILDS}),
    Agent(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/{v}.0.0.0 Safari/537.36",
        CLOUD, 2, {"v": CHROME},
    ),
    Agent("python-requests/2.{v}", CLOUD, 1, {"v": ("28.2", "31.0", "32.3")}),
    Agent("curl/{v}", CLOUD, 1, {"v": ("7.81.0", "8.5.0", "8.11.1")}),
    Agent("Go-http-client/1.1", CLOUD, 1),
    Agent("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", CLOUD, 1),
    Agent("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", CLOUD, 1),
    Agent("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", GOOGLEBOT, 1),
    Agent("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", MICROSOFT, 1),
)  # fmt: skip

OPEN_AGENTS: tuple[Agent, ...] = (
    Agent(APPLE_MAIL, APPLE, 40),  # Apple Mail Privacy Protection prefetch
    Agent(
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
        GOOGLE_PROXY, 22,
    ),
    Agent(OUTLOOK, RESIDENTIAL, 12, {"build": OUTLOOK_BUILDS}),
    Agent(IOS_MAIL, RESIDENTIAL, 8, {"ios": IOS}),
    Agent(APPLE_MAIL, RESIDENTIAL, 5),
    Agent("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", YAHOO, 4),
    Agent(CHROME_WIN.template, RESIDENTIAL, 4, CHROME_WIN.choices),  # webmail in a browser
    Agent(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.{v}",
        RESIDENTIAL, 2, {"v": ("3.1", "4.0", "5.0", "5.2")},
    ),
    Agent(CHROME_WIN.template, MICROSOFT, 2, CHROME_WIN.choices),  # scanners fetch pixels too
    Agent("python-requests/2.32.3", CLOUD, 1),
)  # fmt: skip
