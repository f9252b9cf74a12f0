"""Fetch data sets and word vectors: streamed, checksummed, and never left half-written.

    paths = get_dataset("vaccine", source="/mnt/copies/vaccine")   # or a mirror URL, or the web

Every file lands through a temporary sibling that replaces the destination only once all bytes
arrived and the sha256 matched, so an interrupted or corrupt download leaves nothing behind. A
data set's files are all fetched and verified before the first is written into its folder: one
damaged file leaves the folder as it was. Once they are there, a data set with class names gets
a ``labels.toml`` beside them (`tweetsent.data.labels`), unless one is there already.
Sources may be ``http(s)://`` or ``file://`` URLs or plain local paths; this machine may be
offline, so every network error points at ``--from DIR`` and ``$TWEETSENT_DATA_MIRROR``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tweetsent.data.labels import LABELS_FILE, write_label_names
from tweetsent.errors import ConfigError, DownloadError
from tweetsent.util.files import atomic_path, atomic_write_text, sha256_file

__all__ = ["DATASETS", "MIRROR_ENV", "download", "get_dataset", "fetch_embeddings"]

# Environment variable naming a local folder or base URL that holds copies of the data sets.
MIRROR_ENV = "TWEETSENT_DATA_MIRROR"

# Data sets by name: their files with sha256, where they are published, and what labels mean
# (written beside the files as labels.toml).
DATASETS: dict[str, dict] = {
    "vaccine": {
        "files": {
            "vaccine_train_set.csv": "a1ab75933582c567080704013c70deb2c919db1b41c8c88719db088d59a3f712",
            "vaccine_validation_set.csv": "1641d98eeca9764789f86bd702c584495cde9152d525e4b5d9d15f3e896966ca",
        },
        # Pinned to a commit so that the checksums above stay true.
        "base_url": "https://raw.githubusercontent.com/MikeMitsios/RNN_Classification/"
                    "5f1fd6d320b70e48cef579f343d5aa0157747782/",
        "labels": {0: "neutral", 1: "anti-vax", 2: "pro-vax"},
        "description": "Tweets about vaccines, each labelled neutral, anti-vax or pro-vax "
                       "(train and validation splits).",
    },
}

_CHUNK = 1 << 16
_TIMEOUT = 30.0  # seconds to wait for a server to connect or send the next block
_HINT = (f"this machine may be offline: copy the files by hand and pass --from DIR, "
         f"or set {MIRROR_ENV} to a local folder or mirror URL")


def download(url: str, dest: Path | str, sha256: str | None = None, progress: bool = False,
             timeout: float = _TIMEOUT) -> Path:
    """Stream ``url`` to ``dest`` atomically, checking its sha256 when given.

    Parameters
    ----------
    url : str
        ``http(s)://`` or ``file://`` URL, or a plain local path (copied).
    dest : Path or str
        Where the file ends up; its folder is created. Replaced only by a complete, verified file.
    sha256 : str, optional
        Expected hex digest; a mismatch removes the download and raises DownloadError.
    progress : bool, default False
        Show a rich progress bar (bytes, speed, ETA) on stderr. Callers pass
        ``sys.stderr.isatty()`` or a ``--progress`` flag.
    timeout : float, default 30.0
        Seconds to wait for the server to connect or send the next block.

    Returns
    -------
    Path
        ``dest``.
    """
    return _fetch(url, Path(dest), sha256, progress, timeout, Path(dest))


def _fetch(url: str, dest: Path, sha256: str | None, progress: bool, timeout: float, shown: Path) -> Path:
    """`download`, naming ``shown`` as the file being written in messages (``dest`` may be a staging copy)."""
    digest = hashlib.sha256()
    with (_open_source(url, timeout) as (stream, total), atomic_path(dest) as tmp, open(tmp, "wb") as out,
          _progress_bar(progress, shown.name, total) as advance):
        received = 0
        while True:
            try:
                block = stream.read(_CHUNK)
            except OSError as exc:  # a reset or timeout in the middle of the body
                raise DownloadError(f"{url}: the transfer broke after {received} bytes ({exc}); "
                                    f"nothing was written to {shown}. Try again; {_HINT}") from exc
            if not block:
                break
            out.write(block)
            digest.update(block)
            received += len(block)
            advance(len(block))
        # urllib returns a short body silently when the server closes early: count the bytes.
        if total is not None and received != total:
            raise DownloadError(f"{url}: the connection closed after {received} of {total} bytes; "
                                f"nothing was written to {shown}. Try again; {_HINT}")
        actual = digest.hexdigest()
        if sha256 is not None and actual != sha256.lower():
            raise DownloadError(f"{shown}: sha256 of {url} is {actual}, expected {sha256}; the partial "
                                f"file was removed. The source is damaged or not the published file")
    return dest


def get_dataset(name: str, dest: Path | str | None = None, source: str | None = None,
                progress: bool = False) -> dict[str, Path]:
    """Make sure the files of data set ``name`` are in ``dest``, fetching only what is missing.

    Parameters
    ----------
    name : str
        A key of ``DATASETS``.
    dest : Path or str, optional
        Folder for the files; default ``data/<name>``.
    source : str, optional
        A local folder or a base URL (a mirror) holding the files under their published names.
        Default: ``$TWEETSENT_DATA_MIRROR`` when set, else the data set's public ``base_url``.
    progress : bool, default False
        Show a progress bar per file on stderr.

    Returns
    -------
    dict of str to Path
        File name -> local path, in registry order. The data set's class names are in
        ``dest/labels.toml`` (written when missing; an edited one is kept).
    """
    if name not in DATASETS:
        raise ConfigError(f"unknown data set {name!r}; known data sets: {', '.join(sorted(DATASETS))}")
    info = DATASETS[name]
    dest = Path(dest) if dest is not None else Path("data") / name
    source = source or os.environ.get(MIRROR_ENV) or info["base_url"]
    local = None if "://" in source else Path(source).expanduser()
    if local is not None and not local.is_dir():
        raise DownloadError(f"{local}: no such folder to copy data set {name!r} from; give the folder "
                            f"holding {', '.join(info['files'])} with --from DIR or {MIRROR_ENV}")
    if dest.exists() and not dest.is_dir():
        raise DownloadError(f"{dest}: is a file, not a folder; give --dest a folder for data set {name!r}")
    paths = {filename: dest / filename for filename in info["files"]}
    # Already here and intact: not fetched again (and the source is never contacted).
    wanted = {filename: sha256 for filename, sha256 in info["files"].items()
              if not (paths[filename].is_file() and sha256_file(paths[filename]) == sha256)}
    if not wanted:
        _write_labels(info, dest)
        return paths
    origins = {filename: str(local / filename) if local is not None
               else source.rstrip("/") + "/" + urllib.parse.quote(filename) for filename in wanted}
    if local is not None:
        absent = [origin for origin in origins.values() if not Path(origin).is_file()]
        if absent:
            raise DownloadError(f"{absent[0]}: missing from {local}; data set {name!r} needs "
                                f"{', '.join(info['files'])} there")
    # Every file is fetched and its checksum verified in a staging folder first, so that a damaged
    # file leaves --dest as it was: no file in it replaced, and no new folder.
    with tempfile.TemporaryDirectory(prefix=f".incomplete-{dest.name or name}-", dir=_existing_folder(dest)) as staging:
        for filename, sha256 in wanted.items():
            try:
                _fetch(origins[filename], Path(staging) / filename, sha256, progress, _TIMEOUT, paths[filename])
            except DownloadError as exc:
                raise DownloadError(f"{exc}; nothing was written to {dest}") from exc
        dest.mkdir(parents=True, exist_ok=True)
        for filename in wanted:
            with atomic_path(paths[filename]) as tmp:
                shutil.copyfile(Path(staging) / filename, tmp)
    _write_labels(info, dest)
    return paths


def _write_labels(info: dict, dest: Path) -> None:
    """``labels.toml`` with the data set's class names, unless it has none or the file is there (kept as edited)."""
    if info.get("labels") and not (dest / LABELS_FILE).exists():
        write_label_names(dest, info["labels"])


def _existing_folder(dest: Path) -> Path:
    """``dest`` if it is a folder, else its nearest folder above that exists (nothing is created)."""
    return next(p for p in (dest, *dest.absolute().parents) if p.is_dir())


def fetch_embeddings(url: str, sha256: str | None = None, progress: bool = False) -> Path:
    """Download a word-vector file (e.g. ``glove.6B.zip``) once into the cache; return its path.

    The file goes to ``cache_dir() / "downloads" / <file name>`` and is reused when it is already
    there with the right checksum (or, without a checksum, when it came from the same URL).
    Convert it with ``load_embeddings(f"{path}:glove.6B.300d.txt")``.

    Parameters
    ----------
    url : str
        ``http(s)://`` or ``file://`` URL, or a local path.
    sha256 : str, optional
        Expected hex digest of the file.
    progress : bool, default False
        Show a progress bar on stderr.

    Returns
    -------
    Path
        The local copy.
    """
    from tweetsent.util.paths import cache_dir

    filename = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path) if "://" in url else url).name
    if not filename:
        raise DownloadError(f"{url}: the URL names no file; give the address of the file itself")
    dest = cache_dir() / "downloads" / filename
    # Remembers where the file came from, so a same-named file from elsewhere is not reused.
    origin = dest.with_name(f".{filename}.source")
    if dest.is_file():
        if sha256 is not None and sha256_file(dest) == sha256.lower():
            return dest
        if sha256 is None and origin.is_file() and origin.read_text(encoding="utf-8") == url:
            return dest
    download(url, dest, sha256, progress)
    atomic_write_text(origin, url)
    return dest


@contextlib.contextmanager
def _open_source(url: str, timeout: float) -> Iterator[tuple[IO[bytes], int | None]]:
    """(binary stream, size in bytes or None) for a URL or local path, as a context manager."""
    scheme = urllib.parse.urlparse(url).scheme.lower()
    if scheme in ("http", "https", "ftp"):
        request = urllib.request.Request(url, headers={"User-Agent": "tweetsent"})
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}; check the address, or {_HINT}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadError(f"{url}: cannot connect ({reason}); {_HINT}") from exc
        with response:
            length = response.headers.get("Content-Length")
            yield response, int(length) if length and length.isdigit() else None
        return
    if scheme == "file":
        path = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
    elif scheme and len(scheme) > 1:  # one letter is a Windows drive, C:\...
        raise DownloadError(f"{url}: unsupported URL scheme {scheme!r}; use http(s)://, file:// or a local path")
    else:
        path = Path(url).expanduser()
    try:
        fh = open(path, "rb")  # noqa: SIM115 - opened here to say which path failed; closed by the with below
    except OSError as exc:
        raise DownloadError(f"{path}: cannot read it ({exc.strerror}); check the path given with "
                            f"--from DIR or {MIRROR_ENV}") from exc
    with fh:
        yield fh, os.fstat(fh.fileno()).st_size


@contextlib.contextmanager
def _progress_bar(show: bool, label: str, total: int | None) -> Iterator:
    """A callable taking a byte count; a rich bar on stderr when ``show``, else a no-op."""
    if not show:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
