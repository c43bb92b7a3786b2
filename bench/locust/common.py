"""What the locust scenarios share.

- **The target**: the brands file (`TRACER_CONFIG`), the admin API (`--admin-url`) and its
  API keys (`demo-key-<brand>` for the example brands, or `TRACER_API_KEY`).
- **Link pools** made in-process with `LinkBuilder` and the target's own key ring
  (`TRACER_KEYS`, or the dev ring under `TRACER_DATA_DIR`), exactly what `tracer link
  --count` prints: every message of a pool has its own tokens. A probe click at the start
  checks that the target decodes them (a different ring would send every click to the
  landing page and measure nothing).
- **Who sends each request**: user agents and client addresses from the benchmark's mix
  (`bench.wrk.agents`), in `X-Forwarded-For`, which the edge believes from loopback by
  default (as behind nginx): Apple Mail Privacy Protection from Apple's 17.0.0.0/8, the
  Gmail image proxy from Google's ranges, Safe Links from Microsoft's, people from
  residential blocks.
- **Checks on every answer**: a 5xx fails as `server error`; a click must be a 302 to its own
  destination, a pixel a 43-byte GIF; a bad token may only ever be sent to its host's
  landing page (anything else fails as `open redirect`).
- **The tally** of events the edge should have recorded (per type: requests attempted and
  answered correctly), written at the end to `--tally-file` so that `python -m bench.locust`
  can compare it with the store.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from locust import FastHttpUser, events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from bench.wrk.agents import (
    APPLE_MAIL,
    CHROME_WIN,
    CLICK_AGENTS,
    CLOUD,
    MICROSOFT,
    OPEN_AGENTS,
    RESIDENTIAL,
    Agent,
)
from bench.wrk.workload import CAMPAIGNS, CITIES, DEFAULT_SOURCES, JOB_TITLES
from tracer.brands import Brand, Brands, load_brands
from tracer.keyring import load_keyring
from tracer.links import LinkBuilder
from tracer.settings import load_settings

logger = logging.getLogger("bench.locust")

GIF_BYTES = 43

# --- who sends the requests ---------------------------------------------------------------
APPLE_MPP = (Agent(APPLE_MAIL, ("17.0.0.0/8",), 1),)  # MPP prefetch: Apple's own addresses
GMAIL_PROXY = tuple(a for a in OPEN_AGENTS if "GoogleImageProxy" in a.template)
SAFE_LINKS = (Agent(CHROME_WIN.template, MICROSOFT, 1, CHROME_WIN.choices),)  # a browser UA
HUMAN_BROWSERS = tuple(a for a in CLICK_AGENTS if a.networks == RESIDENTIAL)
MOBILE_BROWSERS = tuple(a for a in HUMAN_BROWSERS if "Mobile" in a.template)
MAIL_CLIENTS = tuple(a for a in OPEN_AGENTS if a.networks == RESIDENTIAL)
CRAWLERS = tuple(
    Agent(ua, CLOUD, 1)
    for ua in (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
        "+https://openai.com/gptbot)",
        "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile "
        "Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)",
        "Mozilla/5.0 (compatible; DotBot/1.2; +https://opensiteexplorer.org/dotbot)",
    )
)
SCRIPTS = (
    Agent("curl/{v}", CLOUD, 3, {"v": ("7.81.0", "8.5.0", "8.11.1")}),
    Agent("python-requests/2.{v}", CLOUD, 3, {"v": ("28.2", "31.0", "32.3")}),
    Agent("Go-http-client/1.1", CLOUD, 2),
    Agent("Wget/1.21.4", CLOUD, 1),
    Agent("okhttp/4.12.0", CLOUD, 1),
)
HEADLESS = (
    Agent(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/{v}.0.0.0 Safari/537.36",
        CLOUD,
        3,
        {"v": ("120", "126", "131")},
    ),
    Agent(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 PhantomJS/2.1.1",
        CLOUD,
        1,
    ),
)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BROWSER_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-US,en;q=0.9",
    "Accept-Encoding": "gzip, deflate, br",
}


@dataclass(frozen=True)
class Visitor:
    """One client: its user agent and its address (sent in `X-Forwarded-For`)."""

    ua: str
    ip: str

    def headers(self, host: str) -> dict[str, str]:
        return {"Host": host, "User-Agent": self.ua, "X-Forwarded-For": self.ip, **BROWSER_HEADERS}


def visitor(rng: random.Random, agents: Sequence[Agent]) -> Visitor:
    agent = rng.choices(agents, weights=[a.weight for a in agents])[0]
    return Visitor(agent.user_agent(rng), agent.address(rng))


# --- the target -----------------------------------------------------------------------------
class TargetError(RuntimeError):
    """The scenario cannot run against this target (the message says what to set)."""


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    group = parser.add_argument_group("Tracer")
    group.add_argument(
        "--admin-url",
        default=os.environ.get("TRACER_ADMIN_URL", "http://127.0.0.1:8081"),
        help="the admin API of the target (default: TRACER_ADMIN_URL or http://127.0.0.1:8081)",
    )
    group.add_argument(
        "--brands", default="", help="comma-separated brand ids (default: every brand)"
    )
    group.add_argument(
        "--pool-messages",
        type=int,
        default=2_000,
        help="messages pre-built with the target's key ring (default 2000)",
    )
    group.add_argument(
        "--sms-links",
        type=int,
        default=20_000,
        help="short links created for sms_burst (default 20000)",
    )
    group.add_argument(
        "--tally-file",
        default=os.environ.get("TRACER_LOCUST_TALLY", ""),
        help="write the events the edge should have recorded here (JSON) at the end",
    )
    group.add_argument(
        "--tracer-seed", type=int, default=None, help="seed of the traffic mix (default: random)"
    )


@dataclass
class Target:
    edge_url: str
    admin_url: str
    brands: list[Brand]  # the brands this run uses
    all_brands: Brands
    seed: int
    run_id: str

    def api_key(self, brand: str) -> str:
        return os.environ.get("TRACER_API_KEY") or f"demo-key-{brand}"

    def landing(self, host: str) -> str | None:
        brand = self.all_brands.by_host.get(host.lower())
        return brand.landing_url if brand else None


def load_target(environment: Environment) -> Target:
    options = environment.parsed_options
    settings = load_settings()
    all_brands = load_brands(settings.config_path)
    wanted = [name.strip() for name in (options.brands or "").split(",") if name.strip()]
    unknown = [name for name in wanted if name not in all_brands.by_id]
    if unknown:
        raise TargetError(f"--brands: {unknown} are not brands of {settings.config_path}")
    brands = [all_brands.by_id[name] for name in wanted] or list(all_brands)
    seed = options.tracer_seed if options.tracer_seed is not None else random.randrange(2**32)
    logger.info("traffic seed %d (repeat the mix with --tracer-seed %d)", seed, seed)
    return Target(
        edge_url=(environment.host or "").rstrip("/"),
        admin_url=options.admin_url.rstrip("/"),
        brands=brands,
        all_brands=all_brands,
        seed=seed,
        run_id=f"{int(time.time()):x}",
    )


def target_link_builder(brands: Brands) -> LinkBuilder:
    """A `LinkBuilder` with the target's key ring; never creates a ring (a new one would
    make tokens the target cannot open)."""
    settings = load_settings()
    if settings.keys is None and not settings.dev_keyring_path.exists():
        raise TargetError(
            f"no key ring at {settings.dev_keyring_path}: set TRACER_KEYS (or TRACER_DATA_DIR) "
            "to the target's, as `python -m bench.locust` does"
        )
    return LinkBuilder(brands, load_keyring(settings.keys, settings.dev_keyring_path))


def split_url(url: str) -> tuple[str, str]:
    """`https://host/path` -> (host, path): the request goes to the edge under test with
    the tracking host in `Host`."""
    parts = urllib.parse.urlsplit(url)
    return parts.netloc, parts.path + (f"?{parts.query}" if parts.query else "")


# --- messages -------------------------------------------------------------------------------
@dataclass
class Message:
    """One sent email's tracked URLs: click links with their destinations, the canary link,
    the header and footer pixels and the unsubscribe link."""

    brand: str
    message_id: str
    links: list[tuple[str, str]]
    canary: str | None
    pixels: list[str]
    unsubscribe: str | None
    list_id: str
    sent_at: float

    @classmethod
    def from_admin(cls, answer: dict, list_id: str) -> Message:
        """From the answer of `POST /v1/messages`."""
        return cls(
            brand=answer["brand"],
            message_id=answer["message_id"],
            links=[(link["tracked_url"], link["url"]) for link in answer["links"]],
            canary=answer.get("canary_url"),
            pixels=list((answer.get("open_urls") or {}).values()),
            unsubscribe=answer.get("unsubscribe_url"),
            list_id=list_id,
            sent_at=time.time(),
        )


def job_sources(brand: Brand) -> list[str]:
    return list(brand.cpc) or list(DEFAULT_SOURCES)


def job_urls(brand: Brand, rng: random.Random, count: int) -> list[str]:
    site = brand.landing_url.rstrip("/")
    return [
        f"{site}/jobs/{rng.choice(JOB_TITLES)}-{rng.choice(CITIES)}-{rng.randrange(10**6)}"
        f"?src=email&pos={n + 1}"
        for n in range(count)
    ]


def job_alert_html(brand: Brand, urls: Sequence[str], rng: random.Random) -> str:
    """A small job-alert email: a few job cards, a 'see all' link, a footer."""
    site = brand.landing_url.rstrip("/")
    cards = "".join(
        f'<tr><td><a href="{url}" style="font-weight:bold">{title.replace("-", " ").title()}'
        f"</a><br>{rng.choice(CITIES).replace('-', ', ').upper()} · posted today</td></tr>"
        for url, title in zip(urls, rng.sample(JOB_TITLES, len(urls)), strict=False)
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>New jobs for you</title>"
        f"</head><body><table><tr><td><h1>{brand.name}: new jobs matching your search</h1>"
        f"</td></tr>{cards}<tr><td><a href='{site}/search?saved=1'>See all new jobs</a>"
        f"</td></tr><tr><td style='font-size:11px'>You receive this email because you saved a "
        f"search on {brand.name}. <a href='{site}/account/alerts'>Manage alerts</a></td></tr>"
        "</table></body></html>"
    )


def list_for(brand: Brand, rng: random.Random) -> str:
    lists = list(brand.unsubscribe.lists)
    return rng.choice(lists) if lists and rng.random() < 0.5 else ""


def build_pool(
    builder: LinkBuilder, brands: Sequence[Brand], count: int, rng: random.Random, run_id: str
) -> list[Message]:
    """`count` messages with their own tokens (what `tracer link --count` makes), over the
    brands, with job-page destinations, campaigns, job sources and recipients that vary."""
    pool = []
    issued = time.time()
    for n in range(count):
        brand = rng.choice(brands)
        message_id = f"pool-{run_id}-{n}"
        common = {
            "recipient": f"reader{rng.getrandbits(40):x}@example.com",
            "campaign": rng.choice(CAMPAIGNS),
            "job_source": rng.choice(job_sources(brand)),
        }
        list_id = list_for(brand, rng)
        urls = job_urls(brand, rng, rng.randint(3, 8))
        pool.append(
            Message(
                brand=brand.id,
                message_id=message_id,
                links=[
                    (builder.click(brand.id, message_id, url, link=i + 1, **common), url)
                    for i, url in enumerate(urls)
                ],
                canary=builder.click(
                    brand.id, message_id, brand.landing_url, canary=True, **common
                ),
                pixels=[
                    builder.open(brand.id, message_id, position=position, **common)
                    for position in ("header", "footer")
                ],
                unsubscribe=builder.unsubscribe(brand.id, message_id, list_id=list_id, **common),
                list_id=list_id,
                sent_at=issued,
            )
        )
    return pool


def probe(target: Target, message: Message) -> None:
    """One click on a pool link: it must redirect to its own destination, or the target
    has another key ring (or brands file) than this process."""
    url, destination = message.links[0]
    host, path = split_url(url)
    request = urllib.request.Request(target.edge_url + path, headers={"Host": host})
    opener = urllib.request.build_opener(_NoRedirect)
    TALLY.attempt("click")
    try:
        with opener.open(request, timeout=10) as answer:
            status, location = answer.status, answer.headers.get("Location", "")
    except urllib.error.HTTPError as error:
        status, location = error.code, error.headers.get("Location", "")
    except OSError as error:
        raise TargetError(f"the edge at {target.edge_url} does not answer ({error})") from None
    if status != 302 or not same_page(location, destination):
        raise TargetError(
            f"a pool link got {status} {location!r} instead of a redirect to {destination!r}: "
            "the target uses another key ring or brands file (set TRACER_KEYS/TRACER_DATA_DIR "
            "and TRACER_CONFIG to the target's)"
        )
    TALLY.answer("click")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# --- the tally ------------------------------------------------------------------------------
class Tally:
    """Per event type: requests sent that should record one event, and those answered as
    they should be. The store must hold at least `answered` and at most `attempted`."""

    def __init__(self) -> None:
        self.attempted: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()

    def attempt(self, event_type: str) -> None:
        self.attempted[event_type] += 1

    def answer(self, event_type: str) -> None:
        self.answered[event_type] += 1

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"attempted": dict(self.attempted), "answered": dict(self.answered)}


TALLY = Tally()


@events.test_stop.add_listener
def _write_tally(environment: Environment, **kwargs: Any) -> None:
    path = getattr(environment.parsed_options, "tally_file", "")
    if not path:
        return
    if isinstance(environment.runner, WorkerRunner):
        path = f"{path}.{os.getpid()}"  # one file per worker process, summed by the reader
    Path(path).write_text(json.dumps(TALLY.as_dict(), indent=1) + "\n")


def preparing(environment: Environment) -> bool:
    """Whether this process makes the users' requests (not a distributed run's master):
    scenarios prepare their links in `init`, so that `--run-time` counts load only."""
    return not isinstance(environment.runner, MasterRunner)


def abort(error: Exception) -> NoReturn:
    """Stop at start-up with the reason in one line and exit code 2."""
    logger.error("cannot run this scenario: %s", error)
    raise SystemExit(2)


# --- requests and checks ----------------------------------------------------------------------
class EdgeUser(FastHttpUser):
    """A locust user whose every answer, 4xx included, comes back as a response to check:
    geventhttpclient raises on a status it does not expect and, building the error, fails
    on a binary body (the edge's 404 GIF); the checks below judge the status instead."""

    abstract = True

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.client.client.valid_response_codes = frozenset(range(100, 600))


Check = Callable[[Any], "str | None"]


def same_page(location: str, destination: str) -> bool:
    """A redirect goes to the destination when it has the same scheme, host and path (the
    edge appends UTM parameters and a click id to the query)."""
    return location.partition("?")[0] == destination.partition("?")[0]


def redirect_to(destination: str) -> Check:
    def check(response: Any) -> str | None:
        if response.status_code != 302:
            return f"click: expected 302, got {response.status_code}"
        location = response.headers.get("location") or ""
        if not same_page(location, destination):
            return "click: redirected to another page than the link's (wrong key ring?)"
        return None

    return check


def any_redirect(response: Any) -> str | None:
    return None if response.status_code == 302 else f"expected 302, got {response.status_code}"


def pixel(head: bool = False) -> Check:
    def check(response: Any) -> str | None:
        if response.status_code != 200:
            return f"pixel: expected 200, got {response.status_code}"
        if (response.headers.get("content-type") or "") != "image/gif":
            return "pixel: not image/gif"
        size = len(response.content or b"")
        if not head and size != GIF_BYTES:
            return f"pixel: {size} bytes, not {GIF_BYTES}"
        return None

    return check


def page(status: int, marker: bytes) -> Check:
    def check(response: Any) -> str | None:
        if response.status_code != status:
            return f"page: expected {status}, got {response.status_code}"
        if marker not in (response.content or b""):
            return f"page: {marker.decode()!r} missing"
        return None

    return check


def refused(target: Target, host: str) -> Check:
    """A bad token, path or host: any 4xx, or a redirect to the host's landing page only."""

    def check(response: Any) -> str | None:
        status = response.status_code
        if 300 <= status < 400:
            location = response.headers.get("location") or ""
            if location != target.landing(host):
                return f"open redirect: a bad request was sent to {location[:80]!r}"
            return None
        if status in (200, 204):
            return f"bad request answered {status}"
        return None

    return check


def call(
    user: Any,
    method: str,
    url: str,
    name: str,
    visitor: Visitor,
    check: Check,
    *,
    records: str | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> bool:
    """One request to the edge under test for the absolute tracked `url`; `records` is the
    event type it must record when answered right (counted in the tally)."""
    host, path = split_url(url)
    request_headers = visitor.headers(host) | (headers or {})
    if records:
        TALLY.attempt(records)
    with user.client.request(
        method,
        path,
        name=name,
        headers=request_headers,
        data=body,
        allow_redirects=False,
        catch_response=True,
    ) as response:
        problem = transport_problem(response) or check(response)
        if problem:
            response.failure(problem)
            return False
        response.success()
    if records:
        TALLY.answer(records)
    return True


def transport_problem(response: Any) -> str | None:
    if response.status_code == 0 or response.status_code is None:
        return f"connection error: {response.error!r}"[:200]
    if response.status_code >= 500:
        return f"server error {response.status_code}"
    return None


def admin_post(user: Any, target: Target, path: str, brand: str, body: dict) -> dict | None:
    """A JSON call to the admin API; the decoded answer, or None (counted as a failure)."""
    with user.client.post(
        target.admin_url + path,
        json=body,
        name=f"admin POST {path}",
        headers={"Authorization": f"Bearer {target.api_key(brand)}"},
        catch_response=True,
    ) as response:
        problem = transport_problem(response)
        if problem is None and response.status_code != 200:
            problem = f"admin: {response.status_code} {(response.text or '')[:120]}"
        if problem:
            response.failure(problem)
            return None
        response.success()
        return response.json()


_USERS = itertools.count()


def user_rng(target: Target) -> random.Random:
    """Each simulated user draws from its own generator, derived from the run's seed."""
    return random.Random(f"{target.seed}-{next(_USERS)}")
