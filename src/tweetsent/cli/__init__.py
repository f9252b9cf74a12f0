"""The ``tweetsent`` command line: argument handling only; every command calls one library function.

    tweetsent train --train train.csv --val val.csv --config seed-prelu --json

`main` is the console script. Importing this package stays light (no torch, pandas or
matplotlib), so ``tweetsent --help`` answers at once.
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Run the ``tweetsent`` command line."""
    from tweetsent.cli.main import app

    app()
