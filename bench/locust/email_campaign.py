"""An email campaign, from the send to the unsubscribe.

`CampaignSender` sends job-alert emails through the admin API (`POST /v1/messages`, the
brand's demo key), then plays the mailbox provider's delivery: an Apple Mail Privacy
Protection prefetch of both pixels from Apple's 17.x addresses right away (Apple mailboxes),
or a Microsoft Safe Links-like scan of the message (Microsoft 365 mailboxes): a HEAD and a
fast GET on every link, canary included, from Microsoft's ranges with a browser user agent.

`Recipient` reads the delivered emails a few seconds later (after the brand's
`min_click_delay_s`, as people do): the open comes through the Gmail image proxy, Apple's
proxy, Outlook or another mail client; a quarter of readers click a job (some two), a few
unsubscribe through the page (GET, then the form's POST) and fewer with the mail client's
one-click button (RFC 8058 POST). While no email is old enough, readers take one from a pool
made with the target's key ring.

    python -m bench.locust email_campaign 30s          # against a private `tracer up`
    locust -f bench/locust/email_campaign.py --headless -u 20 -r 10 -t 30s \\
        --host http://127.0.0.1:8080 --admin-url http://127.0.0.1:8081
"""

from __future__ import annotations

import random
import time
from collections import deque
from typing import Any

import gevent
from locust import between, events, task
from locust.env import Environment

from bench.locust.common import (
    APPLE_MPP,
    FORM,
    GMAIL_PROXY,
    HUMAN_BROWSERS,
    MAIL_CLIENTS,
    SAFE_LINKS,
    TALLY,
    EdgeUser,
    Message,
    Target,
    TargetError,
    Visitor,
    abort,
    admin_post,
    any_redirect,
    build_pool,
    call,
    job_alert_html,
    job_sources,
    job_urls,
    list_for,
    load_target,
    page,
    pixel,
    preparing,
    probe,
    redirect_to,
    target_link_builder,
    user_rng,
    visitor,
)
from bench.wrk.agents import OUTLOOK, RESIDENTIAL, Agent
from bench.wrk.workload import CAMPAIGNS

# Where recipients' mailboxes are (share of the list) and what reads their pixels.
MAILBOXES = {"apple": 45, "gmail": 30, "microsoft": 15, "other": 10}
OUTLOOK_DESKTOP = (
    Agent(OUTLOOK, RESIDENTIAL, 1, {"build": ("16.0.17928", "16.0.18129", "16.0.18227")}),
)
READER_DELAY_S = 3.0  # people open after the brand's min_click_delay_s (2 s by default)
CLICK_RATE, SECOND_CLICK_RATE = 0.25, 0.3
UNSUBSCRIBE_PAGE_RATE, ONE_CLICK_RATE = 0.03, 0.01


class Campaign:
    """What the users of one run share: the target, the pool, the delivered emails."""

    target: Target
    pool: list[Message] = []
    inbox: deque[tuple[str, Message]] = deque(maxlen=50_000)
    sent = 0


@events.init.add_listener
def _prepare(environment: Environment, **kwargs: Any) -> None:
    if not preparing(environment):
        return
    try:
        Campaign.target = target = load_target(environment)
        builder = target_link_builder(target.all_brands)
        rng = random.Random(target.seed)
        Campaign.pool = build_pool(
            builder, target.brands, environment.parsed_options.pool_messages, rng, target.run_id
        )
        probe(target, Campaign.pool[0])
    except TargetError as error:
        abort(error)


def mailbox_of(rng: random.Random) -> str:
    return rng.choices(list(MAILBOXES), weights=list(MAILBOXES.values()))[0]


class CampaignSender(EdgeUser):
    """The brand's sending platform: one email per task, then its delivery."""

    weight = 1
    wait_time = between(0.05, 0.3)

    def on_start(self) -> None:
        self.rng = user_rng(Campaign.target)

    @task
    def send_and_deliver(self) -> None:
        target, rng = Campaign.target, self.rng
        brand = rng.choice(target.brands)
        Campaign.sent += 1
        list_id = list_for(brand, rng)
        TALLY.attempt("sent")
        answer = admin_post(
            self,
            target,
            "/v1/messages",
            brand.id,
            {
                "brand": brand.id,
                "channel": "email",
                "message_id": f"lt-{target.run_id}-{Campaign.sent}",
                "recipient": f"seeker{rng.getrandbits(48):x}@example.com",
                "campaign": rng.choice(CAMPAIGNS),
                "job_source": rng.choice(job_sources(brand)),
                "list_id": list_id,
                "html": job_alert_html(brand, job_urls(brand, rng, rng.randint(3, 8)), rng),
            },
        )
        if answer is None:
            return
        TALLY.answer("sent")
        message = Message.from_admin(answer, list_id)
        mailbox = mailbox_of(rng)
        if mailbox == "apple":
            mpp_prefetch(self, message, visitor(rng, APPLE_MPP))
        elif mailbox == "microsoft":
            safe_links_scan(self, message, visitor(rng, SAFE_LINKS))
        Campaign.inbox.append((mailbox, message))


def mpp_prefetch(user: Any, message: Message, proxy: Visitor) -> None:
    """Apple's proxy fetches every remote image of the email at delivery."""
    for url in message.pixels:
        call(user, "GET", url, "/o/ [apple mpp prefetch]", proxy, pixel(), records="open")


def safe_links_scan(user: Any, message: Message, scanner: Visitor) -> None:
    """Every link of the message, canary included, HEAD then GET, within a second."""
    links = [*message.links, *([(message.canary, "")] if message.canary else [])]
    for url, destination in links:
        check = redirect_to(destination) if destination else any_redirect
        call(user, "HEAD", url, "/c/ [safe links HEAD]", scanner, check, records="click")
        call(user, "GET", url, "/c/ [safe links GET]", scanner, check, records="click")


class Recipient(EdgeUser):
    """A person reading one delivered email per task."""

    weight = 3
    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        self.rng = user_rng(Campaign.target)

    def next_email(self) -> tuple[str, Message]:
        inbox = Campaign.inbox
        if inbox and inbox[0][1].sent_at + READER_DELAY_S <= time.time():
            return inbox.popleft()
        return mailbox_of(self.rng), self.rng.choice(Campaign.pool)

    @task
    def read(self) -> None:
        rng = self.rng
        mailbox, message = self.next_email()
        self.open(mailbox, message)
        if rng.random() < CLICK_RATE:
            self.click(message)
        roll = rng.random()
        if roll < UNSUBSCRIBE_PAGE_RATE:
            self.unsubscribe_on_page(message)
        elif roll < UNSUBSCRIBE_PAGE_RATE + ONE_CLICK_RATE:
            self.one_click_unsubscribe(mailbox, message)

    def opener(self, mailbox: str) -> tuple[Visitor, str]:
        agents, label = {
            "apple": (APPLE_MPP, "apple proxy"),
            "gmail": (GMAIL_PROXY, "gmail proxy"),
            "microsoft": (OUTLOOK_DESKTOP, "outlook"),
        }.get(mailbox, (MAIL_CLIENTS, "mail client"))
        return visitor(self.rng, agents), label

    def open(self, mailbox: str, message: Message) -> None:
        reader, label = self.opener(mailbox)
        for url in message.pixels:
            call(self, "GET", url, f"/o/ [{label}]", reader, pixel(), records="open")

    def click(self, message: Message) -> None:
        person = visitor(self.rng, HUMAN_BROWSERS)
        clicks = 2 if self.rng.random() < SECOND_CLICK_RATE else 1
        for url, destination in self.rng.sample(message.links, min(clicks, len(message.links))):
            gevent.sleep(self.rng.uniform(0.05, 0.4))  # reading the job card
            call(
                self, "GET", url, "/c/ [person]", person, redirect_to(destination), records="click"
            )

    def unsubscribe_on_page(self, message: Message) -> None:
        if not message.unsubscribe:
            return
        person = visitor(self.rng, HUMAN_BROWSERS)
        shown = call(
            self,
            "GET",
            message.unsubscribe,
            "/u/ [page]",
            person,
            page(200, b"<form"),
            records="unsubscribe_view",
        )
        if not shown:
            return
        gevent.sleep(self.rng.uniform(0.05, 0.3))
        scope = "list" if message.list_id and self.rng.random() < 0.6 else "all"
        call(
            self,
            "POST",
            message.unsubscribe,
            "/u/ [form post]",
            person,
            page(200, b"<"),
            records="unsubscribe",
            body=f"scope={scope}".encode(),
            headers=FORM,
        )

    def one_click_unsubscribe(self, mailbox: str, message: Message) -> None:
        if not message.unsubscribe:
            return
        client, _ = self.opener(mailbox)
        call(
            self,
            "POST",
            message.unsubscribe,
            "/u/ [one-click]",
            client,
            page(200, b"<"),
            records="unsubscribe",
            body=b"List-Unsubscribe=One-Click",
            headers=FORM,
        )
