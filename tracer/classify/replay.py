"""Recompute what the pipeline derives from a stored hit, with today's classifier.

`tracer reclassify` feeds stored events through a `Replay`, in stored (time) order, and
writes back those whose derived fields changed. Each `Deriver` recomputes some fields of
an event from its stored inputs, seeing what the derivers before it changed: the verdict
(`agent`, `reasons`, `bot`), then the client details parsed from the user agent
(`client`, `client_type`, `os`, `device`; an Apple MPP prefetch depends on the verdict).
The country is kept: it came from the full address, which is not stored.

What was not stored cannot be recomputed: a brand that drops user agents
(`privacy.store_user_agent = false`) or addresses (`ipv4_prefix = 0`) stores events whose
verdict depended on them; such events are kept as they are and counted (`kept`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import msgspec

from tracer.brands import Brand
from tracer.classify.classifier import Classifier
from tracer.classify.verdicts import Verdict
from tracer.enrichment import ClientEnricher
from tracer.events import Event

# Event types that carry a verdict (`sent` and `conversion` are not hits).
REPLAYED_TYPES = ("open", "click", "unsubscribe_view", "unsubscribe")

# An event in, the fields to change out (empty: nothing to change), or None when the
# event's inputs were not stored and it must be kept as it is.
Deriver = Callable[[Event], dict[str, object] | None]


class VerdictDeriver:
    """The verdict of a stored hit: agent, reasons and the `bot` flag, with the brand's
    bot policy. Clicks replay their timing (`ts - sent_ts`), the canary (kept from the
    stored reasons: the flag itself is not stored) and bursts (the hits come in stored
    order, so all clicks of a message are in view)."""

    def __init__(self, brand: Brand, classifier: Classifier | None = None) -> None:
        self.classifier = classifier or _own_classifier(brand)
        self.human_agents = frozenset(brand.bot_policy.human_agents)

    def __call__(self, event: Event) -> dict[str, object] | None:
        if not _inputs_stored(event):
            return None
        verdict = self.verdict(event)
        bot = verdict.agent not in self.human_agents
        reasons = list(verdict.reasons)
        if event.agent == verdict.agent and event.reasons == reasons and event.bot == bot:
            return {}
        return {"agent": verdict.agent, "reasons": reasons, "bot": bot}

    def verdict(self, event: Event) -> Verdict:
        classifier = self.classifier
        if event.type == "click":
            age_s = event.ts - event.sent_ts if event.sent_ts else None
            return classifier.click(
                event.ip,
                event.ua,
                event.method,
                age_s,
                "canary" in event.reasons,
                event.message_id,
                event.link,
                event.ts,
            )
        if event.type == "open":
            return classifier.open(event.ip, event.ua, event.method)
        return classifier.page(event.ip, event.ua, event.method)


class ClientDeriver:
    """The client details of a stored hit, parsed again from its stored user agent with
    today's rules (and the brand's privacy settings). A hit whose user agent was not
    stored keeps the details it got when it arrived."""

    def __init__(self, brand: Brand, enricher: ClientEnricher | None = None) -> None:
        self.brand = brand.id
        self.enricher = enricher or ClientEnricher([brand])

    def __call__(self, event: Event) -> dict[str, object]:
        if not event.ua and event.agent != "mpp":
            return {}
        found = self.enricher.lookup(self.brand, event.ua, "", event.agent)
        changes: dict[str, object] = {}
        for name in ("client", "client_type", "os", "device"):
            value = getattr(found, name)
            if getattr(event, name) != value:
                changes[name] = value
        return changes


def _own_classifier(brand: Brand) -> Classifier:
    """The brand's classifier with burst tracking of its own (the shared instance's
    tracker belongs to live traffic)."""
    policy = brand.bot_policy
    return Classifier(
        policy.networks,
        policy.ignore_vendors,
        policy.min_click_delay_s,
        cloud_scan_window_s=policy.cloud_scan_window_s,
        cloud_clicks_are_scanners=policy.cloud_clicks_are_scanners,
    )


def _inputs_stored(event: Event) -> bool:
    """False when the stored verdict rests on an input the brand did not store."""
    ua_dropped = not event.ua and "no_ua" not in event.reasons
    ip_dropped = not event.ip and any(r.startswith(("net:", "cloud")) for r in event.reasons)
    return not (ua_dropped or ip_dropped)


@dataclass
class Outcome:
    """What a replay found: (old, new) pairs of changed events, and counts."""

    changed: list[tuple[Event, Event]] = field(default_factory=list)
    unchanged: int = 0
    kept: int = 0


class Replay:
    """Stored events in, changed events out, with every deriver applied in turn."""

    def __init__(self, derivers: Iterable[Deriver]) -> None:
        self.derivers = list(derivers)

    @classmethod
    def for_brand(cls, brand: Brand) -> Replay:
        return cls([VerdictDeriver(brand), ClientDeriver(brand)])

    def __call__(self, events: Iterable[Event]) -> Outcome:
        outcome = Outcome()
        for event in events:
            changes: dict[str, object] = {}
            kept = False
            for derive in self.derivers:
                current = msgspec.structs.replace(event, **changes) if changes else event
                found = derive(current)
                if found is None:
                    kept = True
                    break
                changes.update(found)
            if kept:
                outcome.kept += 1
            elif changes:
                outcome.changed.append((event, msgspec.structs.replace(event, **changes)))
            else:
                outcome.unchanged += 1
        return outcome
