"""`tracer config check`: validate settings, the brands file and the key ring."""

from __future__ import annotations

import argparse
import sys

from cli.instance import command_settings
from tracer.brands import load_brands
from tracer.demo_keys import DEV_MODE_HINT, is_demo_key
from tracer.errors import ConfigurationError
from tracer.geo import check_geoip
from tracer.keyring import load_keyring
from tracer.observability import sentry_dsn_problem


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="check the configuration")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check", help="validate settings, brands file and key ring; list every problem"
    )
    check.add_argument("--file", help="brands file to check (default: TRACER_CONFIG)")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    problems: list[str] = []
    settings = None
    try:
        settings = command_settings()
    except ConfigurationError as exc:
        problems += exc.problems
    path = args.file or (settings.config_path if settings else None)
    brands = None
    if path is not None:
        try:
            brands = load_brands(path)
        except ConfigurationError as exc:
            problems += [f"{path}: {p}" if not p.startswith(str(path)) else p for p in exc.problems]
    if settings is not None and (problem := sentry_dsn_problem(settings.sentry_dsn)):
        problems.append(problem)
    if settings is not None:
        try:
            check_geoip(settings.geoip_db)
        except ConfigurationError as exc:
            problems += exc.problems
    notes = []
    if settings is not None and settings.keys is None and not settings.dev_keyring_path.exists():
        # Not a problem: the first role to start makes it (`tracer up` prints where).
        notes.append(
            f"note: no key ring yet; the first role started makes a development key ring at "
            f"{settings.dev_keyring_path.resolve()} (set TRACER_KEYS in production)"
        )
    elif settings is not None:
        try:
            load_keyring(settings.keys, settings.dev_keyring_path, create=False)
        except ConfigurationError as exc:
            problems += exc.problems
    for note in notes:
        print(note, file=sys.stderr)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    assert brands is not None
    demo = sorted({brand.id for brand in brands for key in brand.api_keys
                   if is_demo_key(brand.id, key.sha256)})  # fmt: skip
    if demo and not (settings is not None and settings.dev_mode):
        print(
            f"warning: {len(demo)} brand(s) list a published demo API key, which the admin API "
            f"refuses ({', '.join(demo[:5])}{', …' if len(demo) > 5 else ''}): {DEV_MODE_HINT}",
            file=sys.stderr,
        )
    webhooks = sum(len(brand.webhooks) for brand in brands)
    hosts = sum(len(brand.hosts) for brand in brands)
    print(f"ok: {path}: {len(brands)} brands, {hosts} tracking hosts, {webhooks} webhook endpoints")
    return 0
