"""The machine a run measured on: CPU, cores, memory, kernel, and every version that matters."""

from __future__ import annotations

import platform
import shutil
import subprocess
from importlib.metadata import PackageNotFoundError, version


def machine_description() -> dict[str, str]:
    return {
        "cpu": _lscpu("Model name"),
        "cores (nproc)": _output(["nproc"]),
        "virtualization": _lscpu("Hypervisor vendor") or "none reported",
        "memory": _memory_total(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "granian / uvloop": f"{_version('granian')} / {_version('uvloop')}",
        "redis-py / hiredis": f"{_version('redis')} / {_version('hiredis')}",
        "flask / gunicorn / celery": " / ".join(
            _version(name) for name in ("flask", "gunicorn", "celery")
        ),
        "wrk": _output(["wrk", "-v"]).splitlines()[0] if shutil.which("wrk") else "missing",
        "nginx": _output(["nginx", "-v"]).removeprefix("nginx version: "),
        "redis-server": _output(["redis-server", "--version"]).split(" sha=")[0],
    }


def _output(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "missing"
    return (done.stdout + done.stderr).strip()


def _lscpu(field: str) -> str:
    for line in _output(["lscpu"]).splitlines():
        key, _, value = line.partition(":")
        if key.strip() == field:
            return value.strip()
    return ""


def _memory_total() -> str:
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        kilobytes = int(meminfo.readline().split()[1])
    return f"{kilobytes / 1024 / 1024:.1f} GiB"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "missing"
