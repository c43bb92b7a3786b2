"""User-agent signals: Tracer's email-specific rules first, then the maintained crawler list.

Real traffic repeats a few hundred user agents over and over, so the answer for each
distinct string is computed once (a few dozen regex searches and one search of the
crawler list's pre-compiled alternation) and remembered in a bounded dict.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from tracer.classify.verdicts import NO_UA_SIGNAL, UA_RANKS, Signal, signal

logger = logging.getLogger("tracer.classify")

EMAIL_RULES_FILE = "email-user-agents.toml"
CRAWLERS_FILE = "crawler-user-agents.json"
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

# The agent a crawler-list entry points to, by its upstream tags.
CRAWLER_TAG_AGENTS = {"social-preview": "preview", "scanner": "scanner"}

UaSignals = tuple[Signal | None, Signal | None]  # (for an open, for a click or page)
NO_SIGNALS: UaSignals = (None, None)
MISSING: UaSignals = (NO_UA_SIGNAL, NO_UA_SIGNAL)


def read_data(name: str) -> bytes:
    return resources.files("tracer").joinpath("data", name).read_bytes()


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
    """The rules of email-user-agents.toml and the upstream names it excludes."""
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
    return rules, set(raw.get("exclude_upstream", ()))


_REGEX_META = frozenset(".^$*+?{}[]|()")


def literal_of(pattern: str) -> tuple[str, bool, bool] | None:
    """(text, anchored at start, anchored at end) when `pattern` is a plain string with
    optional ^/$ anchors and escaped punctuation, as nearly all crawler patterns are."""
    at_start = pattern.startswith("^")
    body = pattern[1:] if at_start else pattern
    at_end = body.endswith("$") and not body.endswith("\\$")
    body = body[:-1] if at_end else body
    text: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            if i + 1 < len(body) and not body[i + 1].isalnum():
                text.append(body[i + 1])
                i += 2
                continue
            return None  # \d, \s, ...: a real regex
        if char in _REGEX_META:
            return None
        text.append(char)
        i += 1
    return "".join(text), at_start, at_end


class CrawlerList:
    """The maintained crawler list. Plain-string patterns (all but a few dozen) are found
    through an index of their first three characters, so a miss costs one dict lookup per
    position of the user agent instead of ~1,500 regex branches; the rest are searched as
    one pre-compiled alternation. The first entry in list order that matches names it."""

    def __init__(self, entries: list[dict[str, Any]], exclude: set[str] = frozenset()) -> None:
        self.entries = [e for e in entries if e["name"] not in exclude]
        self.signals = [self._signal(e) for e in self.entries]
        self.by_trigram: dict[str, list[tuple[int, str, bool, bool]]] = {}
        self.regexes: list[tuple[int, re.Pattern[str]]] = []
        for index, entry in enumerate(self.entries):
            literal = literal_of(entry["pattern"])
            if literal is not None and len(literal[0]) >= 3:
                text, at_start, at_end = literal
                self.by_trigram.setdefault(text[:3], []).append((index, text, at_start, at_end))
            else:
                self.regexes.append((index, re.compile(entry["pattern"])))
        alternation = "|".join(f"(?:{regex.pattern})" for _, regex in self.regexes)
        self.any_regex = re.compile(alternation) if alternation else None

    @staticmethod
    def _signal(entry: dict[str, Any]) -> Signal:
        tags = entry.get("tags") or ()
        agent = next((CRAWLER_TAG_AGENTS[t] for t in tags if t in CRAWLER_TAG_AGENTS), "bot")
        return signal(UA_RANKS[agent], agent, f"ua:{entry['name']}")

    def match(self, ua: str) -> Signal | None:
        """The signal of the first entry (in list order) that matches, or None."""
        index = self._first_literal(ua)
        if self.any_regex is not None and self.any_regex.search(ua) is not None:
            for candidate, regex in self.regexes:
                if index is not None and candidate > index:
                    break
                if regex.search(ua) is not None:
                    index = candidate
                    break
        return None if index is None else self.signals[index]

    def _first_literal(self, ua: str) -> int | None:
        best = None
        grams = self.by_trigram
        size = len(ua)
        for position in range(size - 2):
            candidates = grams.get(ua[position : position + 3])
            if candidates is None:
                continue
            for index, text, at_start, at_end in candidates:
                if (
                    (best is None or index < best)
                    and ua.startswith(text, position)
                    and (not at_start or position == 0)
                    and (not at_end or position + len(text) == size)
                ):
                    best = index
        return best


def load_crawler_list(exclude: set[str] = frozenset()) -> CrawlerList:
    return CrawlerList(json.loads(read_data(CRAWLERS_FILE))["entries"], exclude)


class UserAgents:
    """User agent -> (signal for an open, signal for a click), remembered per string."""

    def __init__(self, rules: list[Rule], crawlers: CrawlerList, cache_max: int = 0) -> None:
        self.rules = [rule for rule in rules if not rule.fallback]
        self.fallback_rules = [rule for rule in rules if rule.fallback]
        self.crawlers = crawlers
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
        if found is not None:
            return found
        crawler = self.crawlers.match(ua)
        if crawler is not None:
            return (crawler, crawler)
        return _apply(self.fallback_rules, ua) or NO_SIGNALS


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


def shared_user_agents() -> UserAgents:
    """The process-wide instance: every classifier shares the rules and the cache."""
    global _shared
    if _shared is None:
        rules, exclude = load_email_rules()
        _shared = UserAgents(rules, load_crawler_list(exclude))
        logger.debug(
            "Loaded %d email user-agent rules and %d crawler patterns.",
            len(rules),
            len(_shared.crawlers.entries),
        )
    return _shared
