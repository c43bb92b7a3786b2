"""`tracer dlq list|replay|endpoints|enable`: inspect and re-drive webhooks that could not
be delivered, and bring back endpoints that were disabled."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import msgspec

from cli.instance import command_settings
from cli.moments import parse_moment
from tracer import endpoint_state, redis_keys
from tracer.brands import Brands, load_brands
from tracer.endpoint_state import EndpointState
from tracer.errors import ConfigurationError
from tracer.events import to_dict
from tracer.redis_cluster import AnySyncRedis, connect_sync
from tracer.settings import Settings
from tracer.webhooks import endpoints

if TYPE_CHECKING:
    from dispatcher.dead_letters import DeadLetter


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("dlq", help="dead-lettered webhooks: list, replay")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    show = actions.add_parser("list", help="show dead letters, oldest first")
    _filters(show)
    show.add_argument("--limit", type=int, default=0, help="show at most N (0: all)")
    show.add_argument("--json", action="store_true", help="one JSON object per line")
    show.set_defaults(func=run_list)

    replay = actions.add_parser(
        "replay", help="queue dead letters for delivery again (fresh attempts, same webhook-id)"
    )
    _filters(replay)
    replay.add_argument(
        "--to",
        metavar="URL",
        help="with --brand: letters whose endpoint is gone from the brands file go to the "
        "brand's endpoint with this URL (after a URL change)",
    )
    replay.set_defaults(func=run_replay)

    states = actions.add_parser("endpoints", help="state of every endpoint (disabled, breaker)")
    states.add_argument("--brand", help="only this brand")
    states.set_defaults(func=run_endpoints)

    enable = actions.add_parser(
        "enable", help="re-enable disabled endpoints (after a 410) and close their breakers"
    )
    enable.add_argument("endpoint", nargs="*", help="endpoint ids (see `tracer dlq endpoints`)")
    enable.add_argument("--brand", help="every endpoint of this brand")
    enable.set_defaults(func=run_enable)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--brand", help="only this brand (default: every brand)")
    parser.add_argument(
        "--since",
        type=parse_since,
        default=0.0,
        metavar="T",
        help="only letters dead at or after T: an ISO date/time (UTC unless it says), "
        "Unix seconds, or an age such as 30m, 6h, 2d",
    )


def parse_since(text: str) -> float:
    """`T` of `--since` as Unix seconds (an argparse type)."""
    try:
        return parse_moment(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_list(args: argparse.Namespace) -> int:
    from dispatcher import dead_letters

    settings, brands = _load()
    shown = 0
    out = sys.stdout
    with _client(settings) as client:
        for brand in _brand_ids(brands, args.brand):
            for _, letter in dead_letters.read(client, brand, args.since):
                if args.limit and shown >= args.limit:
                    return 0
                out.write(_format(letter, args.json) + "\n")
                shown += 1
    if not shown and not args.json:
        print("no dead letters", file=sys.stderr)
    return 0


def run_replay(args: argparse.Namespace) -> int:
    from dispatcher import dead_letters

    settings, brands = _load()
    if args.to is not None:
        brand = brands.by_id.get(args.brand or "")
        if brand is None or args.to not in {hook.url for hook in brand.webhooks}:
            raise ConfigurationError(
                f"--to: {args.to!r} is not a webhook URL of brand {args.brand!r} in the "
                "brands file (--to needs --brand)"
            )
    total = kept = 0
    with _client(settings) as client:
        for brand in _brand_ids(brands, args.brand):
            bar = ProgressBar(f"replay {brand}")
            targets = dead_letters.current_targets(brands.by_id.get(brand), args.to)
            replayed, left = dead_letters.replay(
                client,
                brand,
                settings.queue_shards,
                targets,
                since=args.since,
                progress=bar.update,
            )
            bar.close()
            total += replayed
            kept += left
    print(f"replayed {total} dead letter(s)")
    if kept:
        print(
            f"kept {kept} dead letter(s): no endpoint of the brands file takes them now (their "
            "endpoint is gone: name its successor with --brand B --to URL; or it no longer "
            "subscribes to their event; or their brand is gone)",
            file=sys.stderr,
        )
    return 0


def run_endpoints(args: argparse.Namespace) -> int:
    settings, brands = _load()
    with _client(settings) as client:
        print("endpoint\tbrand\turl\tstate\tbreaker\tdead_letters")
        for brand_id in _brand_ids(brands, args.brand):
            dlq = client.llen(redis_keys.webhook_dlq(brand_id))
            for endpoint_id, hook in endpoints(brands.get(brand_id)).items():
                shared = EndpointState.parse(client.hgetall(redis_keys.endpoint_state(endpoint_id)))
                status = f"disabled ({shared.disabled_reason})" if shared.disabled else "enabled"
                breaker = shared.breaker
                print(
                    f"{endpoint_id}\t{brand_id}\t{_safe_url(hook.url)}\t{status}\t{breaker}\t{dlq}"
                )
    return 0


def run_enable(args: argparse.Namespace) -> int:
    settings, brands = _load()
    chosen = list(args.endpoint)
    if args.brand:
        chosen += list(endpoints(brands.get(args.brand)))
    if not chosen:
        raise ConfigurationError("dlq enable: name endpoint ids or --brand")
    known = {eid for brand in brands for eid in endpoints(brand)}
    unknown = [eid for eid in chosen if eid not in known]
    if unknown:
        raise ConfigurationError(*(f"{eid}: not an endpoint of the brands file" for eid in unknown))
    with _client(settings) as client:
        for endpoint_id in chosen:
            method, command_args = endpoint_state.enable(endpoint_id)
            getattr(client, method)(*command_args)
            print(f"{endpoint_id}: enabled")
    return 0


class ProgressBar:
    """`label [#####-----] done/total` on stderr, redrawn at most ten times a second."""

    def __init__(self, label: str, width: int = 30) -> None:
        self.label = label
        self.width = width
        self._drawn_at = 0.0
        self._last = (0, 0)

    def update(self, done: int, total: int) -> None:
        self._last = (done, total)
        now = time.monotonic()
        if done < total and now - self._drawn_at < 0.1:
            return
        self._drawn_at = now
        filled = self.width * done // total if total else self.width
        bar = "#" * filled + "-" * (self.width - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {done}/{total}")
        sys.stderr.flush()

    def close(self) -> None:
        total = self._last[1]
        if total:
            self.update(total, total)
            sys.stderr.write("\n")
        else:
            sys.stderr.write(f"{self.label}: nothing to replay\n")


def _load() -> tuple[Settings, Brands]:
    settings = command_settings()
    if not settings.redis_url:
        raise ConfigurationError(
            "REDIS_URL: not set, and no `tracer up` instance in "
            f"{settings.data_dir.resolve()}; the dead-letter lists live in Redis"
        )
    return settings, load_brands(settings.config_path)


@contextmanager
def _client(settings: Settings) -> Iterator[AnySyncRedis]:
    client = connect_sync(settings.redis_url, cluster=settings.redis_cluster)
    try:
        yield client
    finally:
        client.close()


def _brand_ids(brands: Brands, only: str | None) -> list[str]:
    # A brand gone from the brands file may still have dead letters: --brand names any id.
    return [only] if only else [brand.id for brand in brands]


def _format(letter: DeadLetter, as_json: bool) -> str:
    job = letter.job
    died = dt.datetime.fromtimestamp(letter.dead_at, dt.UTC).isoformat(timespec="seconds")
    if as_json:
        row = {
            "dead_at": died,
            "brand": job.brand,
            "endpoint": job.endpoint,
            "reason": letter.reason,
            "attempts": job.attempt,
            "last_error": job.last_error,
            "event": to_dict(job.event),
        }
        return msgspec.json.encode(row).decode()
    fields = [
        died,
        job.brand,
        job.endpoint,
        job.event.id,
        job.event.type,
        str(job.attempt),
        letter.reason,
        job.last_error.replace("\t", " ").replace("\n", " "),
    ]
    return "\t".join(fields)


def _safe_url(url: str) -> str:
    # The query string may carry a receiver's token: show scheme, host and path only.
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"
