"""The ``tweetsent`` command line: argument handling only; every command calls one library function.

    tweetsent train --train train.csv --val val.csv --config seed-prelu --json

`main` is the console script. Importing this package stays light (no torch, pandas or
matplotlib), so ``tweetsent --help`` answers at once.

Exit codes, the same for every command (`tweetsent.cli.exits` is the one place that sets them):

- 0: done;
- 1: a check that failed (``backprop --check``), or a bug in tweetsent (one line that says so);
- 2: an error you can fix: a wrong option, a missing or unreadable input file, an output that
  cannot be written (beneath a file, in a read-only folder, a full disk); one line
  ``error: <what, which file, the fix>`` on stderr;
- 130: interrupted by Ctrl-C (SIGINT);
- 143: terminated by SIGTERM (128 + 15: what a shell reports for a process killed by it).

Set ``TWEETSENT_DEBUG=1`` to see the traceback of an error instead of its one line.
"""

from __future__ import annotations

import os
import sys

__all__ = ["main"]


def main() -> None:
    """Run the ``tweetsent`` command line."""
    # Arrow's system allocator, unless the user chose one: labelling a million tweets peaked 58 MB
    # lower with it than with the bundled mimalloc, at the same speed (docs/scale.md). Read when Arrow
    # makes its first allocation, so it is set before anything is imported.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    from tweetsent.cli.exits import Terminated, install_sigterm

    install_sigterm()  # first, so that SIGTERM exits 143 from here on
    try:
        from tweetsent.cli.main import app

        app()
    except KeyboardInterrupt as exc:  # while starting, before any command runs
        sys.exit(143 if isinstance(exc, Terminated) else 130)
