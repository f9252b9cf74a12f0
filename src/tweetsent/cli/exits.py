"""The one error path of every command: the single line a failing command prints, and its exit code.

    @handle_errors
    def evaluate(run_dir: Path, data: Path) -> None: ...

Each command is wrapped where it is defined, so it behaves the same mounted on the ``tweetsent``
app or on a test's own ``typer.Typer()``. Exit codes (also in `tweetsent.cli`):

- 2: an error the user can fix, as one line ``error: <what, which file, the fix>`` on stderr: a
  `TweetsentError` (its ``exit_code``, 2 unless it says otherwise) or an OSError (a missing or
  unreadable input, an output beneath a file or in a read-only folder, a full disk);
- 1: a failed check (``backprop --check``), or a bug in tweetsent, also as one line;
- 130: Ctrl-C (SIGINT); 143: SIGTERM (128 + 15), raised as `Terminated` by the handler that
  `install_sigterm` sets (the console script does), or reported by the training loop's own catcher.

No traceback is shown unless ``TWEETSENT_DEBUG=1``: then errors are re-raised as they are, and
interruptions print their traceback before exiting with 130 or 143.
"""

from __future__ import annotations

import errno
import functools
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import typer

from tweetsent.errors import TweetsentError

__all__ = ["DEBUG_ENV", "Terminated", "handle_errors", "install_sigterm", "outcome"]

DEBUG_ENV = "TWEETSENT_DEBUG"
_EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}

# What to do about an OSError, by errno (the path it names goes in front).
_FIXES = {
    errno.ENOENT: "no such file or folder; check the path",
    errno.ENOTDIR: "a part of this path is a file, not a folder; choose a path inside a folder",
    errno.EISDIR: "this is a folder; give a file name (inside it, or elsewhere)",
    errno.EACCES: "permission denied; choose a path you may use, or change its permissions",
    errno.EPERM: "operation not permitted; choose a path you may use, or change its permissions",
    errno.ENOSPC: "no space left on the device; free some space or write elsewhere",
    errno.EDQUOT: "disk quota exceeded; free some space or write elsewhere",
    errno.EROFS: "read-only file system; write elsewhere",
    errno.ENAMETOOLONG: "the name is too long; choose a shorter path",
}


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived. A KeyboardInterrupt, so that library code which cleans up after Ctrl-C
    (marks a logged run interrupted, removes temporary files) does the same for SIGTERM."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated("SIGTERM")


def install_sigterm() -> None:
    """Make SIGTERM raise `Terminated` (exit 143 through `handle_errors`) instead of killing at once.

    Call it from the main thread of a command-line process only; a library user keeps Python's default.
    """
    signal.signal(signal.SIGTERM, _raise_terminated)


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def _os_message(exc: OSError) -> str:
    # A rename names the temporary source first and the user's destination second.
    path = exc.filename2 if exc.filename2 is not None else exc.filename
    code = exc.errno
    if code == errno.EEXIST and path is not None and Path(os.fsdecode(path)).is_file():
        reason = "a file is in the way where a folder is needed; choose another path, or move the file"
    elif code == errno.EEXIST:
        reason = "already exists; choose another path, or remove it"
    elif code == errno.ENOTDIR and path is not None and (blocker := _file_on_the_way(Path(os.fsdecode(path)))):
        reason = f"{blocker} is a file, not a folder, so nothing can be written beneath it; choose another path"
    elif code == errno.EPIPE:
        reason = "the program reading the output closed it early (broken pipe)"
    else:
        reason = _FIXES.get(code, f"{exc.strerror or exc}; check the path and try again")
    return reason if path is None else f"{os.fsdecode(path)}: {reason}"


def _file_on_the_way(path: Path) -> Path | None:
    """The regular file among the folders of ``path`` (what turns ``a.csv/x`` into ENOTDIR)."""
    return next((p for p in reversed(path.parents) if p.is_file()), None)


def _training_interrupted(exc: BaseException) -> bool:
    # Looked up, not imported: importing the training loop would import torch.
    loop = sys.modules.get("tweetsent.training.loop")
    return loop is not None and isinstance(exc, loop.TrainingInterrupted)


def outcome(exc: BaseException, interrupted: str = "") -> tuple[int, str]:
    """The exit code and the one-line message (without ``error:``) for an exception leaving a command.

    Parameters
    ----------
    exc : BaseException
        What the command raised.
    interrupted : str
        Added to the message of an interruption, e.g. what is kept and how to resume.

    Returns
    -------
    (int, str)
        2 for tweetsent's errors (or their own ``exit_code``) and OSErrors; 130 or 143 for SIGINT or
        SIGTERM; 1 for anything else, which is a bug.
    """
    signal_name = "SIGTERM" if isinstance(exc, Terminated) else getattr(exc, "signal_name", None)
    hint = f"; {interrupted}" if interrupted else ""
    if _training_interrupted(exc):
        where = (f"its {len(exc.history)} finished epoch(s) are in the experiment log as run {exc.run_id} "
                 f"(tweetsent runs show {exc.run_id})" if getattr(exc, "run_id", None)
                 else f"{len(exc.history)} epoch(s) were finished")
        return (_EXIT_CODES.get(exc.signal_name, 130),
                f"training stopped by {exc.signal_name}; no run directory was written; {where}{hint}")
    if isinstance(exc, KeyboardInterrupt):
        what = "terminated (SIGTERM)" if signal_name == "SIGTERM" else "interrupted"
        return _EXIT_CODES.get(signal_name, 130), f"{what}{hint}"
    if isinstance(exc, TweetsentError):
        code = _EXIT_CODES.get(signal_name, exc.exit_code)
        return code, _one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, OSError):
        return 2, _os_message(exc)
    return 1, (f"unexpected {type(exc).__name__}: {_one_line(str(exc)) or 'no message'}; this is a bug in "
               f"tweetsent: rerun with {DEBUG_ENV}=1 to see the traceback, and report it")


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so that Python's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test runner's buffer)
        pass


def _passes_through(exc: BaseException) -> bool:
    """Exits that are not failures, and the command line's own (whichever click typer uses)."""
    return (isinstance(exc, (SystemExit, GeneratorExit, typer.Exit, typer.Abort))
            or type(exc).__module__.split(".")[0] in ("click", "typer"))


def handle_errors(func: Callable | None = None, *, interrupted: str = "") -> Callable:
    """Wrap a command so that whatever it raises ends as one ``error:`` line and an exit code.

    Use as ``@handle_errors`` or ``@handle_errors(interrupted="the study is stored; ...")``.
    The command line's own exits (``typer.Exit``, ``typer.Abort``, usage errors) pass through unchanged.
    """
    if func is None:
        return functools.partial(handle_errors, interrupted=interrupted)

    @functools.wraps(func)
    def command(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except BaseException as exc:
            if _passes_through(exc):
                raise
            debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
            interruption = isinstance(exc, KeyboardInterrupt) or _training_interrupted(exc)
            if debug and not interruption:
                raise
            if debug:
                traceback.print_exception(exc)
            if isinstance(exc, BrokenPipeError):
                _silence_stdout()
            code, message = outcome(exc, interrupted)
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(code) from None

    command.handles_errors = True  # read by the test that checks every command has this path
    return command
