"""The short fault-injection run inside the test suite (the long one: `just chaos`)."""

from __future__ import annotations

from pathlib import Path

from tests.chaos.harness import FAULTS, run


def test_every_answered_request_is_stored_once_and_delivered_through_every_fault(
    tmp_path: Path, capsys
) -> None:
    """1. `tracer up` with two edge workers and a signature-checking webhook receiver.
    2. Per fault, a steady load of distinct clicks and opens; then the fault: SIGKILL of
    an edge worker, of the batcher, of the dispatcher, of redis-server; the receiver down.
    Result: every answered request stored exactly once, every event delivered."""
    lines: list[str] = []
    results = run(
        tmp_path, before_s=1.5, hold_s=2.0, after_s=2.0, rate=150.0, drain_timeout_s=30.0,
        out=lines.append,
    )  # fmt: skip
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert [result.fault for result in results] == [fault.name for fault in FAULTS]
    assert [result for result in results if not result.ok] == [], "\n".join(lines)
