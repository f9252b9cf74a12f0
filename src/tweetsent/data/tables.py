"""Labelled and unlabelled tweet tables from CSV, TSV, JSONL or Parquet.

    ds = read_dataset("vaccine_train_set.csv")      # text column found, labels kept as given
    ds.texts[:2], ds.labels[:2], ds.classes

Text is read literally (no NA values: a tweet saying "null" stays "null"), as UTF-8. Labels
may be integers or strings, with any number of classes. Every problem is a `DataError` that
names the file, the row or the column, and the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from tweetsent.errors import DataError

__all__ = ["Dataset", "read_dataset", "read_table", "iter_text_chunks", "TEXT_COLUMNS", "FORMATS",
           "check_compatible"]

TEXT_COLUMNS = ("tweet", "text", "content", "sentence")
FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


@dataclass
class Dataset:
    """Tweets, their labels (or None), and where they came from.

    ``classes`` are the sorted distinct labels; ``labels`` keep their type (int or str).
    """

    texts: list[str]
    labels: np.ndarray | None
    path: str
    text_column: str
    label_column: str | None

    @property
    def classes(self) -> list:
        return [] if self.labels is None else _sorted_classes(self.labels)

    def __len__(self) -> int:
        return len(self.texts)


def _sorted_classes(labels: np.ndarray) -> list:
    return [v.item() if hasattr(v, "item") else v for v in np.unique(labels)]


def _format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unknown file type {path.suffix!r}; use one of {', '.join(sorted(FORMATS))}")
    return fmt


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path (tweetsent data get vaccine fetches the study's data)")
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give a CSV, TSV, JSONL or Parquet file")


def _read_kwargs(fmt: str) -> dict:
    # Strings stay strings: no NA detection, no quote surprises beyond CSV's own.
    common = {"keep_default_na": False, "na_values": [], "encoding": "utf-8", "dtype": str}
    return {**common, "sep": "\t" if fmt == "tsv" else ","}


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a whole table with every column as text."""
    path = Path(path)
    _check_file(path)
    fmt = _format(path)
    try:
        if fmt in ("csv", "tsv"):
            return pd.read_csv(path, **_read_kwargs(fmt))
        if fmt == "jsonl":
            return pd.read_json(path, lines=True, dtype=False, encoding="utf-8")
        return pd.read_parquet(path)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (bad byte at offset {exc.start}); "
                        f"re-encode it, e.g. iconv -f latin1 -t utf-8") from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: the file is empty; it needs a header row and tweets") from exc
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot be read as {fmt.upper()} ({first})") from exc


def _find_text_column(columns: list[str], wanted: str, path: Path) -> str:
    if wanted:
        if wanted not in columns:
            raise DataError(f"{path}: no text column {wanted!r}; columns found: {', '.join(map(str, columns))}")
        return wanted
    for name in TEXT_COLUMNS:
        if name in columns:
            return name
    raise DataError(f"{path}: no text column (looked for {', '.join(TEXT_COLUMNS)}); columns found: "
                    f"{', '.join(map(str, columns))}; name it with --text-column or data.text_column")


def _rows(mask: np.ndarray, limit: int = 5) -> str:
    # Row numbers as a person counts them in the file: header is line 1, first tweet line 2.
    idx = np.flatnonzero(mask)
    shown = ", ".join(str(i + 2) for i in idx[:limit])
    return shown + (f" and {len(idx) - limit} more" if len(idx) > limit else "")


def _parse_labels(raw: pd.Series, column: str, path: Path) -> np.ndarray:
    values = raw.astype(str).str.strip()
    missing = (values == "").to_numpy() | raw.isna().to_numpy()
    if missing.any():
        raise DataError(f"{path}: column {column!r} has no label on line(s) {_rows(missing)}; "
                        f"label every tweet or remove those rows")
    as_int = pd.to_numeric(values, errors="coerce")
    if as_int.notna().all() and (as_int == as_int.round()).all():
        return as_int.to_numpy().astype(np.int64)
    return values.to_numpy().astype(str)


def read_dataset(path: str | Path, text_column: str = "", label_column: str | None = "label",
                 require_labels: bool = True) -> Dataset:
    """Read tweets and (optionally) labels from a table.

    Parameters
    ----------
    path : str or Path
        A ``.csv``, ``.tsv``, ``.jsonl`` or ``.parquet`` file.
    text_column : str
        The text column; ``""`` finds the first of `TEXT_COLUMNS`.
    label_column : str or None
        The label column; None reads no labels.
    require_labels : bool
        Fail when the label column is missing (else read the file as unlabelled).

    Returns
    -------
    Dataset
    """
    path = Path(path)
    frame = read_table(path)
    columns = [str(c) for c in frame.columns]
    text_col = _find_text_column(columns, text_column, path)
    texts = frame[text_col].astype(str).where(frame[text_col].notna(), "")
    empty = (texts.str.strip() == "").to_numpy()
    if empty.any():
        raise DataError(f"{path}: empty tweet on line(s) {_rows(empty)} of column {text_col!r}; "
                        f"remove those rows or fill them in")
    labels = None
    if label_column:
        if label_column in columns:
            labels = _parse_labels(frame[label_column], label_column, path)
        elif require_labels:
            raise DataError(f"{path}: no label column {label_column!r}; columns found: {', '.join(columns)}; "
                            f"name it with --label-column or data.label_column")
    if labels is not None and len(np.unique(labels)) < 2 and require_labels:
        raise DataError(f"{path}: every tweet has the label {labels[0].item()!r}; a classifier needs at least two classes")
    return Dataset(texts.tolist(), labels, str(path), text_col, label_column if labels is not None else None)


def check_compatible(train: Dataset, other: Dataset) -> None:
    """Fail when ``other`` has labels that ``train`` lacks (the model could never predict them)."""
    if other.labels is None:
        return
    if other.labels.dtype.kind != train.labels.dtype.kind:
        raise DataError(f"{other.path}: labels are {'numbers' if other.labels.dtype.kind == 'i' else 'words'} but "
                        f"{train.path}'s are not; use the same labels in both files")
    unknown = sorted(set(other.classes) - set(train.classes))
    if unknown:
        raise DataError(f"{other.path}: label(s) {', '.join(map(str, unknown))} do not occur in {train.path} "
                        f"(classes: {', '.join(map(str, train.classes))}); drop those rows or add examples to training")


def iter_text_chunks(path: str | Path, text_column: str = "", chunk_size: int = 50_000) -> Iterator[pa.Array]:
    """Stream the text column of a big table as Arrow string arrays of about ``chunk_size`` rows.

    Memory stays flat however big the file. ``path`` ``"-"`` reads standard input, one tweet per
    line. CSV and TSV are read by Arrow's streaming reader (quoted newlines allowed), Parquet by
    row groups, JSONL by pandas in chunks.
    """
    if str(path) == "-":
        import sys

        batch: list[str] = []
        for line in sys.stdin:
            batch.append(line.rstrip("\n"))
            if len(batch) == chunk_size:
                yield pa.array(batch, type=pa.large_string())
                batch = []
        if batch:
            yield pa.array(batch, type=pa.large_string())
        return
    path = Path(path)
    _check_file(path)
    fmt = _format(path)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pfile = pq.ParquetFile(path)
            col = _find_text_column(pfile.schema_arrow.names, text_column, path)
            for batch in pfile.iter_batches(batch_size=chunk_size, columns=[col]):
                yield batch.column(0)
        elif fmt == "jsonl":
            with pd.read_json(path, lines=True, dtype=False, chunksize=chunk_size, encoding="utf-8") as reader:
                col = None
                for frame in reader:
                    col = col or _find_text_column([str(c) for c in frame.columns], text_column, path)
                    yield pa.array(frame[col].astype(str).tolist(), type=pa.large_string())
        else:
            yield from _csv_chunks(path, fmt, text_column, chunk_size)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (bad byte at offset {exc.start}); re-encode it, e.g. iconv -f latin1 -t utf-8") from exc
    except (pd.errors.ParserError, pa.ArrowInvalid) as exc:
        raise DataError(f"{path}: cannot be read as {fmt.upper()} ({str(exc).strip().splitlines()[0]})") from exc


def _csv_chunks(path: Path, fmt: str, text_column: str, chunk_size: int) -> Iterator[pa.Array]:
    from pyarrow import csv

    parse = csv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",", newlines_in_values=True)
    try:
        columns = [str(c) for c in pd.read_csv(path, sep=parse.delimiter, nrows=0, encoding="utf-8").columns]
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: the file is empty; it needs a header row and tweets") from exc
    col = _find_text_column(columns, text_column, path)
    # Arrow reads blocks of bytes; about 200 bytes a tweet turns chunk_size rows into a block.
    # One thread: reading ahead in parallel would hold several blocks in memory at once.
    read = csv.ReadOptions(block_size=max(1 << 20, chunk_size * 200), encoding="utf8", use_threads=False)
    convert = csv.ConvertOptions(include_columns=[col], column_types={col: pa.large_string()},
                                 strings_can_be_null=False, quoted_strings_can_be_null=False)
    with csv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert) as reader:
        yield from _rechunk((batch.column(0) for batch in reader), chunk_size)


def _rechunk(arrays: Iterator[pa.Array], size: int) -> Iterator[pa.Array]:
    """Regroup arrays of any lengths into arrays of exactly ``size`` rows (the last may be shorter)."""
    pending: list[pa.Array] = []
    held = 0
    for arr in arrays:
        pending.append(arr)
        held += len(arr)
        while held >= size:
            joined = pa.concat_arrays(pending)
            yield joined.slice(0, size)
            rest = joined.slice(size)
            pending, held = ([rest] if len(rest) else []), len(rest)
    if held:
        yield pa.concat_arrays(pending)
