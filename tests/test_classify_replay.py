"""Replaying stored hits through today's classifier (what `tracer reclassify` does)."""

from __future__ import annotations

import msgspec

from tests.store.events import make_event
from tests.support import EXAMPLE_BRANDS
from tracer.brands import load_brands
from tracer.classify.replay import Replay, VerdictDeriver

NORTHJOBS = load_brands(EXAMPLE_BRANDS).get("northjobs")
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def test_changed_unchanged_and_kept_events_are_told_apart() -> None:
    stale = make_event("click", ua="curl/8.5.0", ip="93.184.216.0", agent="human",
                       reasons=["no_signal"], ts=1000.0, sent_ts=0.0)  # fmt: skip
    right = make_event("click", ua=CHROME, ip="93.184.216.0", agent="human",
                       reasons=["no_signal"], ts=1000.0, sent_ts=0.0, client="Chrome",
                       client_type="browser", os="Windows", device="desktop")  # fmt: skip
    ua_not_stored = make_event("click", ua="", ip="93.184.216.0", agent="bot",
                               reasons=["ua:curl"], bot=True)  # fmt: skip
    ip_dropped = make_event("open", ua=CHROME, ip="", agent="scanner",
                            reasons=["net:mimecast"], bot=True)  # fmt: skip
    outcome = Replay.for_brand(NORTHJOBS)([stale, right, ua_not_stored, ip_dropped])
    assert [(old.id, new.agent, new.reasons, new.bot) for old, new in outcome.changed] == [
        (stale.id, "bot", ["ua:curl"], True)
    ]
    assert outcome.unchanged == 1 and outcome.kept == 2


def test_a_missing_user_agent_that_was_missing_is_replayed() -> None:
    """`no_ua` says the header was absent, not that the brand dropped it."""
    event = make_event("open", ua="", ip="17.58.63.0", agent="bot", reasons=["no_ua"], bot=True)
    changed = Replay.for_brand(NORTHJOBS)([event]).changed
    assert [(new.agent, new.reasons) for _, new in changed] == [("mpp", ["net:apple", "no_ua"])]


def test_click_timing_and_the_canary_are_replayed() -> None:
    derive = VerdictDeriver(NORTHJOBS)
    fast = make_event("click", ua=CHROME, ip="93.184.216.0", ts=1000.5, sent_ts=1000.0,
                      agent="human", reasons=["no_signal"])  # fmt: skip
    assert derive(fast) == {"agent": "scanner", "reasons": ["fast_click"], "bot": True}
    # The canary flag is not stored; its reason code is, and it carries over
    canary = msgspec.structs.replace(
        fast, ts=5000.0, reasons=["canary", "ua:curl"], agent="scanner", bot=True
    )
    assert derive(canary) == {"agent": "scanner", "reasons": ["canary"], "bot": True}
    settled = msgspec.structs.replace(canary, reasons=["canary"])
    assert derive(settled) == {}


def test_the_brand_policy_decides_the_bot_flag() -> None:
    """coastlinejobs counts only `human` as people: a proxy open there is `bot`."""
    coastline = load_brands(EXAMPLE_BRANDS).get("coastlinejobs")
    proxy = make_event("open", brand="coastlinejobs", ip="93.184.216.0", agent="proxy",
                       reasons=["ua:gmail-image-proxy"], bot=False,
                       ua="Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 "
                          "(via ggpht.com GoogleImageProxy)")  # fmt: skip
    assert VerdictDeriver(coastline)(proxy) == {
        "agent": "proxy", "reasons": ["ua:gmail-image-proxy"], "bot": True
    }  # fmt: skip
