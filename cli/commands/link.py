"""`tracer link click|open|unsubscribe`: print tracked URLs (one, or --count N)."""

from __future__ import annotations

import argparse
import sys

from cli.instance import command_settings
from tracer.events import CHANNELS, POSITIONS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("link", help="build tracked links")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)

    click = kinds.add_parser("click", help="a tracked click link (302 to --url)")
    _common(click)
    click.add_argument("--url", required=True, help="destination (absolute http(s) URL)")
    click.add_argument("--recipient", default="")
    click.add_argument("--channel", choices=CHANNELS, default="email")
    click.add_argument("--link", type=int, default=0, help="index of the link in the message")
    click.add_argument(
        "--short",
        action="store_true",
        help="an SMS short link (https://host/s/SLUG); needs REDIS_URL, where slugs live",
    )
    click.set_defaults(func=run_click)

    pixel = kinds.add_parser("open", help="an open pixel URL")
    _common(pixel)
    pixel.add_argument("--recipient", default="")
    pixel.add_argument("--position", choices=POSITIONS, default="footer")
    pixel.set_defaults(func=run_open)

    unsubscribe = kinds.add_parser("unsubscribe", help="an unsubscribe link")
    _common(unsubscribe)
    unsubscribe.add_argument("--recipient", required=True)
    unsubscribe.add_argument("--list", dest="list_id", default="", help="leave one list only")
    unsubscribe.add_argument("--channel", choices=CHANNELS, default="email")
    unsubscribe.set_defaults(func=run_unsubscribe)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--brand", required=True)
    parser.add_argument("--message-id", required=True)
    parser.add_argument("--campaign", default="")
    parser.add_argument("--job-source", default="")
    parser.add_argument(
        "--count",
        type=int,
        default=0,
        help="print N links, for message ids M-1 … M-N (load-test link sets)",
    )


def _emit(args: argparse.Namespace, build) -> int:
    from tracer.context import load_context
    from tracer.links import LinkBuilder, LinkError

    context = load_context(command_settings())
    builder = LinkBuilder(context.brands, context.keyring)
    if args.count < 0:
        print("error: --count must be >= 0", file=sys.stderr)
        return 2
    message_ids = _message_ids(args)
    out = sys.stdout
    try:
        for message_id in message_ids:
            out.write(build(builder, message_id) + "\n")
    except LinkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def run_click(args: argparse.Namespace) -> int:
    _note_destination(args.url)
    if args.short:
        return _emit_short(args)
    return _emit(
        args,
        lambda b, m: b.click(
            args.brand,
            m,
            args.url,
            recipient=args.recipient,
            campaign=args.campaign,
            job_source=args.job_source,
            channel=args.channel,
            link=args.link,
        ),
    )


def _note_destination(url: str) -> None:
    """Say so when the link will carry another spelling of --url (IDNA, percent-encoding)."""
    from tracer.links import LinkError, normalize_destination

    try:
        destination = normalize_destination(url)
    except LinkError:
        return  # reported when the link is built
    if destination != url.strip():
        print(f"note: the link goes to {destination}", file=sys.stderr)


def run_open(args: argparse.Namespace) -> int:
    return _emit(
        args,
        lambda b, m: b.open(
            args.brand,
            m,
            recipient=args.recipient,
            position=args.position,
            campaign=args.campaign,
            job_source=args.job_source,
        ),
    )


def run_unsubscribe(args: argparse.Namespace) -> int:
    return _emit(
        args,
        lambda b, m: b.unsubscribe(
            args.brand,
            m,
            recipient=args.recipient,
            list_id=args.list_id,
            campaign=args.campaign,
            job_source=args.job_source,
            channel=args.channel,
        ),
    )


def _emit_short(args: argparse.Namespace) -> int:
    import asyncio

    from tracer.context import load_context
    from tracer.links import LinkBuilder, LinkError
    from tracer.redis_cluster import connect
    from tracer.slugs import ShortLinks, SlugAllocator

    context = load_context(command_settings())
    if not context.settings.redis_url:
        print(
            "error: --short needs Redis, where slugs are allocated and stored: set "
            "REDIS_URL, or run this where `tracer up` runs (its data dir: "
            f"{context.settings.data_dir.resolve()} has no running instance)",
            file=sys.stderr,
        )
        return 2
    builder = LinkBuilder(context.brands, context.keyring)
    message_ids = _message_ids(args)
    try:
        payloads = [
            builder.click_payload(
                args.brand,
                message_id,
                args.url,
                recipient=args.recipient,
                campaign=args.campaign,
                job_source=args.job_source,
                channel="sms",
                link=args.link,
            )
            for message_id in message_ids
        ]
    except LinkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def create() -> list[str]:
        settings = context.settings
        client = connect(settings.redis_url, cluster=settings.redis_cluster)
        try:
            allocator = SlugAllocator(client, context.keyring.slug_secret())
            return await ShortLinks(client, allocator, builder.codec).create(payloads)
        finally:
            await client.aclose()

    for slug in asyncio.run(create()):
        sys.stdout.write(builder.short_url(args.brand, slug) + "\n")
    return 0


def _message_ids(args: argparse.Namespace) -> list[str]:
    if args.count:
        return [f"{args.message_id}-{n}" for n in range(1, args.count + 1)]
    return [args.message_id]
