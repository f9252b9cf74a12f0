"""Checks on output paths made before any work, so that a bad ``--out`` fails in a second, not after training.

    check_can_create(Path("tr500.csv/x"), "--out")
    # ConfigError: --out tr500.csv/x: tr500.csv is a file, not a folder, so nothing can be written beneath it; ...
"""

from __future__ import annotations

import os
from pathlib import Path

from tweetsent.errors import ConfigError

__all__ = ["check_can_create"]


def check_can_create(path: str | Path, option: str = "--out") -> None:
    """Refuse an output that cannot be created: beneath a regular file, or in a folder that cannot be written.

    Cheap: nothing is created. Folders missing on the way are fine (they are made when writing);
    whether ``path`` itself may already exist is the caller's rule.

    Parameters
    ----------
    path : path
        The file or folder to be written.
    option : str
        How the user named it (``--out``, ``--report``), for the message.

    Raises
    ------
    ConfigError
        Naming the blocking file or folder and the fix.
    """
    path = Path(path)
    # The nearest ancestor that exists decides: the rest is created beneath it.
    anchor = next((p for p in path.parents if p.exists() or p.is_symlink()), Path("."))
    if not anchor.is_dir():
        raise ConfigError(f"{option} {path}: {anchor} is a file, not a folder, so nothing can be written "
                          f"beneath it; choose another {option}")
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: the folder {anchor} cannot be written (permission denied); "
                          f"choose another {option}, or change the folder's permissions")
