"""How many labelled user agents Tracer names correctly, and what a parse costs.

    .venv/bin/python -m bench.clients [--show-misses]

The corpus (`bench/data/user-agents.toml`) holds strings of mail clients, webmail image
proxies and Apple MPP, uap-core's own test strings, current browsers, in-app browsers and
robots, each labelled with the client, type, OS and device class Tracer should report.
Prints, per source and overall, the share named correctly field by field and with every
field right, then the parser's cost per string: uncached (each string new) and cached.
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tracer.clients import ClientInfo, ClientParser

CORPUS = Path(__file__).resolve().parent / "data" / "user-agents.toml"
FIELDS = ("client", "type", "os", "device")


@dataclass
class Case:
    source: str
    ua: str
    expected: ClientInfo


@dataclass
class Score:
    cases: int = 0
    right: dict[str, int] = field(default_factory=lambda: dict.fromkeys((*FIELDS, "all"), 0))

    def add(self, expected: ClientInfo, got: ClientInfo) -> bool:
        self.cases += 1
        matches = [e == g for e, g in zip(expected, got, strict=True)]
        for name, match in zip(FIELDS, matches, strict=True):
            self.right[name] += match
        self.right["all"] += all(matches)
        return all(matches)

    def percent(self, name: str) -> float:
        return 100.0 * self.right[name] / self.cases if self.cases else 0.0


def load_corpus(path: Path = CORPUS) -> list[Case]:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    return [
        Case(c["source"], c["ua"], ClientInfo(c["client"], c["type"], c["os"], c["device"]))
        for c in raw["cases"]
    ]


def score(parser: ClientParser, cases: Sequence[Case]) -> tuple[dict[str, Score], list]:
    """Scores per source (and "all"), and the (case, what was reported) misses."""
    scores: dict[str, Score] = {}
    misses = []
    for case in cases:
        got = parser.parse(case.ua)
        scores.setdefault(case.source, Score()).add(case.expected, got)
        if not scores.setdefault("all", Score()).add(case.expected, got):
            misses.append((case, got))
    return scores, misses


def cost_us(parser: ClientParser, cases: Sequence[Case], rounds: int = 3) -> tuple[float, float]:
    """(µs per new string, µs per cached string): new strings are made by varying a build
    number, as real traffic's versions vary."""
    fresh = [f"{case.ua} build/{round_}" for round_ in range(rounds) for case in cases]
    started = time.perf_counter()
    for ua in fresh:
        parser(ua)
    uncached = (time.perf_counter() - started) / len(fresh) * 1e6
    repeats = [case.ua for case in cases] * 200
    for ua in repeats[: len(cases)]:
        parser(ua)
    started = time.perf_counter()
    for ua in repeats:
        parser(ua)
    cached = (time.perf_counter() - started) / len(repeats) * 1e6
    return uncached, cached


def render(scores: dict[str, Score], backend: str, costs: tuple[float, float]) -> str:
    lines = [
        "",
        "Client info: labelled user agents named correctly (bench/data/user-agents.toml)",
        f"{'source':<10}{'cases':>7}{'client':>9}{'type':>8}{'os':>8}{'device':>8}{'all 4':>8}",
    ]
    for source in sorted(scores, key=lambda s: (s == "all", s)):
        s = scores[source]
        lines.append(
            f"{source:<10}{s.cases:>7}"
            + "".join(f"{s.percent(name):>{8 if name != 'client' else 9}.1f}"
                      for name in (*FIELDS, "all"))
        )  # fmt: skip
    uncached, cached = costs
    lines += [
        "",
        f"Parse cost (ua-parser backend: {backend}): {uncached:.1f} µs per new string, "
        f"{cached:.2f} µs per cached string",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser_args = argparse.ArgumentParser(prog="python -m bench.clients", description=__doc__)
    parser_args.add_argument("--show-misses", action="store_true", help="list every miss")
    args = parser_args.parse_args(argv)
    cases = load_corpus()
    parser = ClientParser()
    scores, misses = score(parser, cases)
    sys.stdout.write(render(scores, parser.backend, cost_us(ClientParser(), cases)))
    if args.show_misses:
        for case, got in misses:
            print(f"\n  {case.source}: {case.ua}")
            print(f"    want {tuple(case.expected)}\n    got  {tuple(got)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
