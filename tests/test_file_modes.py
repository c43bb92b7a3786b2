"""Who may read Tracer's files: the SQLite store with its -wal and -shm files, the data
directory and the key ring are the account's own (real files, real processes)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.store.events import make_event
from tracer.brands import Brands
from tracer.store.sqlite import SQLiteStore


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def tracer(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], **env},
    )


async def test_the_sqlite_store_and_its_wal_and_shm_are_private(
    tmp_path: Path, example_brands: Brands
) -> None:
    """Under the usual umask (022), which would make them 0644 in a 0755 directory."""
    previous = os.umask(0o022)
    try:
        store = SQLiteStore(tmp_path / "var" / "tracer.sqlite3", example_brands)
        await store.open()
        try:
            await store.write([make_event("click") for _ in range(10)])
            files = sorted((tmp_path / "var").iterdir())
            assert [path.name for path in files] == [
                "tracer.sqlite3",
                "tracer.sqlite3-shm",
                "tracer.sqlite3-wal",
            ]
            assert {path.name: mode(path) for path in files} == dict.fromkeys(
                (path.name for path in files), 0o600
            )
            assert mode(tmp_path / "var") == 0o700
        finally:
            await store.close()
    finally:
        os.umask(previous)


async def test_a_store_an_older_tracer_left_open_is_made_private(
    tmp_path: Path, example_brands: Brands
) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    path = data / "tracer.sqlite3"
    store = SQLiteStore(path, example_brands)
    await store.open()
    await store.write([make_event("open")])
    await store.close()
    for loose in (data, path):
        os.chmod(loose, 0o755 if loose.is_dir() else 0o644)

    store = SQLiteStore(path, example_brands)
    await store.open()
    await store.close()

    assert (mode(data), mode(path)) == (0o700, 0o600)


def test_what_a_command_writes_in_a_new_data_directory_is_private(tmp_path: Path) -> None:
    data = tmp_path / "new" / "var"
    env = {"TRACER_DATA_DIR": str(data)}

    result = tracer("link", "open", "--brand", "northjobs", "--message-id", "m", env=env)

    assert result.returncode == 0, result.stderr
    assert (mode(data), mode(data / "keyring.json")) == (0o700, 0o600)


def test_an_existing_data_directory_open_to_others_is_made_private(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    os.chmod(data, 0o755)

    result = tracer("link", "open", "--brand", "northjobs", "--message-id", "m",
                    env={"TRACER_DATA_DIR": str(data)})  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert mode(data) == 0o700


def test_a_key_ring_others_can_read_is_refused(tmp_path: Path) -> None:
    ring = tmp_path / "ring.json"
    env = {"TRACER_DATA_DIR": str(tmp_path / "var"), "TRACER_KEYS": str(ring)}
    assert tracer("keys", "new", "--out", str(ring), env=env).returncode == 0
    for loose in (0o644, 0o640, 0o604):
        os.chmod(ring, loose)

        result = tracer("link", "open", "--brand", "northjobs", "--message-id", "m", env=env)

        assert result.returncode == 1
        assert f"is open to other users (mode {loose:04o})" in result.stderr
        assert f"chmod 600 {ring}" in result.stderr
    os.chmod(ring, 0o600)
    assert tracer("link", "open", "--brand", "northjobs", "--message-id", "m",
                  env=env).returncode == 0  # fmt: skip
