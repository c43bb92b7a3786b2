"""`tracer clients`: the client info the batcher derives from user agents, for audits.

Reads one user agent per line on stdin and writes `client<TAB>type<TAB>os<TAB>device` for
each, as it goes (the same parser, rules and cache as the batcher's; an empty field is
unknown). Input is read as bytes and decoded as Latin-1, as HTTP headers are, so no user
agent can make a line unreadable.
"""

from __future__ import annotations

import argparse
import sys
from typing import BinaryIO, TextIO

from tracer.clients import ClientParser, shared_client_parser


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "clients",
        help="email client, type, OS and device of user agents read on stdin (one a line)",
        description=__doc__.split("\n\n")[1],
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    parse_stream(shared_client_parser(), sys.stdin.buffer, sys.stdout)
    return 0


def parse_stream(parser: ClientParser, lines: BinaryIO, out: TextIO) -> int:
    count = 0
    for raw in lines:
        ua = raw.rstrip(b"\r\n").decode("latin-1")
        out.write("\t".join(parser(ua)) + "\n")
        out.flush()
        count += 1
    return count
