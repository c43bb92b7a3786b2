"""`tracer stats --brand B [--json]`: a brand's counts from the event store."""

from __future__ import annotations

import argparse
import asyncio
import sys

import orjson

from cli.instance import command_settings
from tracer.brands import load_brands
from tracer.errors import ConfigurationError
from tracer.events import EVENT_TYPES
from tracer.store import BrandStats, StoreMissing, StoreUnavailable, open_store


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stats", help="counts per event type (human-only and all), uniques, revenue"
    )
    parser.add_argument("--brand", required=True, help="brand id")
    parser.add_argument(
        "--json",
        action="store_true",
        help='print {"click": {"all": N, "human": N, ...}, "open": {...}, ...}',
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = command_settings()
    brands = load_brands(settings.config_path)
    if args.brand not in brands.by_id:
        known = ", ".join(sorted(brands.by_id))
        raise ConfigurationError(f"--brand: {args.brand!r} is not a brand ({known})")
    try:
        stats = asyncio.run(_read(settings, args.brand))
    except StoreMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except StoreUnavailable as exc:
        print(f"error: the event store is unavailable: {exc}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(orjson.dumps(stats.to_json_dict()).decode() + "\n")
    else:
        sys.stdout.write(render(stats, brands.get(args.brand).currency))
    return 0


async def _read(settings, brand: str) -> BrandStats:
    store = await open_store(settings, create=False)
    try:
        return await store.stats(brand)
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
