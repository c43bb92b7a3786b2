"""`tracer rewrite`: an email's HTML on stdin, its tracked form on stdout.

    tracer rewrite --brand northjobs --message-id m-42 --recipient jamie@example.com \
        --headers headers.txt --text mail.txt --text-out mail.tracked.txt < mail.html > out.html

Bytes that are not UTF-8 pass through unchanged (they are carried as surrogate escapes),
so the output differs from the input only where links and pixels were written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.instance import command_settings
from tracer.context import load_context
from tracer.links import LinkBuilder, LinkError
from tracer.rewrite import rewrite_email
from tracer.rewrite.rewriter import DELIBERATE_SKIPS

_ENCODING = "utf-8"
_ERRORS = "surrogateescape"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rewrite",
        help="turn an email's HTML (stdin) into its tracked form (stdout)",
        description="Reads an email's HTML on stdin and writes it on stdout with every "
        "http(s) link tracked, header and footer open pixels and a hidden canary link.",
    )
    parser.add_argument("--brand", required=True)
    parser.add_argument("--message-id", required=True)
    parser.add_argument("--recipient", required=True, help="address the message goes to")
    parser.add_argument("--campaign", default="")
    parser.add_argument("--job-source", default="")
    parser.add_argument(
        "--list",
        dest="list_id",
        default="",
        help="the unsubscribe link leaves this list only (default: all marketing mail)",
    )
    parser.add_argument(
        "--headers",
        type=Path,
        metavar="FILE",
        help="write the List-Unsubscribe and List-Unsubscribe-Post header lines here",
    )
    parser.add_argument(
        "--text", type=Path, metavar="FILE", help="the plain-text part, to track its links too"
    )
    parser.add_argument(
        "--text-out", type=Path, metavar="FILE", help="where the tracked text part goes"
    )
    parser.set_defaults(func=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    if (args.text is None) != (args.text_out is None):
        args.parser.error("--text and --text-out go together")
    try:
        text = _read(args.text) if args.text is not None else None
    except OSError as exc:
        return _fail(f"--text: cannot read {args.text} ({exc.strerror})")
    html = sys.stdin.buffer.read().decode(_ENCODING, _ERRORS)
    context = load_context(command_settings())
    builder = LinkBuilder(context.brands, context.keyring)
    try:
        result = rewrite_email(
            builder,
            args.brand,
            args.message_id,
            args.recipient,
            html,
            text,
            campaign=args.campaign,
            job_source=args.job_source,
            list_id=args.list_id,
        )
    except LinkError as exc:
        return _fail(str(exc))
    for link in result.links:
        if link.url != link.written:
            _note(f"link {link.index} goes to {link.url[:200]} (written {link.written[:200]})")
    for skipped in result.skipped:
        if skipped.reason not in DELIBERATE_SKIPS:
            _warn(f"left untracked: {skipped.url[:200]} ({skipped.reason})")
    try:
        if args.headers is not None:
            args.headers.write_text("".join(f"{line}\n" for line in result.header_lines()))
        if result.text is not None:
            args.text_out.write_bytes(result.text.encode(_ENCODING, _ERRORS))
    except OSError as exc:
        return _fail(f"cannot write {exc.filename} ({exc.strerror})")
    sys.stdout.buffer.write(result.html.encode(_ENCODING, _ERRORS))
    sys.stdout.flush()
    return 0


def _read(path: Path) -> str:
    return path.read_bytes().decode(_ENCODING, _ERRORS)


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2
