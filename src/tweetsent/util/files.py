"""Atomic writes and checksums: nothing tweetsent writes is ever seen half-written.

    with atomic_dir(Path("runs/my-run")) as tmp:
        (tmp / "metrics.json").write_text("{}")
    # runs/my-run appears whole, or not at all
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_dir", "atomic_path", "atomic_write_bytes", "atomic_write_json", "atomic_write_text", "sha256_file"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_dir(dest: Path) -> Iterator[Path]:
    """Build a directory in a hidden sibling and rename it into place when the block succeeds."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".incomplete-{dest.name}-", dir=dest.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; a run directory is not
    try:
        yield tmp
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_path(dest: Path, keep_suffix: bool = False) -> Iterator[Path]:
    """A temporary path beside ``dest`` that replaces it when the block succeeds.

    Parameters
    ----------
    dest : Path
        The file to write; its folder is created.
    keep_suffix : bool
        End the temporary name with ``dest``'s own suffix (``.xlsx``), for writers such as pandas
        that choose the file format from the name. Default: ``.tmp``.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    suffix = dest.suffix if keep_suffix and dest.suffix else ".tmp"
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix, dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        # mkstemp makes the file private, and some writers (safetensors) recreate it private;
        # the file it replaces was not.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, dest)
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
