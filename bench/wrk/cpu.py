"""Where the CPU went during a run: each core's load (/proc/stat), and the CPU time of the
processes that matter (/proc/<pid>/stat), so a figure taken while something else ate the
server's core can be told apart from a figure limited by the server itself."""

from __future__ import annotations

import os
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def core_times() -> dict[int, tuple[int, int]]:
    """Per core: (busy, total) jiffies."""
    times: dict[int, tuple[int, int]] = {}
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            name, *fields = line.split()
            if name.startswith("cpu") and name != "cpu":
                values = [int(value) for value in fields[:8]]  # user … steal
                idle = values[3] + values[4]  # idle + iowait
                times[int(name[3:])] = (sum(values) - idle, sum(values))
    return times


def core_busy(
    before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]
) -> dict[int, float]:
    """Per core, the share of the interval it was busy (with anything, ours or not)."""
    shares: dict[int, float] = {}
    for core, (busy, total) in after.items():
        busy_before, total_before = before.get(core, (0, 0))
        if total > total_before:
            shares[core] = (busy - busy_before) / (total - total_before)
    return shares


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3… of /proc/<pid>/stat (after the command name, which may contain spaces)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _cpu_s(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S  # utime + stime


def process_cpu_s(pid: int) -> float:
    """CPU seconds used so far by one process (0 once it is gone)."""
    fields = _stat_fields(pid)
    return _cpu_s(fields) if fields else 0.0


def session_cpu_s(session: int) -> float:
    """CPU seconds used so far by the live processes of a session (a server and its workers)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and int(fields[3]) == session:
                total += _cpu_s(fields)
    return total
