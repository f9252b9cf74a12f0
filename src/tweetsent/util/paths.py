"""Where tweetsent keeps what it can rebuild: converted word vectors, downloads, MiniLM encodings.

    cache_dir() / "embeddings"      # $TWEETSENT_CACHE, or ~/.cache/tweetsent
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "model_folder"]


def cache_dir() -> Path:
    """Where converted tables (and downloads) live: ``$TWEETSENT_CACHE`` or ``~/.cache/tweetsent``."""
    return Path(os.environ.get("TWEETSENT_CACHE", Path.home() / ".cache" / "tweetsent")).expanduser()


def model_folder(run_dir: str | Path) -> Path:
    """The folder holding ``model.json``: ``run_dir/model`` for a run directory, else ``run_dir`` itself."""
    from tweetsent.errors import ModelError

    run_dir = Path(run_dir)
    folder = run_dir / "model" if (run_dir / "model").is_dir() else run_dir
    if not (folder / "model.json").is_file():
        raise ModelError(f"{run_dir}: no such run directory (no model.json in it); "
                         f"give a run directory made by `tweetsent train`")
    return folder
