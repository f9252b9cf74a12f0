"""Labelled and unlabelled tweet tables from CSV, TSV, JSONL or Parquet.

    ds = read_dataset("vaccine_train_set.csv")      # text column found, labels kept as given
    ds.texts[:2], ds.labels[:2], ds.classes

Text is read literally (no NA values: a tweet saying "null" stays "null"), as UTF-8. Labels
may be integers or strings, with any number of classes. Every problem is a `DataError` that
names the file, the row and the physical line it starts on (a quoted tweet may span several
lines, so row 1,500 can start on line 1,773), or the column, and the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from tweetsent.config.settings import EMPTY_CHOICES
from tweetsent.data.records import (
    FORMATS,
    TEXT_COLUMNS,
    check_file,
    csv_texts,
    find_text_column,
    jsonl_texts,
    parquet_chunks,
    read_rows,
    read_table,
    stdin_lines,
    table_format,
)
from tweetsent.errors import ConfigError, DataError

__all__ = ["Dataset", "read_dataset", "read_table", "iter_text_chunks", "TEXT_COLUMNS", "FORMATS",
           "check_compatible"]

_DROP_HINT = 'or set data.empty = "drop" (--set data.empty=drop) to leave them out'


@dataclass
class Dataset:
    """Tweets, their labels (or None), and where they came from.

    ``classes`` are the sorted distinct labels; ``labels`` keep their type (int or str).
    ``rows`` numbers each tweet's row in the file (1 = the first row below the header; a blank
    line of a CSV or TSV file holds no tweet but keeps its number, as it does in `predict`'s
    output) and ``lines`` gives the physical line it starts on (None for Parquet). Rows left out because
    their tweet was empty (``data.empty = "drop"``) are in ``dropped_rows`` / ``dropped_lines``.
    """

    texts: list[str]
    labels: np.ndarray | None
    path: str
    text_column: str
    label_column: str | None
    rows: np.ndarray | None = None
    lines: np.ndarray | None = None
    dropped_rows: list[int] = field(default_factory=list)
    dropped_lines: list[int] | None = None

    @property
    def classes(self) -> list:
        return [] if self.labels is None else _sorted_classes(self.labels)

    @property
    def dropped_empty(self) -> int:
        """How many rows were left out because their tweet was empty."""
        return len(self.dropped_rows)

    def where(self, mask: np.ndarray, limit: int = 5) -> str:
        """Where the tweets selected by ``mask`` are, for a message: ``row 3 (line 4), row 9 (line 12)``."""
        rows = self.rows if self.rows is not None else np.arange(1, len(self.texts) + 1)
        return _where(rows, self.lines, np.asarray(mask), limit)

    def __len__(self) -> int:
        return len(self.texts)


def _sorted_classes(labels: np.ndarray) -> list:
    return [v.item() if hasattr(v, "item") else v for v in np.unique(labels)]


def _where(rows: np.ndarray, lines: np.ndarray | list | None, mask: np.ndarray, limit: int = 5) -> str:
    idx = np.flatnonzero(mask) if mask.dtype == bool else np.asarray(mask, dtype=int)
    shown = ", ".join(f"row {rows[i]}" + (f" (line {lines[i]})" if lines is not None else "") for i in idx[:limit])
    return shown + (f" and {len(idx) - limit} more" if len(idx) > limit else "")


# ----------------------------------------------------------------------------------------------
# Opening files, and errors that point at the right byte


def _parse_labels(raw: pd.Series, column: str, path: Path, rows: np.ndarray, lines: np.ndarray | None) -> np.ndarray:
    values = raw.astype(str).str.strip()
    missing = (values == "").to_numpy() | raw.isna().to_numpy()
    if missing.any():
        raise DataError(f"{path}: column {column!r} has no label in {_where(rows, lines, missing)}; "
                        f"label every tweet or remove those rows")
    # Whole numbers (1, 1.0, " 2") are integer labels; anything else, or a number too big to hold
    # exactly (inf, 1e300), makes every label a word.
    numbers = pd.to_numeric(values.to_numpy(dtype=object), errors="coerce").astype(np.float64)
    if (np.isfinite(numbers) & (np.abs(numbers) <= 2 ** 53)).all() and (numbers == np.round(numbers)).all():
        return numbers.astype(np.int64)
    return values.to_numpy().astype(str)


def read_dataset(path: str | Path, text_column: str = "", label_column: str | None = "label",
                 require_labels: bool = True, empty: str = "error") -> Dataset:
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
    empty : {"error", "drop"}
        A row whose tweet is empty or blank: ``"error"`` refuses the file naming the rows,
        ``"drop"`` leaves the rows out (``Dataset.dropped_rows``) and refuses only when none is left.

    Returns
    -------
    Dataset
    """
    if empty not in EMPTY_CHOICES:
        raise ConfigError(f"data.empty = {empty!r} is not one of {', '.join(map(repr, EMPTY_CHOICES))}")
    path = Path(path)
    frame, rows, lines = read_rows(path)
    columns = [str(c) for c in frame.columns]
    if not len(frame):
        raise DataError(f"{path}: no rows; the file has a header ({', '.join(columns)}) but no tweets below it")
    text_col = find_text_column(columns, text_column, path)
    texts = frame[text_col].astype(str).where(frame[text_col].notna(), "")
    blank = (texts.str.strip() == "").to_numpy()
    dropped_rows, dropped_lines = [], None
    if blank.any():
        if empty == "error":
            raise DataError(f"{path}: empty tweet in {_where(rows, lines, blank)} of column {text_col!r}; "
                            f"remove those rows or fill them in, {_DROP_HINT}")
        if blank.all():
            raise DataError(f"{path}: every tweet in column {text_col!r} is empty ({len(blank)} rows), so with "
                            f'data.empty = "drop" nothing is left; fill them in')
        dropped_rows = rows[blank].tolist()
        dropped_lines = lines[blank].tolist() if lines is not None else None
        keep = ~blank
        frame, texts, rows = frame[keep], texts[keep], rows[keep]
        lines = lines[keep] if lines is not None else None
    labels = None
    if label_column:
        if label_column in columns:
            labels = _parse_labels(frame[label_column], label_column, path, rows, lines)
        elif require_labels:
            raise DataError(f"{path}: no label column {label_column!r}; columns found: {', '.join(columns)}; "
                            f"name it with --label-column or data.label_column")
    if labels is not None and len(np.unique(labels)) < 2 and require_labels:
        raise DataError(f"{path}: every tweet has the label {labels[0].item()!r}; a classifier needs at least two classes")
    return Dataset(texts.tolist(), labels, str(path), text_col, label_column if labels is not None else None,
                   rows=rows, lines=lines, dropped_rows=dropped_rows, dropped_lines=dropped_lines)


def check_compatible(train: Dataset, other: Dataset) -> None:
    """Fail when ``other`` has labels that ``train`` lacks (the model could never predict them)."""
    if other.labels is None:
        return
    if other.labels.dtype.kind != train.labels.dtype.kind:
        raise DataError(f"{other.path}: labels are {'numbers' if other.labels.dtype.kind == 'i' else 'words'} but "
                        f"{train.path}'s are not; use the same labels in both files")
    unknown = sorted(set(other.classes) - set(train.classes))
    if unknown:
        where = other.where(np.isin(other.labels, unknown), limit=3)
        raise DataError(f"{other.path}: label(s) {', '.join(map(str, unknown))} do not occur in {train.path} "
                        f"(classes: {', '.join(map(str, train.classes))}), in {where}; "
                        f"drop those rows or add examples to training")


# ----------------------------------------------------------------------------------------------
# Streaming the text of big tables, one item per input row


def iter_text_chunks(path: str | Path, text_column: str = "", chunk_size: int = 50_000) -> Iterator[pa.Array]:
    """Stream the text column of a big table as Arrow string arrays of at most ``chunk_size`` rows.

    Memory stays flat however big the file. There is one item per input row, in order, so that
    output rows line up with input rows: a row whose text cell is empty or missing, and a blank
    line of a CSV or TSV file, give an empty string (the caller marks it instead of guessing a
    label). ``path`` ``"-"`` reads standard input, one tweet per line (a trailing ``\\r`` removed,
    a blank line an empty tweet). CSV and TSV may have quoted newlines; Parquet is read by row
    groups, JSON Lines one object per non-blank line.
    """
    if str(path) == "-":
        texts: Iterator[str] = stdin_lines()
    else:
        path = Path(path)
        check_file(path)
        fmt = table_format(path)
        if fmt == "parquet":
            yield from parquet_chunks(path, text_column, chunk_size)
            return
        texts = jsonl_texts(path, text_column) if fmt == "jsonl" else csv_texts(path, fmt, text_column)
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == chunk_size:
            yield pa.array(batch, type=pa.large_string())
            batch = []
    if batch:
        yield pa.array(batch, type=pa.large_string())


