"""A private `redis-server` child process: used by `tracer up` when `REDIS_URL` is unset,
and by the tests (which kill and restart it to inject faults)."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tracer.errors import TracerError


class RedisServerError(TracerError):
    pass


# Ports handed out by this process, never handed out twice.
_HANDED_OUT: set[int] = set()
_LOWEST_PORT = 20_000


def free_port() -> int:
    """A port nothing listens on, for a server about to start. Drawn from below the
    kernel's ephemeral range: a port the kernel picked for `bind(0)` is one it may also
    give any outgoing connection as its source port before the server binds it (then
    "Address already in use"); below the range only another listener can take it."""
    first_ephemeral = _first_ephemeral_port()
    if first_ephemeral - _LOWEST_PORT >= 1000:
        for _ in range(100):
            port = random.randrange(_LOWEST_PORT, first_ephemeral)
            if port not in _HANDED_OUT and _bindable(port):
                _HANDED_OUT.add(port)
                return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _first_ephemeral_port() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def _bindable(port: int) -> bool:
    """Nothing listens on `port`, on any address (servers here bind 0.0.0.0 too)."""
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


class RedisServer:
    """Runs `redis-server` on 127.0.0.1:`port` with its files under `directory`.

    `persistent` turns on the append-only file so data survives a restart (what `tracer up`
    wants); tests that simulate a crash that loses data leave it off. `appendfsync` is
    Redis's: with `everysec` a SIGKILL can lose writes Redis already acknowledged (up to
    about two seconds of them when the disk is slow to sync); `always` loses none.
    """

    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        persistent: bool = True,
        appendfsync: str = "everysec",
    ) -> None:
        self.directory = Path(directory)
        self.port = port or free_port()
        self.persistent = persistent
        self.appendfsync = appendfsync
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        return [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "yes" if self.persistent else "no",
            "--appendfsync",
            self.appendfsync,
            "--logfile",
            str(self.directory / "redis.log"),
            "--daemonize",
            "no",
        ]

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        if not shutil.which("redis-server") and not Path("/usr/bin/redis-server").exists():
            raise RedisServerError(
                "redis-server is not installed: install it (apt-get install redis-server) "
                "or set REDIS_URL"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.wait_ready(timeout_s)
        return self

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                log = self.directory / "redis.log"
                tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
                raise RedisServerError(f"redis-server exited at start-up: {tail}")
            if self.ping():
                return
            time.sleep(0.02)
        raise RedisServerError(f"redis-server did not answer on port {self.port} in {timeout_s}s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM: Redis finishes its append-only file and exits."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait()
        self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
