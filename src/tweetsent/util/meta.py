"""Facts about this process: the package version and the time (runs record them), the usable cores.

    {"package_version": package_version(), "started": utc_now()}
    usable_cpus()       # 1 under `taskset -c 0` on a 2-core machine, where os.cpu_count() says 2
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
    """The cores this process may run on (its CPU affinity where the system tells it, else all of them)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1
