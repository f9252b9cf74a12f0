"""One ``--jobs`` worker process: runs trials of an existing study, nothing else.

    python -m tweetsent.tune.worker '{"study": "s", "storage": "sqlite:///runs/tune.db", "train": "train.csv", ...}'

`tweetsent.tune.study` starts these; the argument is the worker's `TuneOptions` as JSON, so the
search engine does not go through the command line to start its own workers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tweetsent.errors import TweetsentError
from tweetsent.tune.study import TuneOptions, run_tune

__all__ = ["main"]

_PATHS = ("train", "val", "out", "runs_dir")


def main(argv: list[str]) -> int:
    fields = json.loads(argv[1])
    for key in _PATHS:
        if fields.get(key) is not None:
            fields[key] = Path(fields[key])
    try:
        run_tune(TuneOptions(**fields))
    except TweetsentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
