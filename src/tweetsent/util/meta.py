"""Facts about this process that runs record: the package version and the time.

    {"package_version": package_version(), "started": utc_now()}
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["package_version", "utc_now"]


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
