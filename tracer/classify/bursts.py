"""Burst detection: several distinct links of one message clicked within a moment.

A person reads, then clicks one link (maybe two); a scanner that vets a message follows
every link in it at once. The tracker keeps, per message, when its current window began
and which links were clicked in it. Memory is bounded: past `max_messages` the expired
windows are dropped, and if that is not enough, all of them (a burst can then go unseen
for one window, never misreported). Expired windows are also dropped every
`PRUNE_EVERY_S` of hit time, so the tracker holds about the messages clicked in the last
few seconds, not every message clicked until the cap (at a steady rate of first clicks it
would otherwise grow for minutes, which looks like a leak from outside).

It is per process, and the process is the batcher that owns the message's queue shard:
the edge puts every hit of a message on one shard, so all of a message's clicks meet in
one tracker whichever edge worker answered them. Verdicts are stored with their reasons
and can be recomputed over the whole history (`tracer reclassify`).
"""

from __future__ import annotations

WINDOW_S = 2.0
MIN_DISTINCT_LINKS = 3
MAX_MESSAGES = 65_536
PRUNE_EVERY_S = 10.0


class BurstTracker:
    __slots__ = ("max_messages", "min_links", "pruned_at", "recent", "window_s")

    def __init__(
        self,
        window_s: float = WINDOW_S,
        min_links: int = MIN_DISTINCT_LINKS,
        max_messages: int = MAX_MESSAGES,
    ) -> None:
        self.window_s = window_s
        self.min_links = min_links
        self.max_messages = max_messages
        # message id -> (window start in s, the link clicked, or the set of links clicked)
        self.recent: dict[str, tuple] = {}
        # Hit time of the last pass over `recent` dropping expired windows.
        self.pruned_at = 0.0

    def observe(self, message_id: str, link: int, now: float) -> bool:
        """Record a click; True when it makes `min_links` distinct links of the message
        clicked within `window_s` of the first of them."""
        recent = self.recent
        entry = recent.get(message_id)
        if entry is None or not 0.0 <= now - entry[0] <= self.window_s:
            if entry is None and (
                len(recent) >= self.max_messages or not 0.0 <= now - self.pruned_at < PRUNE_EVERY_S
            ):
                self._make_room(now)
            # (window start, first link): most messages never see a second click
            self.recent[message_id] = (now, link)
            return False
        links = entry[1]
        if links.__class__ is not set:
            if links == link:
                return False
            links = {links}
            self.recent[message_id] = (entry[0], links)
        links.add(link)
        return len(links) >= self.min_links

    def _make_room(self, now: float) -> None:
        self.pruned_at = now
        window = self.window_s
        live = {k: v for k, v in self.recent.items() if 0 <= now - v[0] <= window}
        self.recent = live if len(live) < self.max_messages * 3 // 4 else {}

    def __len__(self) -> int:
        return len(self.recent)
