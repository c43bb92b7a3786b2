"""The command lines of the baselines (see the package docstring), as `ServerSpec`s."""

from __future__ import annotations

import functools
import signal
import string
import subprocess
from pathlib import Path

from bench.baselines.servers import REPO, ServerSpec

HERE = Path(__file__).resolve().parent
# The granian settings `tracer edge --workers 1` uses (edge/serve.py): ASGI, uvloop, one worker,
# HTTP/1 only, no websockets, backlog 4096, no access log (granian's default).
GRANIAN_FLAGS = (
    "--interface",
    "asgi",
    "--loop",
    "uvloop",
    "--workers",
    "1",
    "--http",
    "1",
    "--no-ws",
    "--backlog",
    "4096",
)


def bare_granian(bin_dir: Path, port: int) -> ServerSpec:
    bind = ("--host", "127.0.0.1", "--port", str(port))
    return ServerSpec(
        argv=[str(bin_dir / "granian"), *GRANIAN_FLAGS, *bind, "bench.baselines.bare_asgi:app"],
        env={"PYTHONPATH": str(REPO)},
    )


def nginx(prefix: Path, port: int) -> ServerSpec:
    """Render the config under `prefix`; nginx runs in the foreground with one worker."""
    prefix.mkdir(parents=True, exist_ok=True)
    template = string.Template((HERE / "nginx.conf.template").read_text(encoding="utf-8"))
    config = prefix / "nginx.conf"
    config.write_text(template.substitute(prefix=prefix, port=port), encoding="utf-8")
    return ServerSpec(
        argv=["nginx", "-p", str(prefix), "-c", str(config), "-g", "daemon off;"],
        cwd=prefix,
        stop_signal=signal.SIGQUIT,  # graceful: finish the requests in hand
    )


def flask_celery(bin_dir: Path, port: int, broker_url: str, worker_class: str) -> ServerSpec:
    """gunicorn, one worker process; `sync` is gunicorn's default and what Flask's docs show."""
    gunicorn = str(bin_dir / "gunicorn")
    flags = ["--workers", "1", "--worker-class", worker_class, "--backlog", "2048"]
    if worker_class == "gthread":
        flags += ["--threads", "8"]
    if _has_control_socket(gunicorn):
        flags.append("--no-control-socket")  # gunicorn >= 25 would create ~/.gunicorn/
    app = "bench.baselines.flask_celery:app"
    return ServerSpec(
        argv=[gunicorn, *flags, "--bind", f"127.0.0.1:{port}", app],
        env={"BENCH_BROKER_URL": broker_url, "PYTHONPATH": str(REPO)},
    )


@functools.cache
def _has_control_socket(gunicorn: str) -> bool:
    usage = subprocess.run([gunicorn, "--help"], capture_output=True, text=True, check=False)
    return "--no-control-socket" in usage.stdout
