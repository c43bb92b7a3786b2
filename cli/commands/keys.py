"""`tracer keys new|rotate|retire|list`: manage the key ring that seals link tokens."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.instance import command_settings
from tracer.errors import ConfigurationError
from tracer.keyring import dumps, keyring_location, load_keyring, new_keyring, write_keyring


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("keys", help="manage the token key ring")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    new = actions.add_parser("new", help="create a new key ring (prints it, or writes --out)")
    new.add_argument("--out", type=Path, help="write here with mode 0600 instead of stdout")
    new.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    new.set_defaults(func=run_new)

    rotate = actions.add_parser(
        "rotate", help="add a key that seals new links; older keys keep opening old links"
    )
    rotate.set_defaults(func=run_rotate)

    retire = actions.add_parser("retire", help="stop honouring the links a key sealed")
    retire.add_argument("key_id", type=int)
    retire.set_defaults(func=run_retire)

    show = actions.add_parser("list", help="list key ids and states (never the secrets)")
    show.set_defaults(func=run_list)


def _ring_path() -> Path:
    settings = command_settings()
    path = keyring_location(settings.keys, settings.dev_keyring_path)
    if path is None:
        raise ConfigurationError(
            "TRACER_KEYS holds the key ring inline; point it at a file to change the ring"
        )
    return path


def run_new(args: argparse.Namespace) -> int:
    ring = new_keyring()
    if args.out is None:
        sys.stdout.write(dumps(ring))
        return 0
    if args.out.exists() and not args.force:
        raise ConfigurationError(f"{args.out}: exists (use --force to replace it)")
    write_keyring(ring, args.out)
    print(f"wrote a new key ring to {args.out} (key 1 active)", file=sys.stderr)
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    settings = command_settings(quiet=True)
    path = _ring_path()
    ring = load_keyring(settings.keys, settings.dev_keyring_path, create=False).rotate()
    write_keyring(ring, path)
    print(f"{path}: key {ring.active.id} now seals new links; restart the edge to apply")
    return 0


def run_retire(args: argparse.Namespace) -> int:
    settings = command_settings(quiet=True)
    path = _ring_path()
    ring = load_keyring(settings.keys, settings.dev_keyring_path, create=False).retire(args.key_id)
    write_keyring(ring, path)
    print(f"{path}: key {args.key_id} retired; its links now get the landing page")
    return 0


def run_list(args: argparse.Namespace) -> int:
    settings = command_settings()
    ring = load_keyring(settings.keys, settings.dev_keyring_path, create=False)
    for key in ring.keys:
        print(f"{key.id}\t{key.state}\t{key.created}")
    return 0
