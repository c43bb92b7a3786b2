"""`tracer revoke`: revoke links already sent (their clicks go to the landing page), list
the rules, or undo one.

    tracer revoke --brand northjobs --destination-host phish.example --note "leaked key"
    tracer revoke --brand northjobs --campaign spring-2025
    tracer revoke --brand northjobs --list [--json]
    tracer revoke --brand northjobs --campaign spring-2025 --undo

The rules live in Redis (REDIS_URL); every edge worker applies a change within a moment
(pub/sub), and within `tracer.revocations.RELOAD_INTERVAL_S` at worst.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys

import msgspec

from cli.instance import command_settings
from tracer import revocations
from tracer.brands import load_brands
from tracer.errors import ConfigurationError
from tracer.redis_cluster import REDIS_ERRORS, connect
from tracer.revocations import Revocation, RevocationError
from tracer.settings import Settings

# Option -> rule kind.
SELECTORS = {
    "campaign": "campaign",
    "message_id": "message_id",
    "destination_host": "destination_host",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "revoke",
        help="revoke links (their clicks go to the landing page); --list, --undo",
        description="Revoke every link of a campaign, of a message, or to a destination host "
        "(and its subdomains): their clicks go to the brand's landing page and are recorded "
        "as revoked_click events.",
    )
    parser.add_argument("--brand", required=True)
    selector = parser.add_mutually_exclusive_group()
    selector.add_argument("--campaign", help="every link of this campaign")
    selector.add_argument("--message-id", help="every link of this message")
    selector.add_argument("--destination-host", help="every link to this host or a subdomain of it")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--list", action="store_true", help="show the brand's rules")
    action.add_argument("--undo", action="store_true", help="lift the rule named")
    parser.add_argument("--note", default="", help="why (kept with the rule)")
    parser.add_argument("--json", action="store_true", help="--list: one JSON object per line")
    parser.set_defaults(func=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    settings = command_settings()
    brands = load_brands(settings.config_path)
    if args.brand not in brands.by_id:
        raise ConfigurationError(
            f"--brand: {args.brand!r} is not a brand of {settings.config_path}"
        )
    selected = [(kind, getattr(args, option)) for option, kind in SELECTORS.items()
                if getattr(args, option) is not None]  # fmt: skip
    if not args.list and not selected:
        args.parser.error("name what to revoke: --campaign, --message-id or --destination-host")
    if not settings.redis_url:
        raise ConfigurationError(
            "REDIS_URL: not set, and no `tracer up` instance in "
            f"{settings.data_dir.resolve()}; revocations live in Redis"
        )
    try:
        return asyncio.run(_run(args, settings, selected[0] if selected else None))
    except RevocationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except REDIS_ERRORS as exc:
        print(f"error: Redis did not answer: {exc}", file=sys.stderr)
        return 1


async def _run(
    args: argparse.Namespace, settings: Settings, selected: tuple[str, str] | None
) -> int:
    client = connect(settings.redis_url or "", cluster=settings.redis_cluster)
    try:
        if args.list:
            rules = await revocations.load(client, args.brand)
            if selected is not None:
                kind, value = selected
                wanted = revocations.rule_value(kind, value)
                rules = [rule for rule in rules if (rule.kind, rule.value) == (kind, wanted)]
            _print_rules(rules, as_json=args.json)
            return 0
        assert selected is not None
        kind, value = selected
        if args.undo:
            if await revocations.remove(client, args.brand, kind, value):
                print(f"lifted: {args.brand} {kind} {revocations.rule_value(kind, value)}")
                return 0
            print(f"error: {args.brand} has no {kind} rule for {value!r}", file=sys.stderr)
            return 1
        rule = revocations.new_rule(args.brand, kind, value, source="cli", note=args.note)
        if await revocations.add(client, rule):
            print(f"revoked: {rule.brand} {rule.kind} {rule.value}")
        else:
            print(f"already revoked: {rule.brand} {rule.kind} {rule.value}")
        return 0
    finally:
        await client.aclose()


def _print_rules(rules: list[Revocation], *, as_json: bool) -> None:
    out = sys.stdout
    for rule in rules:
        if as_json:
            out.write(msgspec.json.encode(rule).decode() + "\n")
            continue
        created = dt.datetime.fromtimestamp(rule.created, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        note = f"  ({rule.note})" if rule.note else ""
        out.write(f"{created}  {rule.kind:<16}  {rule.value}  [{rule.source}]{note}\n")
    if not rules and not as_json:
        out.write("no revocations\n")
