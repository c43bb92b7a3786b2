"""An SMS campaign's click burst on short links (`/s/{slug}`).

Before the burst, the campaign's short links are created through the admin API for the
sms channel (`POST /v1/links`, `"channel": "sms"`, up to 10,000 a call): `--sms-links` of
them (20,000 by default), each its own message and recipient, spread over the brands.
Then everyone taps at once: `SmsRecipient`s take the links in order (each link is first
tapped once, so the edge's slug cache only helps as it would in production: a recipient
tapping twice), from phones' browsers on residential addresses; a fifth of the links are
first fetched by a messaging app's link preview, a tenth tapped again. `SmsSender`s keep
sending the campaign's tail through `POST /v1/messages` (channel sms) meanwhile.

    python -m bench.locust sms_burst 20s --users 80
"""

from __future__ import annotations

import itertools
import json
import random
import time
import urllib.error
import urllib.request
from typing import Any

from locust import between, constant, events, task
from locust.env import Environment

from bench.locust.common import (
    MOBILE_BROWSERS,
    TALLY,
    EdgeUser,
    Target,
    TargetError,
    abort,
    admin_post,
    call,
    job_sources,
    job_urls,
    load_target,
    logger,
    preparing,
    redirect_to,
    user_rng,
    visitor,
)
from bench.wrk.agents import CLOUD, RESIDENTIAL, Agent
from bench.wrk.workload import CAMPAIGNS

PREVIEWERS = (
    # iMessage fetches previews from the phone itself, with this composite user agent.
    Agent(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1 facebookexternalhit/1.1 "
        "Facebot Twitterbot/1.0",
        RESIDENTIAL,
        3,
    ),
    Agent("WhatsApp/2.24.{v}.78 A", CLOUD, 2, {"v": ("20", "21", "22")}),
    Agent("TelegramBot (like TwitterBot)", CLOUD, 1),
)
PREVIEW_RATE, SECOND_TAP_RATE = 0.2, 0.1
BULK = 10_000


class Burst:
    target: Target
    links: list[tuple[str, str]] = []  # (short URL, destination)
    cursor = itertools.count()

    @classmethod
    def next_link(cls) -> tuple[str, str]:
        return cls.links[next(cls.cursor) % len(cls.links)]


@events.init.add_listener
def _create_short_links(environment: Environment, **kwargs: Any) -> None:
    if not preparing(environment):
        return
    try:
        Burst.target = target = load_target(environment)
        started = time.perf_counter()
        Burst.links = create_short_links(target, environment.parsed_options.sms_links)
        logger.info(
            "created %d short links in %.1fs", len(Burst.links), time.perf_counter() - started
        )
    except TargetError as error:
        abort(error)


def create_short_links(target: Target, count: int) -> list[tuple[str, str]]:
    rng = random.Random(target.seed)
    links: list[tuple[str, str]] = []
    shares = [count // len(target.brands)] * len(target.brands)
    shares[0] += count - sum(shares)
    for brand, share in zip(target.brands, shares, strict=True):
        for start in range(0, share, BULK):
            size = min(BULK, share - start)
            campaign, source = rng.choice(CAMPAIGNS), rng.choice(job_sources(brand))
            specs = [
                {
                    "message_id": f"sms-{target.run_id}-{brand.id}-{start + n}",
                    "url": url,
                    "recipient": f"+1555{rng.randrange(10**7):07d}",
                    "campaign": campaign,
                    "job_source": source,
                    "channel": "sms",
                    "link": 1,
                }
                for n, url in enumerate(job_urls(brand, rng, size))
            ]
            answer = _post(target, "/v1/links", brand.id, {"brand": brand.id, "links": specs})
            links += [(link["tracked_url"], link["url"]) for link in answer["links"]]
    rng.shuffle(links)  # the burst mixes brands
    return links


def _post(target: Target, path: str, brand: str, body: dict) -> dict:
    request = urllib.request.Request(
        target.admin_url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {target.api_key(brand)}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        detail = error.read()[:300].decode(errors="replace")
        raise TargetError(f"admin {path} for {brand}: {error.code} {detail}") from None
    except OSError as error:
        raise TargetError(
            f"the admin API at {target.admin_url} does not answer ({error})"
        ) from None


class SmsRecipient(EdgeUser):
    """A phone that received the SMS: maybe a link preview, a tap, sometimes a second."""

    weight = 20
    wait_time = constant(0)

    def on_start(self) -> None:
        self.rng = user_rng(Burst.target)

    @task
    def tap(self) -> None:
        url, destination = Burst.next_link()
        check = redirect_to(destination)
        if self.rng.random() < PREVIEW_RATE:
            call(
                self,
                "GET",
                url,
                "/s/ [link preview]",
                visitor(self.rng, PREVIEWERS),
                check,
                records="click",
            )
        phone = visitor(self.rng, MOBILE_BROWSERS)
        call(self, "GET", url, "/s/ [tap]", phone, check, records="click")
        if self.rng.random() < SECOND_TAP_RATE:
            call(self, "GET", url, "/s/ [second tap]", phone, check, records="click")


class SmsSender(EdgeUser):
    """The campaign's tail, still going out during the burst (`POST /v1/messages`)."""

    weight = 1
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.rng = user_rng(Burst.target)

    @task
    def send(self) -> None:
        target, rng = Burst.target, self.rng
        brand = rng.choice(target.brands)
        TALLY.attempt("sent")
        answer = admin_post(
            self,
            target,
            "/v1/messages",
            brand.id,
            {
                "brand": brand.id,
                "channel": "sms",
                "recipient": f"+1555{rng.randrange(10**7):07d}",
                "campaign": rng.choice(CAMPAIGNS),
                "job_source": rng.choice(job_sources(brand)),
                "urls": job_urls(brand, rng, 1),
            },
        )
        if answer is not None:
            TALLY.answer("sent")
            Burst.links += [(link["tracked_url"], link["url"]) for link in answer["links"]]
