"""A short run of the edge fuzzer (`just fuzz` sends 200,000 requests): generated and
mutated requests against a real `tracer edge` with two workers, over real HTTP."""

from __future__ import annotations

import random
from pathlib import Path

from bench.fuzz import Judge, fuzz
from tracer.brands import Brands
from tracer.keyring import new_keyring
from tracer.links import LinkBuilder

REQUESTS = 2500


def test_a_short_fuzz_run_finds_no_5xx_no_restart_and_no_stray_redirect(tmp_path: Path) -> None:
    seed = random.randrange(2**32)
    result = fuzz(REQUESTS, seed, tmp_path)

    report = result.report(seed)
    print(report)
    assert result.passed, report
    assert result.tally.sent >= REQUESTS
    # Not vacuous: valid tokens were followed, and so were landing pages.
    assert (
        result.tally.to_destinations > 0
        and result.tally.statuses[302] > result.tally.to_destinations
    )


def test_the_judge_refuses_what_the_edge_must_never_do(example_brands: Brands) -> None:
    keyring = new_keyring()
    builder = LinkBuilder(example_brands, keyring)
    url = builder.click("northjobs", "m", "https://jobs.example/1")
    path = url.removeprefix("https://t.northjobs.example")
    judge = Judge(example_brands, keyring, {})

    def request(host: str, target: str = path) -> bytes:
        return f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()

    assert judge.redirect(request("t.northjobs.example"), "https://jobs.example/1?x=1")
    assert judge.redirect(request("t.northjobs.example"), "https://northjobs.example/")
    # Another brand's host, a tampered token, another destination, non-ASCII: never.
    assert judge.redirect(request("t.harborcareers.example"), "https://jobs.example/1") is None
    assert (
        judge.redirect(request("t.northjobs.example", path[:-2] + "AA"), "https://jobs.example/1")
        is None
    )
    assert judge.redirect(request("t.northjobs.example"), "https://evil.example/") is None
    assert judge.redirect(request("t.northjobs.example"), "https://jobs.example/1?\u00e9") is None
