"""Verdicts, signals and the one precedence order that turns signals into a verdict.

A *signal* is one observation about a request (its network, its user agent, its method,
its timing) with the agent it points to. Every signal found goes into the verdict as a
reason code; the agent comes from the signal of highest precedence. Ranks are fixed here
so that the result never depends on the order in which signals were found.
"""

from __future__ import annotations

from typing import NamedTuple


class Verdict(NamedTuple):
    agent: str  # one of tracer.events.AGENTS: human bot scanner mpp proxy preview
    reasons: tuple[str, ...]  # reason codes, highest precedence first


# Precedence, highest first. The agent of a verdict is the agent of its best-ranked signal.
CANARY = 0  # the hidden canary link: no person can see it
NET_SCANNER = 1  # a security vendor's network
UA_SCANNER = 2  # a security gateway's or link checker's user agent
MPP = 3  # Apple Mail Privacy Protection (network or user agent)
PROXY = 4  # Gmail / Yahoo image proxies (network or user agent)
PREVIEW = 5  # link-preview fetchers of chat apps
UA_BOT = 6  # crawlers, HTTP libraries, headless browsers
HEAD = 7  # HEAD request: link checkers
FAST = 8  # clicked sooner after sending than a person could
CLOUD_SCAN = 9  # clicked soon after sending from hosting/cloud address space
BURST = 10  # several links of one message clicked within a moment
NO_UA = 11  # no User-Agent header at all
CLOUD = 12  # a later click from hosting/cloud address space: noted; a person by default

RANK_NAMES = {
    CANARY: "canary",
    NET_SCANNER: "scanner network",
    UA_SCANNER: "scanner user agent",
    MPP: "mpp",
    PROXY: "proxy",
    PREVIEW: "preview",
    UA_BOT: "bot user agent",
    HEAD: "head",
    FAST: "fast_click",
    CLOUD_SCAN: "cloud scan",
    BURST: "burst",
    NO_UA: "no_ua",
    CLOUD: "cloud",
}

# Rank of a user-agent or network signal by the agent it points to.
UA_RANKS = {"scanner": UA_SCANNER, "mpp": MPP, "proxy": PROXY, "preview": PREVIEW, "bot": UA_BOT}
NET_RANKS = {"scanner": NET_SCANNER, "mpp": MPP, "proxy": PROXY, "preview": PREVIEW, "bot": UA_BOT}

# No signal at all: a person, and the verdict still says why. (A person's verdict may also
# carry a note that changes nothing, such as `cloud:<provider>`.)
HUMAN = Verdict("human", ("no_signal",))
MEMO_MAX_ENTRIES = 65_536


class Signal:
    """One observation: its rank, the agent it points to and its reason code. Signals are
    made once (per rule, vendor, flag) and compared by identity, so a combination of them
    is a cheap dict key; `alone` is the verdict of the signal by itself."""

    __slots__ = ("agent", "alone", "rank", "reason")

    def __init__(self, rank: int, agent: str, reason: str) -> None:
        self.rank = rank
        self.agent = agent
        self.reason = reason
        self.alone = Verdict(agent, (reason,))

    def order(self) -> tuple[int, str, str]:
        return (self.rank, self.agent, self.reason)

    def __lt__(self, other: Signal) -> bool:
        return self.order() < other.order()

    def __repr__(self) -> str:
        return f"Signal({self.rank}, {self.agent!r}, {self.reason!r})"


def signal(rank: int, agent: str, reason: str) -> Signal:
    return Signal(rank, agent, reason)


def precedence(signals: list[Signal] | tuple[Signal, ...]) -> Verdict:
    """The verdict of signals: the agent of the best-ranked one, every reason code in
    precedence order (ties: by agent, then reason), whatever order they came in."""
    ranked = sorted(signals, key=Signal.order)
    return Verdict(ranked[0].agent, tuple(s.reason for s in ranked))


class Combiner:
    """`precedence`, remembered per combination of signals (few distinct ones occur)."""

    __slots__ = ("memo",)

    def __init__(self) -> None:
        self.memo: dict[tuple[Signal, ...], Verdict] = {}

    def __call__(self, signals: list[Signal]) -> Verdict:
        if len(signals) == 1:
            return signals[0].alone
        key = tuple(signals)
        found = self.memo.get(key)
        if found is None:
            if len(self.memo) >= MEMO_MAX_ENTRIES:
                self.memo.clear()
            found = self.memo[key] = precedence(key)
        return found


# Signals that do not depend on data files.
CANARY_SIGNAL = signal(CANARY, "scanner", "canary")
HEAD_CLICK_SIGNAL = signal(HEAD, "scanner", "head")
HEAD_OTHER_SIGNAL = signal(HEAD, "bot", "head")
FAST_SIGNAL = signal(FAST, "scanner", "fast_click")
BURST_SIGNAL = signal(BURST, "scanner", "burst")
NO_UA_SIGNAL = signal(NO_UA, "bot", "no_ua")
