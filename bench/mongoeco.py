"""A mongoeco wire server as a child process: the MongoDB stand-in of the tests and the
benchmark on machines without `mongod`. It is a faithful but slow server (unique indexes,
duplicate-key errors, upserts over the real wire protocol), and it is not MongoDB:
figures measured against it say nothing about mongod's speed.
"""

from __future__ import annotations

import select
import signal
import subprocess
import time
from pathlib import Path

from tracer.errors import TracerError
from tracer.redis_server import free_port

ROOT = Path(__file__).resolve().parents[1]
SERVER_SCRIPT = ROOT / "scripts" / "mongoeco_server.py"
VENV_SCRIPT = ROOT / "scripts" / "mongoeco_venv.sh"
VENV_PYTHON = ROOT / ".venv-mongoeco" / "bin" / "python"


class MongoEcoError(TracerError):
    pass


def mongoeco_python(install: bool = True) -> Path:
    """The interpreter of `.venv-mongoeco`, created by `scripts/mongoeco_venv.sh` when
    missing and `install` is true; raises `MongoEcoError` when that is not possible."""
    if VENV_PYTHON.exists() and not install:
        return VENV_PYTHON
    if install:
        done = subprocess.run(
            ["bash", str(VENV_SCRIPT)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise MongoEcoError(f"cannot prepare .venv-mongoeco: {done.stderr.strip()[-500:]}")
    if not VENV_PYTHON.exists():
        raise MongoEcoError(f"{VENV_PYTHON} is missing: run scripts/mongoeco_venv.sh")
    return VENV_PYTHON


class MongoEcoServer:
    """`scripts/mongoeco_server.py` on 127.0.0.1:`port`; with `data_path` the data is in a
    SQLite file and survives `stop()` + `start()` (on the same port)."""

    def __init__(self, data_path: Path | None = None, port: int | None = None) -> None:
        self.data_path = data_path
        self.port = port or free_port()
        self.process: subprocess.Popen[str] | None = None

    def url(self, database: str = "tracer", **options: object) -> str:
        query = "&".join(["directConnection=true", *(f"{k}={v}" for k, v in options.items())])
        return f"mongodb://127.0.0.1:{self.port}/{database}?{query}"

    def start(self, timeout_s: float = 60.0) -> MongoEcoServer:
        command = [str(mongoeco_python()), str(SERVER_SCRIPT), "--port", str(self.port)]
        if self.data_path is not None:
            command += ["--path", str(self.data_path)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.1)
            if ready:
                line = self.process.stdout.readline()
                if line.startswith("ready "):
                    return
            if self.process.poll() is not None:
                stderr = self.process.stderr.read() if self.process.stderr else ""
                self.process = None
                raise MongoEcoError(f"mongoeco server exited at start-up: {stderr[-800:]}")
        self.stop()
        raise MongoEcoError(f"mongoeco server not ready on port {self.port} in {timeout_s}s")

    def pause(self) -> None:
        """SIGSTOP: the server keeps its port and data but answers nothing (a hung server,
        the nastier kind of unreachable)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        process.send_signal(signal.SIGCONT)  # in case it is paused
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> MongoEcoServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
