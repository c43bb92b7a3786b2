"""Who fetched a hit: the email client (or browser), its type, OS and device class, from the
User-Agent alone.

ua-parser does the heavy lifting with uap-core's maintained rules (the ua-parser-builtins
package; with ua-parser-rs installed, its native resolver runs them). Email-specific
families go on top (`tracer/data/email-clients.toml`): webmail image proxies, Apple Mail
Privacy Protection, Outlook's own agents, mail apps uap-core does not know. Robots are
named by the same user-agent rules the classifier uses, so a string the classifier calls
a bot is never reported as somebody's browser.

Parsing a new string costs tens of microseconds, so answers are remembered per string in
a bounded dict: real traffic repeats a few thousand user agents.
"""

from __future__ import annotations

import contextlib
import logging
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import ua_parser

from tracer.classify.useragents import UserAgents, read_data, shared_user_agents
from tracer.errors import ConfigurationError
from tracer.events import CLIENT_TYPES, DEVICES

logger = logging.getLogger(__name__)

CLIENTS_FILE = "email-clients.toml"
# As the classifier: longer strings are judged on their first characters, which bounds
# the regex work and what an attacker can make the cache hold.
MAX_UA_CHARS = 1024
CACHE_MAX_ENTRIES = 65_536
ROBOT_AGENTS = frozenset({"bot", "scanner", "preview"})

# Operating systems whose devices are computers, unless the string says otherwise.
DESKTOP_OS = frozenset({
    "Windows", "macOS", "Linux", "Ubuntu", "Chrome OS", "ChromeOS", "Fedora", "Debian",
    "FreeBSD", "OpenBSD", "NetBSD", "Solaris", "Mint", "Arch Linux", "Gentoo", "Red Hat",
    "SUSE", "Slackware", "Mandriva", "CentOS", "Kubuntu", "Xubuntu", "Lubuntu",
})  # fmt: skip
# Phones and tablets whose strings say which they are.
_TABLET = re.compile(
    r"iPad|[Tt]ablet|Kindle|Silk/|PlayBook|Nexus (?:7|9|10)\b|\bSM-[TPX]\d|\bGT-P\d|"
    r"Lenovo (?:TB|Tab)|MediaPad|\bKF[A-Z]{2,4}\b"
)
_MOBILE = re.compile(
    r"Mobi|iPhone|iPod|Windows Phone|IEMobile|BlackBerry|BB10|Opera Mini|KaiOS|Symbian|"
    r"\bwebOS\b|Nokia|Phone"
)
# ua-parser's OS names that read better otherwise.
OS_NAMES = {"Mac OS X": "macOS", "Mac OS": "macOS", "Other": ""}
# Browser families ua-parser names in robots' strings that copy a browser's: such a robot
# is named after the rule that recognised it instead.
_BROWSER_FAMILIES = frozenset({
    "Chrome", "Chrome Mobile", "Chrome Mobile iOS", "Firefox", "Firefox Mobile", "Safari",
    "Mobile Safari", "Edge", "IE", "Opera", "Samsung Internet", "Chromium",
})  # fmt: skip


class ClientInfo(NamedTuple):
    """What a user agent says about the reader's software and device."""

    client: str
    client_type: str
    os: str
    device: str


# No user agent at all: nothing can be said.
NO_CLIENT = ClientInfo("", "", "", "unknown")


@dataclass(frozen=True)
class ClientRule:
    """An email-specific family, tried before ua-parser."""

    name: str
    regex: re.Pattern[str]
    client: str
    client_type: str
    # None: ask ua-parser (OS) or work it out from the string (device).
    os: str | None
    device: str | None


def load_client_rules(
    raw: Mapping[str, Any] | None = None,
) -> tuple[list[ClientRule], dict[str, tuple[str, str]]]:
    """The rules and family renames of email-clients.toml; a malformed entry is a
    `ConfigurationError` naming it (the file ships with Tracer, so a test holds it valid)."""
    raw = raw if raw is not None else tomllib.loads(read_data(CLIENTS_FILE).decode())
    rules = []
    for index, entry in enumerate(raw.get("rules", ())):
        where = f"{CLIENTS_FILE}: rules[{index}] ({entry.get('name', '?')})"
        _check_choice(where, "type", entry.get("type"), CLIENT_TYPES)
        if "device" in entry:
            _check_choice(where, "device", entry["device"], DEVICES)
        try:
            regex = re.compile(entry["pattern"])
        except (KeyError, re.error) as exc:
            raise ConfigurationError(f"{where}: pattern: {exc}") from None
        rules.append(
            ClientRule(entry["name"], regex, entry["client"], entry["type"],
                       entry.get("os"), entry.get("device"))
        )  # fmt: skip
    families = {}
    for family, (client, client_type) in raw.get("families", {}).items():
        _check_choice(f"{CLIENTS_FILE}: families.{family}", "type", client_type, CLIENT_TYPES)
        families[family] = (client, client_type)
    return rules, families


def _check_choice(where: str, key: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigurationError(f"{where}: {key}: {value!r} is not one of {', '.join(choices)}")


def best_resolver() -> tuple[ua_parser.Resolver, str]:
    """ua-parser's fastest resolver installed, and its name: ua-parser-rs (native, the
    default install), google-re2, or the pure-Python one."""
    if ua_parser.RegexResolver is not None:
        return ua_parser.RegexResolver(ua_parser.load_lazy_builtins()), "ua-parser-rs"
    if ua_parser.Re2Resolver is not None:
        return ua_parser.Re2Resolver(ua_parser.load_lazy_builtins()), "re2"
    return ua_parser.BasicResolver(ua_parser.load_builtins()), "python"


class ClientParser:
    """User agent -> `ClientInfo`, remembered per string."""

    def __init__(
        self,
        rules: list[ClientRule] | None = None,
        families: dict[str, tuple[str, str]] | None = None,
        *,
        user_agents: UserAgents | None = None,
        cache_max: int = CACHE_MAX_ENTRIES,
    ) -> None:
        if rules is None or families is None:
            loaded_rules, loaded_families = load_client_rules()
            rules = loaded_rules if rules is None else rules
            families = loaded_families if families is None else families
        self.rules = rules
        self.families = families
        self.user_agents = user_agents or shared_user_agents()
        self.resolver, self.backend = best_resolver()
        self.cache_max = cache_max
        self.cache: dict[str, ClientInfo] = {}

    def __call__(self, ua: str) -> ClientInfo:
        found = self.cache.get(ua)
        return found if found is not None else self.miss(ua)

    def miss(self, ua: str) -> ClientInfo:
        """Parse a string not in the cache, and remember it (a full cache is cleared: the
        common strings are back within moments)."""
        info = self.parse(ua)
        cache = self.cache
        if len(cache) >= self.cache_max:
            cache.clear()
        with contextlib.suppress(TypeError):  # not a string: answered, not remembered
            cache[ua] = info
        return info

    def parse(self, ua: str) -> ClientInfo:
        """The uncached answer."""
        if not isinstance(ua, str) or not ua or ua.isspace():
            return NO_CLIENT
        ua = ua[:MAX_UA_CHARS]
        for rule in self.rules:
            if rule.regex.search(ua) is not None:
                return self._from_rule(rule, ua)
        result = self.resolver(ua, ua_parser.Domain.ALL)
        family = result.user_agent.family if result.user_agent else "Other"
        os_name = _os_name(result.os.family if result.os else "Other")
        device_family = result.device.family if result.device else ""
        robot = self._robot_name(ua, family, device_family)
        if robot is not None:
            return ClientInfo(robot, "robot", os_name, "unknown")
        client, client_type = self.families.get(family, (family, "browser"))
        if client == "Other":
            # Neither a known client nor a known robot: say so rather than guess a type.
            client, client_type = "Other", ""
        brand = result.device.brand if result.device else ""
        return ClientInfo(client, client_type, os_name,
                          device_class(ua, os_name, device_family, brand or ""))  # fmt: skip

    def _from_rule(self, rule: ClientRule, ua: str) -> ClientInfo:
        os_name = rule.os
        if os_name is None:
            parsed = self.resolver(ua, ua_parser.Domain.OS).os
            os_name = _os_name(parsed.family if parsed else "Other")
        device = rule.device
        if device is None:
            device = device_class(ua, os_name, "", "")
        return ClientInfo(rule.client, rule.client_type, os_name, device)

    def _robot_name(self, ua: str, family: str, device_family: str) -> str | None:
        """The robot's name when the string is a robot's: a crawler uap-core knows (device
        "Spider"), or what the classifier's user-agent rules call a bot, scanner or link
        previewer on a click. A robot whose string copies a browser's or a mail client's
        is named after the rule that recognised it."""
        signal = self.user_agents.lookup(ua)[1]
        if signal is not None and signal.agent in ROBOT_AGENTS:
            if (
                family != "Other"
                and family not in _BROWSER_FAMILIES
                and family not in self.families
            ):
                return family
            return robot_label(ua, signal.reason)
        if device_family == "Spider":
            return family if family != "Other" else "robot"
        return None


# Rules that recognise robots by shape or by a generic word rather than by name: their
# reason code says nothing a person would call the robot by.
_GENERIC_RULES = ("ua:not-a-browser", "ua:crawlerdetect:generic", "ua:isbot:")
# The first product token of a user agent (`Name/1.0`, `Name 1.0`), or the one a
# `(compatible; Name/1.0 ...)` comment carries.
_PRODUCT = re.compile(r"\(compatible; ?([^\W\d][\w.+-]{1,40})|^\W*([^\W\d][\w.+-]{1,40})")
_NOT_NAMES = frozenset({"mozilla", "compatible"})


def robot_label(ua: str, reason: str) -> str:
    """What to call a robot: its rule's name when the rule names it (`ua:blexbot`), else
    the product token of its own string (`echocrawl`, `Bun`, `Go-http-client`), else
    "robot"."""
    if not reason.startswith(_GENERIC_RULES):
        return reason.removeprefix("ua:")
    for match in _PRODUCT.finditer(ua):
        name = match.group(1) or match.group(2)
        if name and name.lower() not in _NOT_NAMES:
            return name
    return "robot"


def _os_name(family: str) -> str:
    return OS_NAMES.get(family, family)


def device_class(ua: str, os_name: str, device_family: str, device_brand: str) -> str:
    """desktop, mobile, tablet or unknown. Android tablets leave "Mobile" out of their
    strings (Google's convention), iPads say iPad (except iPadOS Safari, which sends the
    Mac's string: counted as a desktop, as nothing can tell it apart)."""
    if device_family == "iPad" or device_brand == "Generic_Android_Tablet":
        return "tablet"
    if device_family in ("iPhone", "iPod") or device_family == "Generic Smartphone":
        return "mobile"
    if _TABLET.search(ua) is not None:
        return "tablet"
    if os_name == "Android":
        return "mobile" if "Mobile" in ua else "tablet"
    if os_name == "iOS" or _MOBILE.search(ua) is not None:
        return "mobile"
    if os_name in DESKTOP_OS:
        return "desktop"
    return "unknown"


_shared: ClientParser | None = None


def shared_client_parser() -> ClientParser:
    """The process-wide parser: one set of compiled rules and one cache."""
    global _shared
    if _shared is None:
        _shared = ClientParser()
        logger.debug("Client parser ready (ua-parser backend: %s)", _shared.backend)
    return _shared
