"""`python -m bench` (what `just bench` runs): the edge benchmark, then the other stages'
benchmarks (`bench.batcher`, `bench.dispatcher`, `bench.rewrite`, ...) when they exist, and
the classifier's accuracy and speed (`bench.classify`).

    python -m bench                       # everything, 10s runs, 2 interleaved rounds
    python -m bench --only edge --quick   # the edge table only, 3s runs, one round
    python -m bench --only edge --duration 30s --rounds 3

The other modules are called as `main()` with a clean `sys.argv`; they may read
BENCH_QUICK (`1` or `0`) and BENCH_DURATION_S from the environment.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from types import FrameType

STAGES = (
    "edge",
    "edge_breakdown",
    "batcher",
    "clients",
    "dispatcher",
    "rewrite",
    "slugs",
    "e2e",
    "classify",
)


def build_parser() -> argparse.ArgumentParser:
    from bench import edge

    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Tracer's benchmarks: the edge against its baselines, then the other stages.",
    )
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated benchmarks to run, from {','.join(STAGES)} (default: all)",
    )
    edge.add_arguments(parser)
    return parser


def selected_stages(only: str) -> list[str]:
    chosen = [name.strip() for name in only.split(",") if name.strip()] or list(STAGES)
    unknown = [name for name in chosen if name not in STAGES]
    if unknown:
        raise SystemExit(f"error: unknown benchmark(s) {unknown}; choose from {list(STAGES)}")
    return chosen


def run_edge(args: argparse.Namespace) -> int:
    from bench import edge

    return edge.run(edge.options_from_args(args))


def run_other(name: str, args: argparse.Namespace) -> int:
    """Import `bench.<name>` lazily and call its `main()`; skip it when it does not exist."""
    module_name = f"bench.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        print(f"\n== {module_name}: not present yet, skipped", flush=True)
        return 0
    print(f"\n== {module_name}", flush=True)
    os.environ["BENCH_QUICK"] = "1" if args.quick else "0"
    if args.duration:
        os.environ["BENCH_DURATION_S"] = str(args.duration)
    saved_argv = sys.argv
    sys.argv = [f"python -m {module_name}"]
    try:
        return _exit_code(module.main())
    except SystemExit as exc:
        return _exit_code(exc.code)
    finally:
        sys.argv = saved_argv


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    return value if isinstance(value, int) else 1


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so every started process gets stopped."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stages = selected_stages(args.only)
    # Even when started with SIGINT ignored (a background job of a script), Ctrl-C cleans up.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    failures = 0
    try:
        for name in stages:
            try:
                code = run_edge(args) if name == "edge" else run_other(name, args)
            except Exception:  # one benchmark's crash must not hide the others' figures
                traceback.print_exc()
                code = 1
            failures += code != 0
    except KeyboardInterrupt:
        print("\ninterrupted: every process the benchmark started has been stopped", flush=True)
        return 130
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
