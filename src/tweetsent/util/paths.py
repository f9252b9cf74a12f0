"""Where tweetsent keeps what it can rebuild: converted word vectors, downloads, MiniLM encodings.

    cache_dir() / "embeddings"      # $TWEETSENT_CACHE, or ~/.cache/tweetsent
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """Where converted tables (and downloads) live: ``$TWEETSENT_CACHE`` or ``~/.cache/tweetsent``."""
    return Path(os.environ.get("TWEETSENT_CACHE", Path.home() / ".cache" / "tweetsent")).expanduser()
