"""Who ran a run, where and when, and whether the process that runs it is still alive.

    run_id = new_run_id(); gone = process_gone(pid, process_start(pid))

Run ids are 12 characters: the start time in milliseconds in base 36 (8 characters, so ids sort
by start until 2059) and 4 random ones. Liveness reads ``/proc`` on Linux to tell a reused pid
and a zombie from the process that started the run; elsewhere it trusts ``os.kill(pid, 0)``.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["git_commit", "new_run_id", "process_gone", "process_start"]

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def process_gone(pid: int | None, proc_start: str | None) -> bool:
    """Whether the process that started a run on this host has ended.

    Parameters
    ----------
    pid : int or None
        The recorded process id.
    proc_start : str or None
        The recorded ``process_start(pid)``; ``None`` skips the pid-reuse check.

    Returns
    -------
    bool
        True for no such pid, a zombie, or a pid now owned by a process started at another time.
    """
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # e.g. PermissionError: alive, owned by another user
    stat = _proc_stat(pid)
    if stat is None:
        return False  # no /proc (macOS): the pid exists, assume it is ours
    state, started = stat
    # A SIGKILLed child that nobody reaped is a zombie: its pid answers but it runs no more.
    return state in ("Z", "X") or (proc_start is not None and started != proc_start)


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) from /proc, or None off Linux."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses; the fields after the last ")" do not.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], fields[19]


def process_start(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, as text), or None where /proc is missing."""
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def new_run_id() -> str:
    """A fresh 12-character run id that sorts by creation time (see the module docstring)."""
    millis = int(datetime.now(UTC).timestamp() * 1000)
    digits = ""
    while millis:
        millis, rest = divmod(millis, 36)
        digits = _ALPHABET[rest] + digits
    return digits.rjust(8, "0") + "".join(secrets.choice(_ALPHABET) for _ in range(4))


def git_commit() -> str | None:
    """HEAD of the project in the current directory, or None outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=2, check=False
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None
