"""`tracer classify --kind click|open|page [--brand B]`: the pipeline's classifier, for audits.

Reads `ip<TAB>user_agent[<TAB>method[<TAB>age_s]]` lines on stdin and writes
`agent<TAB>reason,reason` for each, as it goes. `age_s` is the seconds between the link
being made and the hit, so audits replay the timing rules too (empty: unknown). A line
that is not of that form gets `error<TAB>bad_line` and the rest are still read. Input is
taken as bytes and decoded as Latin-1, as HTTP headers are, so no user agent can make a
line unreadable.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import BinaryIO, TextIO

from tracer.brands import load_brands
from tracer.classify import Classifier, Verdict
from tracer.settings import load_settings

KINDS = ("click", "open", "page")
METHODS = ("GET", "HEAD", "POST")
BAD_LINE = "error\tbad_line\n"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "classify",
        help="classify hits read on stdin (ip<TAB>user agent[<TAB>method[<TAB>age_s]] a line)",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument("--kind", choices=KINDS, required=True, help="what was hit")
    parser.add_argument(
        "--brand", help="apply this brand's bot policy (extra networks, ignored vendors)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    classifier = Classifier()
    if args.brand:
        brands = load_brands(load_settings().config_path)
        if args.brand not in brands.by_id:
            print(f"error: unknown brand {args.brand!r}", file=sys.stderr)
            return 2
        classifier = Classifier.for_brand(brands.get(args.brand))
    classify_stream(classifier, args.kind, sys.stdin.buffer, sys.stdout)
    return 0


def classify_stream(classifier: Classifier, kind: str, lines: BinaryIO, out: TextIO) -> int:
    """Classify each line of `lines` and write its answer to `out` at once (flushed, so
    a reader on the other end of a pipe gets answers while it is still writing)."""
    classify = {"click": classifier.click, "open": classifier.open, "page": classifier.page}[kind]
    count = 0
    for raw in lines:
        out.write(answer(classify, raw))
        out.flush()
        count += 1
    return count


def answer(classify, raw: bytes) -> str:
    request = parse_line(raw)
    if request is None:
        return BAD_LINE
    ip, ua, method, age_s = request
    if classify.__name__ == "page":
        return format_verdict(classify(ip, ua, method))
    return format_verdict(classify(ip, ua, method, age_s=age_s))


def parse_line(raw: bytes) -> tuple[str, str, str, float | None] | None:
    """(ip, user agent, method, age_s) of one input line, or None when it is malformed."""
    fields = raw.rstrip(b"\r\n").decode("latin-1").split("\t")
    if len(fields) == 2:
        fields.append("GET")
    if len(fields) == 3:
        fields.append("")
    if len(fields) != 4:
        return None
    ip, ua, method, age = fields
    method = method.strip().upper() or "GET"
    if method not in METHODS:
        return None
    age_s = parse_age(age)
    if age_s is False:
        return None
    return ip.strip(), ua, method, age_s


def parse_age(text: str) -> float | bool | None:
    """Seconds as a finite number, None when empty, False when it is not a number."""
    text = text.strip()
    if not text:
        return None
    try:
        age = float(text)
    except ValueError:
        return False
    return age if math.isfinite(age) else False


def format_verdict(verdict: Verdict) -> str:
    return f"{verdict.agent}\t{','.join(verdict.reasons)}\n"
