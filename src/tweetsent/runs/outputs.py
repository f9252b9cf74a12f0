"""Output paths: checked before any work (so that a bad ``--out`` fails in a second, not after
training), and the unfinished folders that killed processes leave behind.

    check_can_create(Path("tr500.csv/x"), "--out")
    # ConfigError: --out tr500.csv/x: tr500.csv is a file, not a folder, so nothing can be written beneath it; ...
    check_output_file(Path("tweets.csv"), "--out", inputs=["tweets.csv"])
    # ConfigError: --out tweets.csv is the input file tweets.csv; ...
    [u.path for u in unfinished_runs("runs") if u.removable]   # what `tweetsent runs clean` removes
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tweetsent.errors import ConfigError, ModelError
from tweetsent.runlog.process import process_gone, process_start
from tweetsent.util.files import incomplete_dirs, read_owner

__all__ = ["Unfinished", "check_can_create", "model_folder", "check_output_file", "remove_unfinished", "run_owner", "unfinished_runs"]


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


def check_output_file(path: str | Path, option: str = "--out", inputs: Iterable[str | Path | None] = ()) -> None:
    """Refuse an output file that is a folder or one of the inputs, or that cannot be created.

    An existing regular file is fine (it is replaced whole when the output is complete); a symbolic
    link is written through to its target, a device or FIFO in place (`tweetsent.util.files.atomic_path`).

    Parameters
    ----------
    path : path
        The file to be written.
    option : str
        How the user named it, for the message.
    inputs : iterable of path
        Files the command reads (``None`` and ``"-"``, stdin, are skipped); the same file under
        another name (a link, ``./``) counts.

    Raises
    ------
    ConfigError
        One line naming the path and the fix.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{option} {path}: this is a folder; give a file name (inside it, or elsewhere)")
    for source in inputs:
        if source is None or str(source) == "-":
            continue
        try:
            same = os.path.samefile(path, source)
        except OSError:  # either is missing: not the same file
            same = False
        if same:
            raise ConfigError(f"{option} {path} is the input file {source}: writing it would destroy the input; "
                              f"choose another {option}")
    check_can_create(path, option)


def run_owner() -> dict:
    """What a run's ``.incomplete-*`` folder records beside the pid and host: when the process started
    (so that a reused pid is not taken for it)."""
    return {"proc_start": process_start(os.getpid())}


@dataclass(frozen=True)
class Unfinished:
    """An ``.incomplete-*`` folder: whether `remove_unfinished` may remove it, and why (not)."""

    path: Path
    removable: bool
    reason: str


def _judge(folder: Path, host: str) -> Unfinished:
    owner = read_owner(folder)
    if owner is None:
        return Unfinished(folder, False, "it records no process (made by an older tweetsent, or killed while "
                                         "starting); remove it by hand if no tweetsent command is writing it")
    pid = owner["pid"]
    if owner.get("host") != host:
        return Unfinished(folder, False, f"made by process {pid} on host {owner.get('host')}: run "
                                         f"`tweetsent runs clean` there")
    if process_gone(pid, owner.get("proc_start")):
        return Unfinished(folder, True, f"process {pid} has ended")
    return Unfinished(folder, False, f"process {pid} is still writing it")


def unfinished_runs(runs_dir: str | Path) -> list[Unfinished]:
    """Every ``.incomplete-*`` folder directly in ``runs_dir``, judged by the process that made it.

    Removable only when its owner file names a process on this host that has ended; a folder whose
    process still runs, that was made on another host, or whose owner file is missing or unreadable
    is kept (its ``reason`` says why).
    """
    host = socket.gethostname()
    return [_judge(folder, host) for folder in incomplete_dirs(runs_dir)]


def remove_unfinished(items: Iterable[Unfinished]) -> list[Path]:
    """Remove the removable folders among ``items`` (judged again just before); returns those removed."""
    host, removed = socket.gethostname(), []
    for item in items:
        if item.removable and _judge(item.path, host).removable:
            shutil.rmtree(item.path)
            removed.append(item.path)
    return removed


def model_folder(run_dir: str | Path) -> Path:
    """The folder holding ``model.json``: ``run_dir/model`` for a run directory, else ``run_dir`` itself."""
    run_dir = Path(run_dir)
    folder = run_dir / "model" if (run_dir / "model").is_dir() else run_dir
    if not (folder / "model.json").is_file():
        raise ModelError(f"{run_dir}: no such run directory (no model.json in it); "
                         f"give a run directory made by `tweetsent train`")
    return folder
