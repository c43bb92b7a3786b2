"""The standard `process_*` series of a role's own process, under the names of
prometheus_client's process collector, so dashboards and alerts written for any Python
service work unchanged. (The edge sums them over its workers; see `edge/metrics.py`.)"""

from __future__ import annotations

import contextlib
import os
import resource
import time

from tracer.prometheus import Exposition

# When this module was first imported: close enough to the process start for a role that
# imports it while starting up.
PROCESS_STARTED_AT = time.time()


def cpu_seconds() -> float:
    """User and system CPU time of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_bytes() -> float:
    """Resident memory of this process (0 where /proc is not available)."""
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/self/statm", "rb") as f:
        return float(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    return 0.0


def open_fds() -> int:
    """File descriptors this process holds (connections included; 0 without /proc)."""
    with contextlib.suppress(OSError):
        return len(os.listdir("/proc/self/fd"))
    return 0


def render_process(out: Exposition, started_at: float = PROCESS_STARTED_AT) -> None:
    """Add the `process_*` series of this process to `out`."""
    out.single("process_cpu_seconds_total", "counter", "User and system CPU time.",
               round(cpu_seconds(), 3))  # fmt: skip
    out.single("process_resident_memory_bytes", "gauge", "Resident memory.", rss_bytes())
    out.single("process_open_fds", "gauge", "Open file descriptors.", open_fds())
    out.single("process_start_time_seconds", "gauge",
               "Start time of the process (Unix seconds).", round(started_at, 3))  # fmt: skip
