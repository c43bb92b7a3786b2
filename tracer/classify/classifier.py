"""The classifier the edge calls on every hit: signals in, one verdict out, never an error.

Each call gathers the signals that apply (canary link, vendor network, user agent, HEAD,
click timing, burst, missing User-Agent) and `verdicts.precedence` picks the agent by the
fixed precedence. The work per call is a dict lookup for the user agent (cached per
distinct string), an address parse and a bisect for the network, and a few comparisons.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from tracer.brands import BotPolicy, Brand
from tracer.classify.bursts import BurstTracker
from tracer.classify.networks import (
    CLOUD_AGENT,
    NetworkTable,
    load_shipped_vendors,
    vendors_for,
)
from tracer.classify.useragents import UserAgents, shared_user_agents
from tracer.classify.verdicts import (
    BURST_SIGNAL,
    CANARY_SIGNAL,
    CLOUD,
    CLOUD_SCAN,
    FAST_SIGNAL,
    HEAD_CLICK_SIGNAL,
    HEAD_OTHER_SIGNAL,
    HUMAN,
    UA_BOT,
    Combiner,
    Signal,
    Verdict,
    signal,
)

logger = logging.getLogger(__name__)

DEFAULT_MIN_CLICK_DELAY_S = BotPolicy().min_click_delay_s
DEFAULT_CLOUD_SCAN_WINDOW_S = BotPolicy().cloud_scan_window_s
# Answer when classification itself fails (a bug): keep the hit as a person's, marked, so
# nothing is lost and the verdict can be recomputed.
ERROR_VERDICT = Verdict("human", ("classify_error",))

NetworkKey = tuple[tuple[tuple[str, tuple[str, ...]], ...], tuple[str, ...]]
_tables: dict[tuple[NetworkKey, bool], NetworkTable] = {}


def network_key(
    networks: Mapping[str, Iterable[str]] | None, ignore_vendors: Iterable[str]
) -> NetworkKey:
    extra = tuple(sorted((name, tuple(cidrs)) for name, cidrs in (networks or {}).items()))
    return extra, tuple(sorted(set(ignore_vendors)))


def network_table(key: NetworkKey, hosting: bool = True) -> NetworkTable:
    """The table for a network configuration, built once per process. Hosting/cloud
    ranges only say something about clicks: opens and pages look addresses up in a
    table without them, which answers most addresses at the first octet."""
    table = _tables.get((key, hosting))
    if table is None:
        extra, ignore = key
        vendors = vendors_for(load_shipped_vendors(), dict(extra), ignore)
        if not hosting:
            vendors = [v for v in vendors if v.agent != CLOUD_AGENT]
        table = _tables[key, hosting] = NetworkTable(vendors)
    return table


class Classifier:
    """Classifies clicks, opens and unsubscribe-page hits as human or machine traffic.

    `Classifier()` applies the shipped data only; `Classifier.for_brand(brand)` adds the
    brand's bot policy (extra vendor networks, ignored vendors, minimum click delay) and
    returns one shared instance per distinct policy. All instances share the user-agent
    rules and their cache; instances with the same network configuration share the
    network table.
    """

    _instances: ClassVar[dict[tuple, Classifier]] = {}

    def __init__(
        self,
        networks: Mapping[str, Iterable[str]] | None = None,
        ignore_vendors: Iterable[str] = (),
        min_click_delay_s: float = DEFAULT_MIN_CLICK_DELAY_S,
        user_agents: UserAgents | None = None,
        cloud_scan_window_s: float = DEFAULT_CLOUD_SCAN_WINDOW_S,
        cloud_clicks_are_scanners: bool = False,
    ) -> None:
        """`cloud_scan_window_s`: a click from hosting/cloud address space this soon after
        the link was made is a scanner's (0 turns the rule off); later ones are noted and
        count as a person's unless `cloud_clicks_are_scanners`."""
        self.min_click_delay_s = float(min_click_delay_s)
        self.cloud_scan_window_s = float(cloud_scan_window_s)
        self.cloud_clicks_are_scanners = bool(cloud_clicks_are_scanners)
        key = network_key(networks, ignore_vendors)
        self.table = network_table(key)
        self._open_network = network_table(key, hosting=False).lookup
        self._cloud_scan, self._cloud_later = _cloud_signals(
            self.table, self.cloud_clicks_are_scanners
        )
        self.user_agents = user_agents or shared_user_agents()
        self.bursts = BurstTracker()
        # Bound once: the hot path calls these without attribute lookups.
        self._ua_cached = self.user_agents.cache.get
        self._ua_miss = self.user_agents.miss
        hosting_off = self.cloud_scan_window_s <= 0 and not self.cloud_clicks_are_scanners
        # With the hosting rule off, clicks skip the hosting ranges too (and their notes).
        self._network = self._open_network if hosting_off else self.table.lookup
        self._observe = self.bursts.observe
        self._combine = Combiner()
        self._error_logged = False

    @classmethod
    def for_brand(cls, brand: Brand) -> Classifier:
        policy = brand.bot_policy
        key = (
            network_key(policy.networks, policy.ignore_vendors),
            policy.min_click_delay_s,
            policy.cloud_scan_window_s,
            policy.cloud_clicks_are_scanners,
        )
        found = cls._instances.get(key)
        if found is None:
            found = cls(
                policy.networks,
                policy.ignore_vendors,
                policy.min_click_delay_s,
                cloud_scan_window_s=policy.cloud_scan_window_s,
                cloud_clicks_are_scanners=policy.cloud_clicks_are_scanners,
            )
            cls._instances[key] = found
        return found

    def click(
        self,
        ip: str,
        ua: str,
        method: str,
        age_s: float | None = None,
        canary: bool = False,
        message_id: str = "",
        link: int = 0,
        now: float | None = None,
    ) -> Verdict:
        """A hit on a tracked link. `age_s`: seconds since the link was made; `canary`:
        the hidden link; `message_id`/`link`/`now` (Unix s) feed burst detection."""
        try:
            known = self._ua_cached(ua)
            ua_signal = (known if known is not None else self._ua_miss(ua))[1]
            network = self._network(ip)[1]
            if network and network[-1].rank == CLOUD:  # hosting space: sorted last
                network = self._cloud_timed(network, age_s)
            fast = age_s is not None and 0.0 <= age_s < self.min_click_delay_s
            burst = message_id and self._observe(
                message_id, link, time.time() if now is None else now
            )
            if method == "GET" and not (canary or fast or burst):  # the common cases
                if not network:
                    return HUMAN if ua_signal is None else ua_signal.alone
                if ua_signal is None and len(network) == 1:
                    return network[0].alone
            signals = list(network)
            if ua_signal is not None:
                signals.append(ua_signal)
            if canary:
                signals.append(CANARY_SIGNAL)
            if method != "GET" and _is_head(method):
                signals.append(HEAD_CLICK_SIGNAL)
            if fast:
                signals.append(FAST_SIGNAL)
            if burst:
                signals.append(BURST_SIGNAL)
            return self._combine(signals) if signals else HUMAN
        except Exception:
            ip, ua, method, age_s, message_id, link, now = _clean(
                ip, ua, method, age_s, message_id, link, now
            )
            return self._retry(
                self.click, (ip, ua, method, age_s, bool(canary), message_id, link, now)
            )

    def _cloud_timed(self, network: tuple[Signal, ...], age_s: float | None) -> tuple:
        """A click's network signals with its hosting/cloud signal made what the click's
        timing says: a scanner's soon after sending, else a note (or a scanner's, when the
        brand opted in)."""
        soon = age_s is not None and 0.0 <= age_s < self.cloud_scan_window_s
        swap = self._cloud_scan if soon else self._cloud_later
        return tuple(swap.get(s, s) for s in network)

    def open(self, ip: str, ua: str, method: str, age_s: float | None = None) -> Verdict:
        """A hit on an open pixel. (`age_s` is accepted for symmetry; no timing rule
        applies to opens: proxies and MPP fetch at delivery or at reading alike.)"""
        try:
            known = self._ua_cached(ua)
            ua_signal = (known if known is not None else self._ua_miss(ua))[0]
            network = self._open_network(ip)[0]
            if method == "GET":  # the common cases
                if not network:
                    return HUMAN if ua_signal is None else ua_signal.alone
                if ua_signal is None and len(network) == 1:
                    return network[0].alone
            signals = list(network)
            if ua_signal is not None:
                signals.append(ua_signal)
            if method != "GET" and _is_head(method):
                signals.append(HEAD_OTHER_SIGNAL)
            return self._combine(signals) if signals else HUMAN
        except Exception:
            return self._retry(self.open, _clean(ip, ua, method, age_s)[:4])

    def page(self, ip: str, ua: str, method: str) -> Verdict:
        """A hit on the unsubscribe page: GET (the page) or POST (RFC 8058 one-click, or
        the page's form). One-click POSTs are sent by mailbox providers' servers, with
        library user agents or none, on the reader's behalf: for a POST the bot-UA and
        missing-UA signals do not apply; scanner, preview and network signals still do."""
        try:
            known = self._ua_cached(ua)
            ua_signal = (known if known is not None else self._ua_miss(ua))[1]
            signals = list(self._open_network(ip)[1])
            upper = method if method in ("GET", "POST") else _upper(method)
            if ua_signal is not None and not (upper == "POST" and ua_signal.rank >= UA_BOT):
                signals.append(ua_signal)
            if upper == "HEAD":
                signals.append(HEAD_OTHER_SIGNAL)
            return self._combine(signals) if signals else HUMAN
        except Exception:
            return self._retry(self.page, _clean(ip, ua, method)[:3])

    def _retry(self, method: Any, request: tuple) -> Verdict:
        """Classify again with arguments coerced to their types; if even that fails (a
        bug), log it once and answer ERROR_VERDICT."""
        try:
            verdict = method(*request)
            if verdict is not ERROR_VERDICT:
                return verdict
        except Exception:
            pass
        if not self._error_logged:
            self._error_logged = True
            logger.exception("Classifying %r failed; answering %s.", request, ERROR_VERDICT)
        return ERROR_VERDICT


def _cloud_signals(
    table: NetworkTable, later_is_scanner: bool
) -> tuple[dict[Signal, Signal], dict[Signal, Signal]]:
    """(hosting signal -> its scanner's signal soon after sending, -> its signal later)."""
    soon: dict[Signal, Signal] = {}
    later: dict[Signal, Signal] = {}
    for _, click in table.values4 + table.values6:
        for found in click:
            if found.rank == CLOUD and found not in soon:
                name = found.reason.partition(":")[2]
                soon[found] = _shared_signal(CLOUD_SCAN, "scanner", f"cloud-scan:{name}")
                if later_is_scanner:
                    later[found] = _shared_signal(CLOUD_SCAN, "scanner", found.reason)
    return soon, later


_SHARED_SIGNALS: dict[tuple[int, str, str], Signal] = {}


def _shared_signal(rank: int, agent: str, reason: str) -> Signal:
    """One Signal object per (rank, agent, reason), so combinations memoize."""
    key = (rank, agent, reason)
    found = _SHARED_SIGNALS.get(key)
    if found is None:
        found = _SHARED_SIGNALS[key] = signal(rank, agent, reason)
    return found


def _upper(method: object) -> str:
    return method.upper() if isinstance(method, str) else ""


def _is_head(method: object) -> bool:
    return isinstance(method, str) and method.upper() == "HEAD"


def _clean(
    ip: object,
    ua: object,
    method: object,
    age_s: object = None,
    message_id: object = "",
    link: object = 0,
    now: object = None,
) -> tuple[str, str, str, float | None, str, int, float | None]:
    """Arguments of any type, coerced to what the classifier expects (garbage -> empty)."""
    text_ua = (
        ua
        if isinstance(ua, str)
        else bytes(ua).decode("latin-1")
        if isinstance(ua, bytes | bytearray)
        else ""
    )
    return (
        ip if isinstance(ip, str) else "",
        text_ua,
        method if isinstance(method, str) else "GET",
        _number(age_s),
        message_id if isinstance(message_id, str) else str(message_id or ""),
        link if isinstance(link, int) else 0,
        _number(now),
    )


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number == number else None  # NaN -> unknown
