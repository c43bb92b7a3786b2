"""`tracer reclassify --brand B [--since T] [--dry-run]`: rerun today's classifier over a
brand's stored hits.

Reads the brand's opens, clicks, unsubscribe page views and unsubscribes (from `--since`
on) in stored order, a batch at a time; recomputes each verdict (agent, reasons, `bot`)
with the current data and the brand's current bot policy; and rewrites the events whose
verdict changed, with the rollup counts (people, revenue) and unique counts they move. It
prints a before/after table per event type and agent.

It never queues a webhook: it reads and writes the event store only. It is idempotent (a
second run finds nothing to change) and safe to interrupt: every batch is applied whole
or completed by the next run, which resumes by finding the events still to change.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

from cli.instance import command_settings
from cli.moments import parse_moment
from tracer.brands import Brand, load_brands
from tracer.classify.replay import REPLAYED_TYPES, Replay
from tracer.errors import ConfigurationError
from tracer.store import EventStore, StoreMissing, StoreUnavailable, open_store

DEFAULT_BATCH = 2_000


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reclassify",
        help="rerun the classifier over a brand's stored events (never re-sends webhooks)",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument("--brand", required=True, help="brand id")
    parser.add_argument(
        "--since",
        default="",
        help="only events from then on: an ISO date or time (UTC unless it says), Unix "
        "seconds, or an age such as 30d, 12h (default: all stored events)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would change; write nothing"
    )
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH, help="events read and written at once"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = command_settings()
    brands = load_brands(settings.config_path)
    if args.brand not in brands.by_id:
        known = ", ".join(sorted(brands.by_id))
        raise ConfigurationError(f"--brand: {args.brand!r} is not a brand ({known})")
    if args.batch_size < 1:
        raise ConfigurationError(f"--batch-size: {args.batch_size} must be at least 1")
    try:
        since = parse_moment(args.since)
    except ValueError as exc:
        raise ConfigurationError(f"--since: {exc}") from None
    tally = Tally()
    try:
        asyncio.run(
            reclassify(settings, brands, brands.get(args.brand), since, args, tally, sys.stderr)
        )
    except StoreMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except StoreUnavailable as exc:
        print(f"\nerror: the event store is unavailable: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"\ninterrupted after {tally.scanned:,} events ({tally.changed:,} rewritten); "
            "run the same command again to go on: rewritten events are not redone",
            file=sys.stderr,
        )
        return 130
    sys.stdout.write(tally.render(args.dry_run))
    return 0


@dataclass
class Tally:
    """Counts per (type, agent) before and after, and what happened to the events."""

    before: Counter = field(default_factory=Counter)
    after: Counter = field(default_factory=Counter)
    scanned: int = 0
    changed: int = 0
    kept: int = 0
    completed: int = 0

    def render(self, dry_run: bool) -> str:
        lines = [f"{'type':<18}{'agent':<10}{'before':>10}{'after':>10}{'change':>10}"]
        for event_type in REPLAYED_TYPES:
            agents = sorted({a for t, a in self.before | self.after if t == event_type})
            for agent in agents:
                old, new = self.before[event_type, agent], self.after[event_type, agent]
                lines.append(f"{event_type:<18}{agent:<10}{old:>10,}{new:>10,}{new - old:>+10,}")
        verb = "would be rewritten (dry run: nothing written)" if dry_run else "rewritten"
        lines += [
            "",
            f"{self.scanned:,} events read; {self.changed:,} {verb}; "
            f"{self.scanned - self.changed - self.kept:,} unchanged",
        ]
        if self.kept:
            lines.append(
                f"{self.kept:,} kept as stored: their verdict rests on a user agent or "
                "address the brand does not store"
            )
        if self.completed:
            lines.append(f"{self.completed:,} interrupted batch(es) of an earlier run completed")
        return "\n".join(lines) + "\n"


async def reclassify(
    settings, brands, brand: Brand, since: float, args, tally: Tally, out: TextIO
) -> None:
    # Reclassifying an empty store it made up would only hide a wrong data dir.
    store = await open_store(settings, brands, create=False)
    try:
        if not args.dry_run:
            tally.completed = await store.finish_reclassification(brand.id)
        total = await store.count_replayable(brand.id, since)
        await replay_all(store, brand, since, args.batch_size, args.dry_run, tally,
                         Progress(total, out))  # fmt: skip
    finally:
        await store.close()


async def replay_all(
    store: EventStore,
    brand: Brand,
    since: float,
    batch_size: int,
    dry_run: bool,
    tally: Tally,
    progress: Progress,
) -> None:
    replay = Replay.for_brand(brand)
    cursor = ""
    while True:
        events, cursor = await store.replayable_page(brand.id, since, cursor, batch_size)
        if not events:
            break
        outcome = replay(events)
        if not dry_run:
            await store.apply_reclassification(outcome.changed)
        new_agents = {new.id: new.agent for _, new in outcome.changed}
        for event in events:
            tally.before[event.type, event.agent] += 1
            tally.after[event.type, new_agents.get(event.id, event.agent)] += 1
        tally.scanned += len(events)
        tally.changed += len(outcome.changed)
        tally.kept += outcome.kept
        progress.show(tally.scanned, tally.changed)
    progress.done(tally.scanned, tally.changed)


class Progress:
    """A progress bar on a terminal; a line every tenth of the way otherwise."""

    WIDTH = 30

    def __init__(self, total: int, out: TextIO) -> None:
        self.total = total
        self.out = out
        self.tty = out.isatty()
        self.next_line = 0.1

    def show(self, done: int, changed: int) -> None:
        share = done / self.total if self.total else 1.0
        if self.tty:
            filled = int(share * self.WIDTH)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self.out.write(
                f"\r[{bar}] {done:,}/{self.total:,} events ({share:.0%}), {changed:,} changed"
            )
            self.out.flush()
        elif share >= self.next_line:
            self.out.write(f"{done:,}/{self.total:,} events ({share:.0%}), {changed:,} changed\n")
            self.out.flush()
            while self.next_line <= share:
                self.next_line += 0.1

    def done(self, done: int, changed: int) -> None:
        if self.tty and done:
            self.out.write("\n")
            self.out.flush()
