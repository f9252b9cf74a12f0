"""Facts about this process: the package version and the time (runs record them), the usable cores.

    {"package_version": package_version(), "started": utc_now()}
    usable_cpus()       # 1 under `taskset -c 0` (or OMP_NUM_THREADS=1) on a 2-core machine
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

__all__ = ["package_version", "usable_cpus", "utc_now"]


def utc_now(timespec: str = "milliseconds") -> str:
    """The current UTC time as ISO 8601 (``timespec`` as `datetime.isoformat`); such strings sort chronologically."""
    return datetime.now(UTC).isoformat(timespec=timespec)


def package_version() -> str:
    """The installed tweetsent version, or "unknown" when running from an uninstalled checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tweetsent")
    except PackageNotFoundError:
        return "unknown"


def usable_cpus() -> int:
    """The cores this process may use: its CPU affinity where the system tells it (else every core),
    capped by ``OMP_NUM_THREADS`` when that is set, as Dask's workers and `tweetsent serve --workers N` do."""
    try:
        cores = len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS and Windows have no affinity call
        cores = os.cpu_count() or 1
    cap = os.environ.get("OMP_NUM_THREADS", "")
    return min(cores, int(cap)) if cap.isdigit() and int(cap) > 0 else cores
