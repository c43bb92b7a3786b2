"""A bot storm: machines on real links, and garbage.

- `Crawler`s (Googlebot, bingbot, AhrefsBot, GPTBot, Bytespider… from cloud ranges) follow
  every link of a message they found (clicks, canary, pixels, the unsubscribe page), with
  GET and some HEAD, plus the paths crawlers always try (`/robots.txt`, `/favicon.ico`).
- `HeadlessBrowser`s (HeadlessChrome, PhantomJS) hit every link of a message within a
  second, the burst the classifier looks for.
- `Script`s (curl, python-requests, Go, Wget, okhttp) send garbage: random tokens
  on every route, real tokens with one character changed, cut short, made too long, or
  sent on another brand's host, unknown hosts, traversal paths, wrong methods, an
  oversized unsubscribe form, a one-click POST on a bad token.

Real links must be answered as for anyone (a 302 to their page, a GIF, the page) and
recorded (classified as bots, not dropped); garbage must never get a 5xx, never a redirect
other than to its host's landing page, and never record an event.

    python -m bench.locust bot_storm 30s
"""

from __future__ import annotations

import random
import string
from typing import Any

from locust import between, events, task
from locust.env import Environment

from bench.locust.common import (
    CRAWLERS,
    FORM,
    HEADLESS,
    SCRIPTS,
    EdgeUser,
    Message,
    Target,
    TargetError,
    abort,
    any_redirect,
    build_pool,
    call,
    load_target,
    page,
    pixel,
    preparing,
    probe,
    redirect_to,
    refused,
    target_link_builder,
    user_rng,
    visitor,
)

TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_"
SLUG_ALPHABET = string.ascii_letters + string.digits


class Storm:
    target: Target
    pool: list[Message] = []


@events.init.add_listener
def _prepare(environment: Environment, **kwargs: Any) -> None:
    if not preparing(environment):
        return
    try:
        Storm.target = target = load_target(environment)
        builder = target_link_builder(target.all_brands)
        Storm.pool = build_pool(
            builder,
            target.brands,
            environment.parsed_options.pool_messages,
            random.Random(target.seed),
            target.run_id,
        )
        probe(target, Storm.pool[0])
    except TargetError as error:
        abort(error)


def follow_message(user: Any, message: Message, bot: Any, label: str, rng: random.Random) -> None:
    """Every tracked URL of one message, as a bot that found it would fetch them."""
    for url, destination in message.links:
        method = "HEAD" if rng.random() < 0.3 else "GET"
        call(
            user,
            method,
            url,
            f"/c/ [{label} {method}]",
            bot,
            redirect_to(destination),
            records="click",
        )
    if message.canary:
        call(
            user, "GET", message.canary, f"/c/ [{label} canary]", bot, any_redirect, records="click"
        )
    for url in message.pixels:
        call(user, "GET", url, f"/o/ [{label}]", bot, pixel(), records="open")
    if message.unsubscribe and rng.random() < 0.5:
        call(
            user,
            "GET",
            message.unsubscribe,
            f"/u/ [{label} GET]",
            bot,
            page(200, b"<form"),
            records="unsubscribe_view",
        )


class Crawler(EdgeUser):
    weight = 3
    wait_time = between(0, 0.1)

    def on_start(self) -> None:
        self.rng = user_rng(Storm.target)

    @task(5)
    def crawl_message(self) -> None:
        message = self.rng.choice(Storm.pool)
        follow_message(self, message, visitor(self.rng, CRAWLERS), "crawler", self.rng)

    @task(1)
    def usual_paths(self) -> None:
        target, rng = Storm.target, self.rng
        host = rng.choice(rng.choice(target.brands).hosts)
        for path in ("/robots.txt", "/favicon.ico", "/", "/sitemap.xml"):
            call(
                self,
                "GET",
                f"https://{host}{path}",
                "crawler usual paths",
                visitor(rng, CRAWLERS),
                refused(target, host),
            )


class HeadlessBrowser(EdgeUser):
    weight = 1
    wait_time = between(0, 0.2)

    def on_start(self) -> None:
        self.rng = user_rng(Storm.target)

    @task
    def burst(self) -> None:
        message = self.rng.choice(Storm.pool)
        follow_message(self, message, visitor(self.rng, HEADLESS), "headless", self.rng)


class Script(EdgeUser):
    """Garbage from scripts: nothing here may record an event."""

    weight = 2
    wait_time = between(0, 0.05)

    def on_start(self) -> None:
        self.rng = user_rng(Storm.target)
        self.bot = visitor(self.rng, SCRIPTS)

    def host_and_token(self) -> tuple[str, str, str]:
        """A real link's host, route and token."""
        message = self.rng.choice(Storm.pool)
        url = self.rng.choice([link for link, _ in message.links] + message.pixels)
        _, _, rest = url.partition("://")
        host, _, path = rest.partition("/")
        route, _, token = path.partition("/")
        return host, route, token.removesuffix(".gif")

    def bad(
        self,
        method: str,
        host: str,
        path: str,
        name: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        call(
            self,
            method,
            f"https://{host}{path}",
            name,
            self.bot,
            refused(Storm.target, host),
            body=body,
            headers=headers,
        )

    @task(6)
    def random_token(self) -> None:
        host, _, _ = self.host_and_token()
        route = self.rng.choice("cous")
        alphabet = SLUG_ALPHABET if route == "s" else TOKEN_ALPHABET
        size = self.rng.randint(7, 8) if route == "s" else self.rng.randint(10, 220)
        token = "".join(self.rng.choices(alphabet, k=size))
        self.bad(
            self.rng.choice(("GET", "HEAD")), host, f"/{route}/{token}", f"/{route}/ [random token]"
        )

    @task(4)
    def tampered_token(self) -> None:
        host, route, token = self.host_and_token()
        at = self.rng.randrange(8, len(token) - 8)  # inside: every bit there is authenticated
        swapped = self.rng.choice(TOKEN_ALPHABET.replace(token[at], ""))
        self.bad(
            "GET",
            host,
            f"/{route}/{token[:at]}{swapped}{token[at + 1 :]}",
            f"/{route}/ [tampered token]",
        )

    @task(2)
    def cut_or_padded_token(self) -> None:
        host, route, token = self.host_and_token()
        if self.rng.random() < 0.5:
            mangled, name = token[: self.rng.randrange(1, len(token) - 1)], "cut token"
        else:
            mangled, name = token + "A" * self.rng.choice((1, 2, 4000)), "padded token"
        self.bad("GET", host, f"/{route}/{mangled}", f"/{route}/ [{name}]")

    @task(2)
    def foreign_host(self) -> None:
        """A real token on another brand's host: that brand's landing page, no event."""
        host, route, token = self.host_and_token()
        brand = Storm.target.all_brands.by_host[host]
        others = [b for b in Storm.target.all_brands if b.id != brand.id]
        other = self.rng.choice(others).primary_host
        self.bad("GET", other, f"/{route}/{token}", f"/{route}/ [foreign host]")

    @task(2)
    def unknown_host_and_paths(self) -> None:
        host, route, token = self.host_and_token()
        self.bad("GET", "t.unknown-brand.example", f"/{route}/{token}", "unknown host")
        path = self.rng.choice(
            (
                "/c/../../etc/passwd",
                "/c/%2e%2e%2fadmin",
                "/wp-login.php",
                "/.env",
                "/o/",
                "/c/",
                "/u/%00",
                "/s/!!!!!!!",
            )
        )
        self.bad("GET", host, path, "probe paths")

    @task(2)
    def wrong_methods(self) -> None:
        host, route, token = self.host_and_token()
        method = self.rng.choice(("PUT", "DELETE", "PATCH", "OPTIONS"))
        self.bad(method, host, f"/{route}/{token}", "wrong method")

    @task(1)
    def bad_unsubscribe_posts(self) -> None:
        host, _, token = self.host_and_token()
        self.bad(
            "POST",
            host,
            f"/u/{token[:-3]}xyz",
            "/u/ [one-click on a bad token]",
            body=b"List-Unsubscribe=One-Click",
            headers=FORM,
        )
        self.bad(
            "POST",
            host,
            f"/u/{token}",
            "/u/ [oversized form]",
            body=b"scope=all&" + b"x" * 70_000,
            headers=FORM,
        )
