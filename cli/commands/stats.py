"""`tracer stats --brand B [--by client|os|device|country] [--json]`: a brand's counts from
the event store, per event type or per client, OS, device class or country."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys

import orjson

from cli.instance import command_settings
from tracer.brands import load_brands
from tracer.errors import ConfigurationError
from tracer.events import EVENT_TYPES
from tracer.settings import Settings
from tracer.store import BrandStats, StoreMissing, StoreUnavailable, TypeStats, open_store
from tracer.store.dimensions import DIMENSIONS, DimensionStats

UNKNOWN_LABEL = "(unknown)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stats",
        help="counts per event type (human-only and all), uniques, revenue; or per client, "
        "OS, device or country",
    )
    parser.add_argument("--brand", required=True, help="brand id")
    parser.add_argument(
        "--by",
        choices=DIMENSIONS,
        help="hits (opens, clicks, unsubscribe pages and unsubscribes) per email client, "
        "OS, device class or country, human-only and all",
    )
    parser.add_argument("--campaign", help="only this campaign")
    parser.add_argument("--job-source", help="only this job source")
    parser.add_argument("--since", type=_day, help="first UTC day counted (YYYY-MM-DD)")
    parser.add_argument("--until", type=_day, help="last UTC day counted (YYYY-MM-DD)")
    parser.add_argument(
        "--json",
        action="store_true",
        help='print {"click": {"all": N, "human": N, ...}, "open": {...}, ...}; with --by, '
        '{"<value>": {"open": {"all": N, "human": N}, "click": {...}, ...}, ...}',
    )
    parser.set_defaults(func=run)


def _day(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYY-MM-DD)") from None


def run(args: argparse.Namespace) -> int:
    settings = command_settings()
    brands = load_brands(settings.config_path)
    if args.brand not in brands.by_id:
        known = ", ".join(sorted(brands.by_id))
        raise ConfigurationError(f"--brand: {args.brand!r} is not a brand ({known})")
    if args.since and args.until and args.since > args.until:
        raise ConfigurationError(f"--until: {args.until} is before --since {args.since}")
    try:
        stats = asyncio.run(_read(settings, args))
    except StoreMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except StoreUnavailable as exc:
        print(f"error: the event store is unavailable: {exc}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(orjson.dumps(stats.to_json_dict()).decode() + "\n")
    elif isinstance(stats, DimensionStats):
        sys.stdout.write(render_dimension(stats))
    else:
        sys.stdout.write(render(stats, brands.get(args.brand).currency))
    return 0


async def _read(settings: Settings, args: argparse.Namespace) -> BrandStats | DimensionStats:
    store = await open_store(settings, create=False)
    filters = {"campaign": args.campaign, "job_source": args.job_source,
               "day_from": args.since, "day_to": args.until}  # fmt: skip
    try:
        if args.by:
            return await store.dimension_stats(args.brand, args.by, **filters)
        stats = await store.stats(args.brand)
        if not any(value is not None for value in filters.values()):
            return stats
        # Narrowed: the rollup rows (brand x campaign x job source x day x type) in range.
        types: dict[str, TypeStats] = {}
        for row in await store.rollups(args.brand, args.since, args.until):
            if args.campaign not in (None, row.campaign):
                continue
            if args.job_source not in (None, row.job_source):
                continue
            types.setdefault(row.type, TypeStats()).add(row)
        return BrandStats(brand=args.brand, types=types, suppressions=stats.suppressions)
    finally:
        await store.close()


def render(stats: BrandStats, currency: str) -> str:
    """A table for people: one row per event type."""
    lines = [f"{'type':<18}{'all':>10}{'human':>10}{'unique':>10}{'unique human':>14}"]
    for event_type in EVENT_TYPES:
        row = stats.of(event_type)
        uniques = ("", "")
        if event_type in ("open", "click"):
            uniques = (str(row.unique_all), str(row.unique_human))
        lines.append(
            f"{event_type:<18}{row.all:>10}{row.human:>10}{uniques[0]:>10}{uniques[1]:>14}"
        )
    lines += [
        "",
        f"MPP-adjusted opens    {stats.mpp_adjusted_opens:g}",
        f"estimated revenue     {stats.revenue:.2f} {currency}  (human clicks x CPC)",
        f"conversion value      {stats.of('conversion').value:.2f}",
        f"suppressed recipients {stats.suppressions}",
    ]
    return "\n".join(lines) + "\n"


def render_dimension(stats: DimensionStats) -> str:
    """One row per value, busiest first: opens and clicks, all and human, and each
    value's share of the human opens."""
    human_opens = sum(entry.of("open").human for entry in stats.values)
    width = max([len(stats.dimension), len(UNKNOWN_LABEL)]
                + [len(entry.value) for entry in stats.values]) + 2  # fmt: skip
    lines = [
        f"{stats.dimension:<{width}}{'opens':>10}{'human':>10}{'share':>8}"
        f"{'clicks':>10}{'human':>10}"
    ]
    for entry in stats.values:
        opens, clicks = entry.of("open"), entry.of("click")
        share = f"{100 * opens.human / human_opens:.1f}%" if human_opens else "-"
        lines.append(
            f"{entry.value or UNKNOWN_LABEL:<{width}}{opens.all:>10}{opens.human:>10}"
            f"{share:>8}{clicks.all:>10}{clicks.human:>10}"
        )
    if not stats.values:
        lines.append("(no hits)")
    lines += ["", "share: of the human opens"]
    return "\n".join(lines) + "\n"
