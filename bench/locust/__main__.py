"""`python -m bench.locust [SCENARIO] [DURATION]` (what `just locust` runs): one locust
scenario, headless, against a private `tracer up`, then a check that the pipeline kept up.

    python -m bench.locust                                # email_campaign for 30s
    python -m bench.locust sms_burst 20s --users 80
    python -m bench.locust bot_storm 1m -- --tracer-seed 7   # after --: passed to locust

1. `tracer up` starts in a temporary data directory (or `--data-dir`, kept afterwards) on
   free ports: a private redis-server, the edge on 127.0.0.1, the admin API, the batcher and
   the dispatcher, with the example brands (or `TRACER_CONFIG`). `REDIS_URL` and
   `MONGODB_URL` are ignored: the target is always private and disposable.
2. locust runs the scenario headless (`--only-summary`) with the same data directory, so
   its link pools are sealed with the target's key ring, and prints its summary.
3. The event queue is drained, `tracer up` is stopped (SIGTERM: every role front to back),
   and the events in the store are counted per type and compared with the tally of what
   the edge answered: answered <= stored <= attempted (a request cut off at the end may
   have been recorded without its answer being seen).

Exit code: locust's (1 when any request failed), or 1 when the store does not match.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
EVENT_TYPES = ("sent", "open", "click", "unsubscribe_view", "unsubscribe")
# Users and spawn rate per scenario when not given: what one core of locust sustains.
DEFAULTS = {"email_campaign": (20, 10), "sms_burst": (50, 50), "bot_storm": (20, 20)}
NOT_SCENARIOS = ("__init__", "__main__", "common")
START_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 60.0
PR_SET_PDEATHSIG = 1


def scenarios() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if p.stem not in NOT_SCENARIOS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.locust",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s [SCENARIO] [DURATION] [options] [-- locust arguments]",
    )
    parser.add_argument(
        "scenario",
        nargs="?",
        default="email_campaign",
        help=f"one of {', '.join(scenarios())} (default email_campaign)",
    )
    parser.add_argument(
        "duration", nargs="?", default="30s", help="locust --run-time: 30s, 2m, 1h30m (default 30s)"
    )
    parser.add_argument("--users", "-u", type=int, help="concurrent users (per-scenario default)")
    parser.add_argument("--spawn-rate", "-r", type=float, help="users started per second")
    parser.add_argument("--edge-workers", type=int, default=1, help="edge worker processes")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="the target's data directory, kept afterwards (default: temporary)",
    )
    parser.add_argument("--csv", help="locust --csv prefix (stats files)")
    parser.add_argument(
        "--summary",
        type=Path,
        help="write the tally, the stored counts and the verdict here (JSON)",
    )
    return parser


class Target:
    """A private `tracer up` on free ports, in its own session."""

    def __init__(self, data_dir: Path, edge_workers: int) -> None:
        from tracer.redis_server import free_port

        self.data_dir = data_dir
        self.edge_port, self.admin_port = free_port(), free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MONGODB_URL")},
            "TRACER_DATA_DIR": str(data_dir),
            "TRACER_EDGE_HOST": "127.0.0.1",
            "TRACER_EDGE_PORT": str(self.edge_port),
            "TRACER_ADMIN_PORT": str(self.admin_port),
            "TRACER_BATCHER_METRICS_PORT": "0",
            "TRACER_DISPATCHER_METRICS_PORT": "0",
            # The scenarios call the API with the example brands' demo keys.
            "TRACER_DEV_MODE": os.environ.get("TRACER_DEV_MODE", "1"),
            "TRACER_LOG_LEVEL": os.environ.get("TRACER_LOG_LEVEL", "WARNING"),
        }
        self.edge_workers = edge_workers
        self.log_path = data_dir / "tracer-up.log"
        self.process: subprocess.Popen[str] | None = None
        self.redis_url = ""

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.edge_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli", "up", "--edge-workers", str(self.edge_workers)],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        banner = self._read_banner()
        found = re.search(r"^\s+redis\s+(redis://\S+)", banner, re.MULTILINE)
        self.redis_url = found.group(1) if found else ""
        # Whatever the roles print later goes to the log, never into a full pipe.
        threading.Thread(target=self._copy_output, daemon=True).start()
        self._wait_ready()

    def _copy_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with self.log_path.open("a") as log:
            for line in self.process.stdout:
                log.write(line)

    def _read_banner(self) -> str:
        assert self.process is not None and self.process.stdout is not None
        banner = ""
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Press Ctrl-C" not in banner:
            line = self.process.stdout.readline()
            if not line or time.monotonic() > deadline:
                raise RuntimeError(f"tracer up did not start; see {self.log_path}")
            banner += line
        return banner

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        for url in (f"{self.edge_url}/healthz", f"{self.admin_url}/readyz"):
            while not _answers_200(url):
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"{url} did not become ready; see {self.log_path}")
                time.sleep(0.1)

    def queued(self) -> int:
        """Events still in the queue or in a batcher's hands."""
        import redis

        from tracer import redis_keys
        from tracer.settings import load_settings

        shards = load_settings(self.env).queue_shards
        client = redis.Redis.from_url(self.redis_url, socket_timeout=5)
        try:
            total = sum(client.llen(redis_keys.event_shard(n)) for n in range(shards))
            for n in range(shards):
                for key in client.scan_iter(redis_keys.event_processing_pattern(n)):
                    total += client.llen(key)
            return total
        finally:
            client.close()

    def drain(self) -> int:
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while (left := self.queued()) and time.monotonic() < deadline:
            time.sleep(0.2)
        return left

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()


def _die_with_parent() -> None:
    """In a child before exec: SIGTERM it if this runner dies, even by SIGKILL (`tracer up`
    then stops every role; locust stops its users)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def run_locust(args: argparse.Namespace, target: Target, tally: Path) -> int:
    users, spawn_rate = DEFAULTS.get(args.scenario, (20, 10))
    extra = args.locust_args
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(HERE / f"{args.scenario}.py"),
        "--headless",
        "--only-summary",
        "--host",
        target.edge_url,
        "--admin-url",
        target.admin_url,
        "--tally-file",
        str(tally),
        "-u",
        str(args.users or users),
        "-r",
        str(args.spawn_rate or spawn_rate),
        "-t",
        args.duration,
        "--stop-timeout",
        "10",
        *(["--csv", args.csv] if args.csv else []),
        *extra,
    ]
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**target.env, "PYTHONPATH": os.pathsep.join(paths)}
    print(
        f"== locust {args.scenario} for {args.duration} against {target.edge_url} "
        f"(admin {target.admin_url})",
        flush=True,
    )
    return subprocess.run(command, cwd=ROOT, env=env, preexec_fn=_die_with_parent).returncode


async def stored_counts(env: dict[str, str]) -> dict[str, dict[str, int]]:
    """Per event type, the events in the store (`all`) and those the brands' bot policies
    count as people (`human`, from the rollups)."""
    from tracer.brands import load_brands
    from tracer.settings import load_settings
    from tracer.store import open_store

    settings = load_settings(env)
    brands = load_brands(settings.config_path)
    store = await open_store(settings, brands)
    try:
        counts = {
            kind: {"all": await store.count_events(event_type=kind), "human": 0}
            for kind in EVENT_TYPES
        }
        for brand in brands:
            stats = await store.stats(brand.id)
            for kind in EVENT_TYPES:
                counts[kind]["human"] += stats.of(kind).human
        return counts
    finally:
        await store.close()


def read_tally(path: Path) -> dict[str, dict[str, int]]:
    """The scenario's tally: its file and the per-worker ones (`PATH.<pid>`) of a run with
    `--processes` or workers on this machine, summed."""
    total: dict[str, Counter[str]] = {"attempted": Counter(), "answered": Counter()}
    for part in [path, *path.parent.glob(f"{path.name}.*")]:
        if part.exists():
            for key, counts in json.loads(part.read_text()).items():
                total[key].update(counts)
    return {key: dict(counts) for key, counts in total.items()}


def compare(tally: dict, stored: dict[str, dict[str, int]], queued: int) -> tuple[bool, list[str]]:
    attempted, answered = tally.get("attempted", {}), tally.get("answered", {})
    lines = [
        f"{'event type':<18}{'answered':>10}{'stored':>10}{'attempted':>11}{'human':>9}  verdict"
    ]
    ok = queued == 0
    for kind in EVENT_TYPES:
        low, high = answered.get(kind, 0), attempted.get(kind, 0)
        got, human = stored[kind]["all"], stored[kind]["human"]
        good = low <= got <= high
        ok &= good
        lines.append(
            f"{kind:<18}{low:>10,}{got:>10,}{high:>11,}{human:>9,}  {'ok' if good else 'MISMATCH'}"
        )
    lines.append(
        "  answered <= stored <= attempted; human: what the brands' bot policies count as people"
    )
    if queued:
        lines.append(f"{queued:,} events still queued after {DRAIN_TIMEOUT_S:.0f}s: MISMATCH")
    if not any(answered.values()):
        ok = False
        lines.append("no request recorded an event: the scenario did not run")
    return ok, lines


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args = build_parser().parse_args(argv[:split])
    args.locust_args = argv[split + 1 :]
    args.scenario = args.scenario.removesuffix(".py")
    if args.scenario not in scenarios():
        raise SystemExit(f"error: no scenario {args.scenario!r}; choose from {scenarios()}")
    keep = args.data_dir is not None
    data_dir = (args.data_dir or Path(tempfile.mkdtemp(prefix="tracer-locust-"))).resolve()
    target = Target(data_dir, args.edge_workers)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    tally_path = data_dir / "locust-tally.json"
    code, summary = 1, {}
    try:
        print(f"== tracer up in {data_dir}", flush=True)
        target.start()
        code = run_locust(args, target, tally_path)
        print("== draining the event queue into the store", flush=True)
        queued = target.drain()
        target.stop()
        tally = read_tally(tally_path)
        stored = asyncio.run(stored_counts(target.env))
        ok, lines = compare(tally, stored, queued)
        print("\nPipeline check: events the edge and the admin API answered, in the store")
        print("\n".join(lines))
        summary = {
            "locust_exit_code": code,
            "tally": tally,
            "stored": stored,
            "queued": queued,
            "store_matches": ok,
        }
        if not ok:
            code = code or 1
    except RuntimeError as error:  # the target did not start
        print(f"error: {error}", file=sys.stderr, flush=True)
        code = 1
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
        code = 130
    finally:
        target.stop()
        if args.summary:
            args.summary.write_text(json.dumps(summary, indent=1) + "\n")
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    return code


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


if __name__ == "__main__":
    sys.exit(main())
