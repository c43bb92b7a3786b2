"""`python -m tests.chaos` (`just chaos`): the fault-injection run with long phases.

python -m tests.chaos [--rate 400] [--hold 6] [--before 5] [--after 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.chaos.harness import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--rate", type=float, default=400.0, help="requests/s (default 400)")
    parser.add_argument("--before", type=float, default=5.0, help="load before each fault, s")
    parser.add_argument("--hold", type=float, default=6.0, help="how long a fault lasts, s")
    parser.add_argument("--after", type=float, default=10.0, help="load after each fault, s")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument(
        "--keep", type=Path, help="run in this directory and keep it (logs, store, Redis)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tracer-chaos-") as workdir:
        directory = args.keep or Path(workdir)
        directory.mkdir(parents=True, exist_ok=True)
        results = run(
            directory, before_s=args.before, hold_s=args.hold, after_s=args.after,
            rate=args.rate, drain_timeout_s=args.drain_timeout,
        )  # fmt: skip
    failed = [result.fault for result in results if not result.ok]
    print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or len(results) == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
