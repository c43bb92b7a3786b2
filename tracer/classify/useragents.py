"""User-agent signals, in this order: Tracer's email-specific rules (mail clients, proxies,
MPP, previews, gateways, scripts), the maintained pattern lists (`patterns.py`), the
fallback rules, then the grammar rule (`grammar.py`): a user agent of no browser, webview
or mail-client grammar is a machine's (`ua:not-a-browser`).

Real traffic repeats a few hundred user agents over and over, so the answer for each
distinct string is computed once (a few dozen regex searches, the lists' trigram indexes
and alternations, the grammar) and remembered in a bounded dict.
"""

from __future__ import annotations

import contextlib
import logging
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tracer.classify.grammar import client_text, has_robot_conventions
from tracer.classify.patterns import (
    CRAWLER_USER_AGENTS,
    SOURCES,
    CrawlerList,
    ListInfo,
    PatternList,
    literal_of,
    load_list,
    read_data,
)
from tracer.classify.verdicts import NO_UA_SIGNAL, UA_BOT, UA_RANKS, Signal, signal

logger = logging.getLogger(__name__)

__all__ = ["PLAIN_BROWSER", "CrawlerList", "UserAgents", "literal_of", "shared_user_agents"]

EMAIL_RULES_FILE = "email-user-agents.toml"
# Longer user agents are judged on their first characters: no browser sends more, and it
# bounds the regex work and the memory an attacker can make the cache hold.
MAX_UA_CHARS = 1024
CACHE_MAX_ENTRIES = 65_536

# The exact shape of mainstream browsers' user agents: an OS from a short grammar, then
# only well-known product tokens. A string of this shape carries no robot's token, so it
# skips the rule and crawler searches (a cheap miss for the common case; the tests check
# that no sample of the crawler list has this shape).
_BROWSER_PRODUCTS = (
    "Version|Chrome|CriOS|FxiOS|EdgiOS|Edg|EdgA|OPR|SamsungBrowser|YaBrowser|Vivaldi"
    "|Mobile|Safari|GSA|Brave|DuckDuckGo|Ddg|Firefox"
)
PLAIN_BROWSER = re.compile(
    r"Mozilla/5\.0 \((?:"
    r"Windows NT \d+\.\d+(?:; (?:Win64|WOW64|x64|ARM64|Touch))*"
    r"|Macintosh; Intel Mac OS X \d+(?:[_.]\d+)*"
    r"|X11; (?:Ubuntu; |Fedora; )?Linux (?:x86_64|i686|aarch64)"
    r"|X11; CrOS \w+ [\d.]+"
    r"|(?:iPhone|iPad|iPod touch); CPU (?:iPhone )?OS \d+(?:_\d+)* like Mac OS X"
    r"|Linux; Android \d+(?:\.\d+)*(?:; [A-Za-z0-9 ._-]{1,40}?)?(?: Build/[\w.]+)?(?:; wv)?"
    r")(?:; rv:[\d.]+)?\) "
    r"(?:AppleWebKit/[\d.]+ \(KHTML, like Gecko\)|Gecko/\d+)"
    rf"(?: (?:{_BROWSER_PRODUCTS})(?:/[\w.]+)?)*"
)

# No browser, webview or mail-client grammar: a machine, on clicks, pages and opens alike.
NOT_A_BROWSER_SIGNAL = signal(UA_BOT, "bot", "ua:not-a-browser")

UaSignals = tuple[Signal | None, Signal | None]  # (for an open, for a click or page)
NO_SIGNALS: UaSignals = (None, None)
MISSING: UaSignals = (NO_UA_SIGNAL, NO_UA_SIGNAL)


@dataclass(frozen=True)
class Rule:
    """One email-specific rule: a pattern and the signal it gives per kind of hit."""

    name: str
    regex: re.Pattern[str]
    on_open: Signal | None
    on_click: Signal | None
    fallback: bool = False


def rule_signal(agent: str, name: str) -> Signal | None:
    if agent == "human":
        return None
    return signal(UA_RANKS[agent], agent, f"ua:{name}")


def load_email_rules(raw: dict[str, Any] | None = None) -> tuple[list[Rule], set[str]]:
    """The rules of email-user-agents.toml and the reason codes of the upstream list
    entries it excludes (`name` for the crawler list, `isbot:name`, `crawlerdetect:name`)."""
    raw = raw if raw is not None else tomllib.loads(read_data(EMAIL_RULES_FILE).decode())
    rules = [
        Rule(
            name=entry["name"],
            regex=re.compile(entry["pattern"]),
            on_open=rule_signal(entry["open"], entry["name"]),
            on_click=rule_signal(entry["click"], entry["name"]),
            fallback=bool(entry.get("fallback", False)),
        )
        for entry in raw["rules"]
    ]
    return rules, {f"ua:{name}" for name in raw.get("exclude_upstream", ())}


def load_crawler_list(exclude: set[str] = frozenset()) -> PatternList:
    return load_list(CRAWLER_USER_AGENTS, exclude)[0]


class UserAgents:
    """User agent -> (signal for an open, signal for a click), remembered per string.

    `lists` are the pattern lists consulted in order (the first is `crawlers`);
    `grammar=False` leaves the grammar rule out (the evaluation measures each part)."""

    def __init__(
        self,
        rules: list[Rule],
        lists: PatternList | Sequence[PatternList],
        cache_max: int = 0,
        grammar: bool = True,
    ) -> None:
        self.rules = [rule for rule in rules if not rule.fallback]
        self.fallback_rules = [rule for rule in rules if rule.fallback]
        self.lists = [lists] if isinstance(lists, PatternList) else list(lists)
        self.crawlers = self.lists[0] if self.lists else PatternList([], [])
        self.grammar = grammar
        self.infos: list[ListInfo] = []
        self.cache_max = cache_max or CACHE_MAX_ENTRIES
        self.cache: dict[object, UaSignals] = {}

    def lookup(self, ua: object) -> UaSignals:
        found = self.cache.get(ua)
        return found if found is not None else self.miss(ua)

    def miss(self, ua: object) -> UaSignals:
        """Classify a string not in the cache, and remember it (clearing a full cache:
        real traffic refills the few hundred common strings within moments)."""
        text = _as_text(ua)
        result = self.classify(text[:MAX_UA_CHARS])
        cache = self.cache
        if len(cache) >= self.cache_max:
            cache.clear()
        with contextlib.suppress(TypeError):  # unhashable garbage: answer, don't remember
            cache[ua] = result
        return result

    def classify(self, ua: str) -> UaSignals:
        if not ua or ua.isspace():
            return MISSING
        if PLAIN_BROWSER.fullmatch(ua) is not None:
            return NO_SIGNALS
        found = _apply(self.rules, ua)
        if found is not None and not (found == NO_SIGNALS and has_robot_conventions(ua)):
            return found  # a mail client's rule yields to a robot's contact URL
        # A person's client: robot names are searched in its products only, not in the
        # device model names of its platform comment.
        products = client_text(ua) if self.grammar else ua
        for patterns in self.lists:
            robot = patterns.match(ua if products is None else products)
            if robot is not None:
                return (robot, robot)
        found = _apply(self.fallback_rules, ua)
        if found is not None:
            return found
        if products is None:
            return (NOT_A_BROWSER_SIGNAL, NOT_A_BROWSER_SIGNAL)
        return NO_SIGNALS


def _apply(rules: list[Rule], ua: str) -> UaSignals | None:
    """The best signals of the rules that match, None when none does. A rule can match
    and still give no signal (agent "human"): that stops the search all the same."""
    on_open = on_click = None
    matched = False
    for rule in rules:
        if rule.regex.search(ua) is None:
            continue
        matched = True
        on_open = _better(on_open, rule.on_open)
        on_click = _better(on_click, rule.on_click)
    return (on_open, on_click) if matched else None


def _better(current: Signal | None, candidate: Signal | None) -> Signal | None:
    if candidate is None:
        return current
    if current is None or candidate.rank < current.rank:
        return candidate
    return current


def _as_text(ua: object) -> str:
    if isinstance(ua, str):
        return ua
    if isinstance(ua, bytes | bytearray):
        return bytes(ua).decode("latin-1")  # HTTP header bytes: every byte maps
    return ""  # None or garbage: as if the header were missing


_shared: UserAgents | None = None


def build_user_agents(
    sources: Sequence[str] = SOURCES, grammar: bool = True, rules: bool = True
) -> UserAgents:
    """User-agent signals from the email rules (unless `rules` is False), the named
    pattern lists (in SOURCES order) and the grammar rule."""
    email_rules, exclude = load_email_rules()
    loaded = [load_list(source, exclude) for source in SOURCES if source in sources]
    found = UserAgents(email_rules if rules else [], [p for p, _ in loaded], grammar=grammar)
    found.infos = [info for _, info in loaded]
    return found


def shared_user_agents() -> UserAgents:
    """The process-wide instance: every classifier shares the rules and the cache."""
    global _shared
    if _shared is None:
        _shared = build_user_agents()
        logger.debug(
            "Loaded %d email user-agent rules and %s.",
            len(_shared.rules) + len(_shared.fallback_rules),
            ", ".join(f"{i.patterns} patterns of {i.release}" for i in _shared.infos),
        )
    return _shared
