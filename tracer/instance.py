"""What a running Tracer tells other processes on the same machine, under its data dir.

`tracer up` records its *runtime facts* in `TRACER_DATA_DIR/instance.json`: its pid, the
private redis-server it started (a random port no other command could guess), the store,
the brands file, the key ring and the addresses the edge and the admin API serve on. The
commands (`tracer link`, `stats`, `dlq`, `keys`, `config check`) read them whenever the
matching setting is unset, so they talk to the instance `just run` started.

Each batcher and dispatcher also registers the address of its `/metrics` in
`TRACER_DATA_DIR/run/<role>-<pid>.json` while it runs; the dashboard scrapes exactly the
processes registered in its own data dir, never whatever else listens on a well-known port.

The files may hold connection URLs with passwords: they are written 0600, atomically.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

import msgspec

logger = logging.getLogger(__name__)

FACTS_FILE = "instance.json"
ROLES_DIR = "run"


class InstanceFacts(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=False):
    """The runtime facts of one `tracer up`."""

    pid: int
    started_at: float
    data_dir: str
    config_path: str
    # The key ring file; None with `keys_inline`: TRACER_KEYS held the ring itself.
    keys: str | None = None
    keys_inline: bool = False
    redis_url: str | None = None
    mongodb_url: str | None = None
    edge_url: str = ""
    admin_url: str = ""

    @property
    def running(self) -> bool:
        return pid_alive(self.pid)

    def describe(self) -> str:
        """One line for people: which instance this is."""
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started_at))
        state = "running" if self.running else "not running"
        return f"`tracer up` pid {self.pid} ({state}, started {since}), data dir {self.data_dir}"


class RoleRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A role process serving `/metrics` at `metrics_url`."""

    role: str
    pid: int
    metrics_url: str


_encode = msgspec.json.Encoder().encode
_decode_facts = msgspec.json.Decoder(InstanceFacts).decode
_decode_role = msgspec.json.Decoder(RoleRecord).decode


def write_facts(data_dir: Path, facts: InstanceFacts) -> Path:
    path = data_dir / FACTS_FILE
    write_private(path, _encode(facts))
    return path


def read_facts(data_dir: Path) -> InstanceFacts | None:
    """The facts recorded under `data_dir`, or None when there are none (or they are not
    readable: a command then behaves as if no instance had been started there)."""
    path = data_dir / FACTS_FILE
    try:
        return _decode_facts(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, msgspec.DecodeError) as exc:
        logger.warning("ignoring %s: %s", path, exc)
        return None


def remove_facts(data_dir: Path, pid: int) -> None:
    """Remove the facts if they are still those of `pid` (a newer instance keeps its own)."""
    facts = read_facts(data_dir)
    if facts is not None and facts.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            (data_dir / FACTS_FILE).unlink()


def register_role(data_dir: Path, role: str, metrics_url: str) -> Path:
    """Record that this process serves `role`'s metrics at `metrics_url`; returns the file
    to remove (`unregister_role`) when the process stops."""
    pid = os.getpid()
    path = data_dir / ROLES_DIR / f"{role}-{pid}.json"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(path, _encode(RoleRecord(role=role, pid=pid, metrics_url=metrics_url)))
    return path


def unregister_role(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def registered_metrics(data_dir: Path, role: str) -> tuple[str, ...]:
    """The `/metrics` URLs of the live `role` processes registered under `data_dir`. Files
    of processes that died without unregistering are removed on the way."""
    urls = []
    for path in sorted((data_dir / ROLES_DIR).glob(f"{role}-*.json")):
        try:
            record = _decode_role(path.read_bytes())
        except (OSError, msgspec.DecodeError):
            continue
        if record.role != role:
            continue
        if not pid_alive(record.pid):
            unregister_role(path)
            continue
        urls.append(record.metrics_url)
    return tuple(urls)


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` with mode 0600, atomically (readers never see half a file)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    try:
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
