"""Time the classifier on a realistic mix (a timing script, not a test).

    .venv/bin/python -m bench.classify_speed [--calls 300000] [--seed 7]

(`python -m bench.classify` runs it after the accuracy figures; `just bench` runs both.)

The mix: ~55 distinct real user agents weighted roughly like email traffic (browsers and
mail clients, image proxies, MPP, previews, scanners, scripts), a distinct client address
per request (mostly random IPv4, some inside vendor ranges, some IPv6), 60 % clicks with
timing and burst tracking on, 40 % opens. Inputs are generated before timing starts.
The baseline is the same loop calling a function that does nothing with the arguments.
Times are the process's CPU time (`time.process_time`), so that other processes sharing
the machine do not count; on an idle machine wall time is the same.
Two runs: 16,384 distinct requests cycled (inputs stay in CPU cache, as the strings of a
request just parsed by the server do) and 300,000 distinct requests once (every input a
cache miss: an upper bound). Both with the user-agent verdicts cached, as in production,
where a few hundred strings make most of the traffic; the same runs without the hosting
ranges show what the cloud-timing rule adds to a click.

Then the uncached cost: every distinct user agent of the evaluation corpus
(bench/classify_data/corpus.tsv, ~18,000 real strings) classified once with an empty
cache, i.e. what the first sighting of a new user agent costs.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import random
import time

from tracer.classify import Classifier
from tracer.classify.networks import CLOUD_AGENT, load_shipped_vendors
from tracer.classify.useragents import build_user_agents

# (weight, user agent). Real strings as sent by the clients named.
REAL_USER_AGENTS: list[tuple[int, str]] = [
    # Desktop browsers
    (
        60,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
    ),
    (
        25,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like "
        "Gecko) Chrome/130.0.0.0 Safari/537.36",
    ),
    (
        8,
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/129.0.0.0 Safari/537.36",
    ),
    (
        20,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    ),
    (10, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"),
    (4, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:132.0) Gecko/20100101 Firefox/132.0"),
    (3, "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"),
    (
        15,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/18.1 Safari/605.1.15",
    ),
    (
        3,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0",
    ),
    (
        2,
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
    ),
    # Mobile browsers and in-app browsers
    (
        70,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    ),
    (
        8,
        "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    ),
    (
        50,
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36",
    ),
    (
        12,
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    ),
    (
        8,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
    ),
    (
        6,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) GSA/309.0.616685607 Mobile/15E148 Safari/604.1",
    ),
    (3, "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0"),
    (
        2,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15",
    ),
    (
        6,
        "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230901.001; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.81 Mobile Safari/537.36",
    ),
    (
        3,
        "Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.6778.81 Mobile Safari/537.36 EdgA/131.0.2903.70",
    ),
    (
        4,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Mobile/21E236 [FBAN/FBIOS;FBAV/460.0.0.30.109;FBBV/584000000;"
        "FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.4.1;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]",
    ),
    (
        3,
        "Mozilla/5.0 (Linux; Android 14; CPH2557 Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.81 Mobile Safari/537.36 Instagram "
        "358.0.0.51.97 Android (34/14; 480dpi; 1080x2400; OPPO; CPH2557; OP573DL1; mt6833)",
    ),
    # Mail clients loading the pixel themselves
    (
        30,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Mobile/15E148",
    ),
    (
        12,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    ),
    (25, "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"),
    (
        5,
        "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; WOW64; Trident/7.0; .NET4.0C; "
        ".NET4.0E; Microsoft Outlook 16.0.5435; ms-office; MSOffice 16)",
    ),
    (6, "Outlook-iOS/723.4027091.prod.iphone (4.2449.1)"),
    (4, "Outlook-Android/2.0"),
    (3, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.4.3"),
    (
        5,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0 OneOutlook/1.2024.1111.300",
    ),
    # Image proxies and Apple MPP
    (
        90,
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    ),
    (15, "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"),
    (60, "Mozilla/5.0"),
    # Link previews
    (2, "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"),
    (1, "Twitterbot/1.0"),
    (2, "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"),
    (2, "WhatsApp/2.23.20.0 A"),
    (1, "TelegramBot (like TwitterBot)"),
    (1, "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"),
    (1, "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)"),
    (
        1,
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 "
        "skype-url-preview@microsoft.com",
    ),
    (
        1,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like "
        "Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
    ),
    # Scanners and link checkers
    (
        4,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/116.0.1938.76 Safari/537.36 Edg/116.0.1938.76 BingPreview/1.0b",
    ),
    (2, "Microsoft Office Existence Discovery"),
    (1, "Barracuda Sentinel (EE)"),
    # Scripts, headless browsers, crawlers
    (2, "curl/8.5.0"),
    (1, "Wget/1.21.4"),
    (2, "python-requests/2.32.3"),
    (1, "Go-http-client/1.1"),
    (1, "okhttp/4.12.0"),
    (1, "Java/17.0.9"),
    (
        2,
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/120.0.6099.71 Safari/537.36",
    ),
    (2, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    (1, "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"),
    (2, ""),
]

# Share of addresses drawn from vendor networks (the rest: random public IPv4 / IPv6).
VENDOR_SAMPLES = [
    (5, "17.0.0.0/8"),  # Apple
    (3, "40.107.0.0/16"),  # Microsoft EOP
    (4, "66.102.0.0/20"),  # Google image proxy
    (1, "148.163.128.0/19"),  # Proofpoint
]
IPV6_SHARE = 0.05


def make_requests(count: int, rng: random.Random) -> list[tuple]:
    weights = [w for w, _ in REAL_USER_AGENTS]
    agents = [ua for _, ua in REAL_USER_AGENTS]
    chosen = rng.choices(agents, weights=weights, k=count)
    vendor_weight = sum(w for w, _ in VENDOR_SAMPLES)
    requests = []
    now = 1_790_000_000.0
    for ua in chosen:
        now += rng.expovariate(5000)  # ~5,000 hits/s into one worker
        ip = _address(rng, vendor_weight)
        if rng.random() < 0.6:
            message = f"m{rng.randrange(200_000)}"
            age = rng.expovariate(1 / 3600)
            requests.append(("click", ip, ua, "GET", age, message, rng.randrange(6), now))
        else:
            requests.append(("open", ip, ua, "GET", rng.expovariate(1 / 3600)))
    return requests


def _address(rng: random.Random, vendor_weight: int) -> str:
    draw = rng.random()
    if draw < vendor_weight / 100:
        cidr = rng.choices([c for _, c in VENDOR_SAMPLES], [w for w, _ in VENDOR_SAMPLES])[0]
        network = ipaddress.ip_network(cidr)
        return str(network[rng.randrange(network.num_addresses)])
    if draw < vendor_weight / 100 + IPV6_SHARE:
        return str(ipaddress.IPv6Address((0x2001 << 112) | rng.getrandbits(112)))
    return str(ipaddress.IPv4Address(rng.randrange(0x01000000, 0xDF000000)))


def run(classifier: Classifier, requests: list[tuple], cycles: int = 1) -> float:
    click, open_ = classifier.click, classifier.open
    span = 3600.0
    started = time.process_time()
    for cycle in range(cycles):
        shift = cycle * span  # time moves on from cycle to cycle, as it would
        for request in requests:
            if request[0] == "click":
                _, ip, ua, method, age, message, link, now = request
                click(ip, ua, method, age, False, message, link, now + shift)
            else:
                _, ip, ua, method, age = request
                open_(ip, ua, method, age)
    return time.process_time() - started


def run_baseline(requests: list[tuple], cycles: int = 1) -> float:
    def click(ip, ua, method, age_s=None, canary=False, message_id="", link=0, now=None):
        return None

    def open_(ip, ua, method, age_s=None):
        return None

    span = 3600.0
    started = time.process_time()
    for cycle in range(cycles):
        shift = cycle * span
        for request in requests:
            if request[0] == "click":
                _, ip, ua, method, age, message, link, now = request
                click(ip, ua, method, age, False, message, link, now + shift)
            else:
                _, ip, ua, method, age = request
                open_(ip, ua, method, age)
    return time.process_time() - started


def measure(requests: list[tuple], cycles: int, make=Classifier) -> tuple[float, float]:
    """(classifier, baseline) in µs per call, best of 3 runs each."""
    calls = len(requests) * cycles
    run(make(), requests[:2000])  # load the data files, warm the user-agent cache
    baseline = min(run_baseline(requests, cycles) for _ in range(3))
    timed = min(run(make(), requests, cycles) for _ in range(3))
    return timed / calls * 1e6, baseline / calls * 1e6


def without_hosting() -> Classifier:
    cloud = [n for n, v in load_shipped_vendors().items() if v.agent == CLOUD_AGENT]
    return Classifier(ignore_vendors=cloud)


def measure_misses(agents: list[str]) -> tuple[float, float, int]:
    """(µs per distinct user agent with an empty cache, µs per cached lookup, count)."""
    user_agents = build_user_agents()
    started = time.process_time()
    for ua in agents:
        user_agents.lookup(ua)
    missed = time.process_time() - started
    started = time.process_time()
    for ua in agents:
        user_agents.lookup(ua)
    cached = time.process_time() - started
    return missed / len(agents) * 1e6, cached / len(agents) * 1e6, len(agents)


def corpus_agents() -> list[str]:
    from bench.classify import load_corpus

    return list(dict.fromkeys(row.ua for row in load_corpus()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time the classifier on a realistic mix.")
    parser.add_argument("--calls", type=int, default=300_000)
    parser.add_argument(
        "--distinct",
        type=int,
        default=16_384,
        help="distinct requests (addresses) cycled through; the classifier caches no "
        "address, so cycling only keeps inputs in CPU cache, as a fresh request's are",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    hot = make_requests(args.distinct, rng)
    cycles = max(1, args.calls // len(hot))
    print(
        f"seed {args.seed}: {len(REAL_USER_AGENTS)} distinct user agents, "
        f"60 % clicks / 40 % opens, a distinct address per request"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"  machine: {os.cpu_count()} CPUs, load average {load} (other processes slow it)")
    cold = make_requests(args.calls, rng)
    runs = (
        (f"{len(hot):,} requests x {cycles} cycles (inputs in CPU cache)", hot, cycles),
        (f"{len(cold):,} requests once (inputs spread over memory)", cold, 1),
    )
    for title, requests, repeat in runs:
        print(f"  {title}, user-agent verdicts cached:")
        for label, make in (("classifier", Classifier), ("no hosting", without_hosting)):
            per_call, base_call = measure(requests, repeat, make)
            print(
                f"    {label:<10} {per_call:5.2f} µs/call | baseline loop {base_call:5.2f} "
                f"µs/call | classification {per_call - base_call:5.2f} µs/call"
            )
    missed, cached, count = measure_misses(corpus_agents())
    print(f"  {count:,} distinct corpus user agents, each seen once (empty cache):")
    print(
        f"    uncached {missed:7.2f} µs per new user agent | cached {cached:5.2f} µs per "
        f"lookup of the same strings"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
