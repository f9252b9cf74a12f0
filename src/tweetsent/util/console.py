"""The one place progress and messages go: a rich console on stderr, so stdout stays for results.

    stderr_console().print("encoding 2,282 tweets")
"""

from __future__ import annotations

from rich.console import Console

__all__ = ["stderr_console"]


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)
