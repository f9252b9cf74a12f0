"""Atomic writes and checksums: nothing tweetsent writes is ever seen half-written, and nothing it did not make is removed.

    with atomic_dir(Path("runs/my-run")) as tmp:
        (tmp / "metrics.json").write_text("{}")
    # runs/my-run appears whole, or not at all

A directory is built in a hidden ``.incomplete-<name>-*`` sibling that holds an owner file (the
process id and host that build it, see `read_owner`), so that a folder left by a killed process
can be told from one still being written. The finished folder takes its name only if that name is
free: whatever appeared there meanwhile stays as it was (`DestinationTaken`). A file is written to
a temporary sibling that replaces it; a symbolic link is written through to its target, and a
device or FIFO (``/dev/null``) is written in place, never replaced by a regular file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["INCOMPLETE_PREFIX", "OWNER_FILE", "DestinationTaken", "atomic_dir", "atomic_path", "atomic_write_bytes",
           "atomic_write_json", "atomic_write_text", "incomplete_dirs", "read_owner", "sha256_file", "unique_path"]

INCOMPLETE_PREFIX = ".incomplete-"
OWNER_FILE = ".tweetsent-owner.json"  # inside an .incomplete-* folder: who builds it
_SUFFIX_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"


class DestinationTaken(FileExistsError):
    """The name a finished directory was meant to take appeared while it was built.

    Nothing at ``dest`` was touched; the finished directory is at ``kept``.
    """

    def __init__(self, dest: Path, kept: Path) -> None:
        super().__init__(errno.EEXIST, f"appeared while this was being written (something else created it); it is "
                         f"left as it was, and the finished folder is kept as {kept}", str(dest))
        self.dest, self.kept = dest, kept


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _suffixed(path: Path) -> Path:
    return path.with_name(f"{path.name}-{''.join(secrets.choice(_SUFFIX_CHARS) for _ in range(4))}")


def unique_path(path: str | Path) -> Path:
    """``path`` if nothing is there, else ``<path>-<4 random characters>`` that is free (checked, not reserved)."""
    path = Path(path)
    while path.exists() or path.is_symlink():
        path = _suffixed(path)
    return path


def _claim(src: Path, dest: Path) -> bool:
    """Rename the folder ``src`` to ``dest`` only if ``dest`` is free; False (nothing touched) if it is not.

    ``dest`` is first created empty, exclusively, which reserves the name; the rename then replaces
    only that empty folder, and fails if anything was put into it in between.
    """
    try:
        os.mkdir(dest)
    except FileExistsError:
        return False
    try:
        os.rename(src, dest)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.rmdir(dest)  # the empty folder made above; a folder something was put into stays
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return False
        raise
    return True


def _write_owner(folder: Path, owner: Mapping | None) -> None:
    facts = {"pid": os.getpid(), "host": socket.gethostname(),
             "created": datetime.now(UTC).isoformat(timespec="seconds"), **(owner or {})}
    (folder / OWNER_FILE).write_text(json.dumps(facts), encoding="utf-8")


def read_owner(folder: Path) -> dict | None:
    """What the owner file of an ``.incomplete-*`` folder says (``pid``, ``host``, ``created``, ...), or
    None when it is missing or unreadable."""
    try:
        facts = json.loads((Path(folder) / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return facts if isinstance(facts, dict) and isinstance(facts.get("pid"), int) else None


def incomplete_dirs(folder: str | Path) -> list[Path]:
    """The ``.incomplete-*`` folders directly inside ``folder`` (none when it does not exist), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(INCOMPLETE_PREFIX + "*") if p.is_dir() and not p.is_symlink())


@contextlib.contextmanager
def atomic_dir(dest: Path, *, exists_ok: bool = False, owner: Mapping | None = None) -> Iterator[Path]:
    """Build a directory in a hidden sibling and rename it into place when the block succeeds.

    Parameters
    ----------
    dest : Path
        The directory to make; its parent is created.
    exists_ok : bool
        When something appeared at ``dest`` meanwhile, keep it and discard what was built (for caches,
        whose every copy is the same). Default: keep both, and raise `DestinationTaken`.
    owner : mapping, optional
        Facts added to the owner file (the process id and host are always there).

    Raises
    ------
    DestinationTaken
        ``dest`` appeared while the block ran: it is left untouched, and the finished directory is kept
        as ``<dest>-<4 random characters>`` (the exception's ``kept``).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{INCOMPLETE_PREFIX}{dest.name}-", dir=dest.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; a run directory is not
        _write_owner(tmp, owner)
        yield tmp
        (tmp / OWNER_FILE).unlink(missing_ok=True)
        if _claim(tmp, dest):
            return
        if exists_ok:
            shutil.rmtree(tmp, ignore_errors=True)
            return
        kept = next((p for p in (_suffixed(dest) for _ in range(50)) if _claim(tmp, p)), tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    raise DestinationTaken(dest, kept)


@contextlib.contextmanager
def atomic_path(dest: Path, keep_suffix: bool = False) -> Iterator[Path]:
    """A path to write ``dest`` through: a temporary sibling that replaces it when the block succeeds.

    A symbolic link at ``dest`` is written through (its target is replaced, the link stays). A device,
    FIFO or socket (``/dev/null``) is written in place: the block gets its own path. An existing
    regular file keeps its permissions; a new one gets the umask's.

    Parameters
    ----------
    dest : Path
        The file to write; its folder is created.
    keep_suffix : bool
        End the temporary name with ``dest``'s own suffix (``.xlsx``), for writers such as pandas
        that choose the file format from the name. Default: ``.tmp``.

    Raises
    ------
    IsADirectoryError
        ``dest`` is a folder (before anything is written).
    """
    dest = Path(dest)
    target = Path(os.path.realpath(dest))
    try:
        mode = os.stat(target).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None  # made below, or the folder cannot be made (which names the file in the way)
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(dest))
    if mode is not None and not stat.S_ISREG(mode):
        yield target  # replacing a device or FIFO would turn it into a regular file
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = target.suffix if keep_suffix and target.suffix else ".tmp"
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        # mkstemp makes the file private, and some writers (safetensors) recreate it private;
        # the file it replaces was not.
        os.chmod(tmp, stat.S_IMODE(mode) if mode is not None else 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(dest: Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` through `atomic_path`."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(dest: Path, text: str) -> None:
    """Write ``text`` as UTF-8 to ``dest`` through `atomic_path`."""
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(dest: Path, obj) -> None:
    """Write ``obj`` as indented UTF-8 JSON (non-ASCII kept) to ``dest`` through `atomic_path`."""
    atomic_write_text(dest, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
