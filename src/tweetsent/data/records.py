"""Reading tweet tables row by row: CSV and TSV with the physical line each row starts on, JSONL line by
line, Parquet, and standard input; every unreadable byte or malformed row named by offset, row and line.

    frame, rows, lines = read_rows(Path("tweets.csv"))     # cells as text, row numbers, line numbers
    for text in csv_texts(Path("tweets.csv"), "csv", "tweet"): ...   # one item per row, streaming

`tweetsent.data.tables` builds datasets and streams on these.
"""

from __future__ import annotations

import codecs
import csv
import json
import math
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from tweetsent.errors import DataError

__all__ = ["TEXT_COLUMNS", "FORMATS", "find_text_column", "read_table", "cell_text", "check_file", "csv_header", "csv_records", "csv_texts", "first_bad_byte", "first_line", "json_object", "jsonl_records", "jsonl_texts", "not_utf8", "open_text", "parquet_chunks", "read_csv_rows", "read_jsonl_rows", "read_rows", "stdin_lines", "table_format", "too_wide", "unreadable"]

TEXT_COLUMNS = ("tweet", "text", "content", "sentence")
FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


def table_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unknown file type {path.suffix!r}; use one of {', '.join(sorted(FORMATS))}")
    return fmt


def check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path (tweetsent data get vaccine fetches the study's data)")
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give a CSV, TSV, JSONL or Parquet file")


def unreadable(path: Path | str, exc: OSError) -> DataError:
    reason = (exc.strerror or type(exc).__name__).lower()
    return DataError(f"{path}: cannot read it ({reason}); check that it is a file you may read (ls -l)")


def open_text(path: Path, binary: bool = False):
    try:
        # utf-8-sig drops a byte-order mark; newline="" lets the CSV reader see quoted newlines as they are.
        return open(path, "rb") if binary else open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise unreadable(path, exc) from exc


def not_utf8(name: Path | str, offset: int | None, line: int | None, byte: int | None,
              utf16: bool = False) -> DataError:
    where = "" if offset is None else f" (bad byte 0x{byte:02x} at offset {offset}, line {line})"
    fix = "iconv -f utf-16 -t utf-8" if utf16 else "iconv -f latin1 -t utf-8"
    return DataError(f"{name}: not UTF-8 text{where}; re-encode it, e.g. {fix}")


def _count_breaks(block: bytes) -> int:
    # Line breaks as the CSV reader counts them: \n, \r\n and a lone \r.
    return block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")


def first_bad_byte(path: Path) -> DataError:
    """The not-UTF-8 error for ``path``, with the true byte offset and line of its first bad byte.

    A decoder reading in chunks reports offsets inside its chunk; this scans the file once more.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = breaks = 0
    last = b""
    with open_text(path, binary=True) as fh:
        head = fh.read(2)
        fh.seek(0)
        utf16 = head in (b"\xff\xfe", b"\xfe\xff")
        while True:
            block = fh.read(1 << 20)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                # exc.object is the decoder's held-back bytes (an unfinished character) + this block.
                at = offset - (len(exc.object) - len(block)) + exc.start
                before = exc.object[:exc.start]
                line = breaks + _count_breaks(before) - (last == b"\r" and before[:1] == b"\n") + 1
                return not_utf8(path, at, line, exc.object[exc.start], utf16)
            if not block:
                return not_utf8(path, None, None, None, utf16)  # the file changed since it was read
            breaks += _count_breaks(block) - (last == b"\r" and block[:1] == b"\n")
            offset, last = offset + len(block), block[-1:]


# ----------------------------------------------------------------------------------------------
# Records with the physical line each starts on


class _Remembered:
    """The lines of a text file, keeping those read since `take` was last called (one record's)."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines, self.held = iter(lines), []

    def __iter__(self) -> _Remembered:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.held.append(line)
        return line

    def take(self) -> list[str]:
        held, self.held = self.held, []
        return held


def _ends_inside_quotes(text: str, delimiter: str) -> bool:
    """Whether a record's raw text ends inside a quoted field (the states of Python's csv reader)."""
    state = "start"
    for ch in text:
        if state == "quoted":
            state = "quote" if ch == '"' else state
        elif state in ("start", "quote"):  # "quote": just after a quote inside a quoted field
            state = "quoted" if ch == '"' else "start" if ch in (delimiter, "\n", "\r") else "field"
        elif ch in (delimiter, "\n", "\r"):
            state = "start"
    return state == "quoted"


def csv_records(path: Path, fmt: str) -> Iterator[tuple[int, list[str]]]:
    """(physical line where it starts, fields) of every record, the header included; a blank line gives []."""
    delimiter = "\t" if fmt == "tsv" else ","
    end = 0
    record: list[str] = []
    with open_text(path) as fh:
        lines = _Remembered(fh)
        reader = csv.reader(lines, delimiter=delimiter)
        try:
            for fields in reader:
                start, end = end + 1, reader.line_num
                record = lines.take()
                yield start, fields
        except UnicodeDecodeError as exc:
            raise first_bad_byte(path) from exc
        except csv.Error as exc:
            raise DataError(f"{path}: the record starting on line {end + 1} cannot be read as {fmt.upper()} ({exc}); "
                            f"is a quote opened there and never closed?") from exc
        except OSError as exc:
            raise unreadable(path, exc) from exc
    if record and _ends_inside_quotes("".join(record), delimiter):
        raise DataError(f"{path}: the quote opened in the record starting on line {start} is never closed; "
                        f"close it, or double the quote characters inside the text (\"\")")


def _column_names(header: list[str]) -> list[str]:
    """Header cells as pandas names them: a blank one is ``Unnamed: i``, a repeated one ``name.1``."""
    names: list[str] = []
    for i, name in enumerate(header):
        name = name or f"Unnamed: {i}"
        base, n = name, 0
        while name in names:
            n += 1
            name = f"{base}.{n}"
        names.append(name)
    return names


def csv_header(path: Path, records: Iterator[tuple[int, list[str]]]) -> list[str]:
    for _, fields in records:
        if fields:  # blank lines before the header are skipped
            return _column_names(fields)
    raise DataError(f"{path}: the file is empty; it needs a header row and tweets")


def too_wide(path: Path, row: int, line: int, got: int, width: int, fmt: str) -> DataError:
    sep = "a tab" if fmt == "tsv" else "a comma"
    return DataError(f"{path}: row {row} (line {line}) has {got} fields but the header has {width}; "
                     f"put text that holds {sep} in double quotes, or fix the header")


def read_csv_rows(path: Path, fmt: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    records = csv_records(path, fmt)
    names = csv_header(path, records)
    width = len(names)
    cells: list[list[str | None]] = []
    rows: list[int] = []
    lines: list[int] = []
    for row, (line, fields) in enumerate(records, 1):
        if not fields:
            continue  # a blank line holds no tweet (it keeps its row number, as in predict's output)
        if len(fields) != width:
            if len(fields) > width:
                raise too_wide(path, row, line, len(fields), width, fmt)
            fields = fields + [None] * (width - len(fields))  # a short row: the missing cells are empty
        cells.append(fields)
        rows.append(row)
        lines.append(line)
    columns = list(zip(*cells)) if cells else [()] * width
    frame = pd.DataFrame({name: pd.Series(col, dtype=object) for name, col in zip(names, columns)})
    return frame, np.asarray(rows, dtype=np.int64), np.asarray(lines, dtype=np.int64)


def cell_text(value) -> str | None:
    """A JSON value as table text: strings as they are, null (and NaN) as missing, anything else as JSON."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate escape (half an emoji, "\ud83d")
            return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        return value
    return json.dumps(value, ensure_ascii=False)


def jsonl_records(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) of every non-blank line of a JSON Lines file."""
    offset = 0
    with open_text(path, binary=True) as fh:
        try:
            for number, raw in enumerate(fh, 1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise not_utf8(path, offset + exc.start, number, raw[exc.start],
                                    number == 1 and raw[:2] in (b"\xff\xfe", b"\xfe\xff")) from exc
                offset += len(raw)
                text = text.removeprefix("\ufeff") if number == 1 else text
                if text.strip():
                    yield number, json_object(path, number, text)
        except OSError as exc:
            raise unreadable(path, exc) from exc


_JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def json_object(path: Path, number: int, text: str) -> dict:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: line {number} is not JSON ({exc.msg} at column {exc.colno}); JSON Lines needs "
                        f"one object per line, e.g. {{\"tweet\": \"...\", \"label\": 0}}") from exc
    except RecursionError as exc:
        raise DataError(f"{path}: line {number} is JSON nested too deeply to read; JSON Lines needs one flat "
                        f"object per line, e.g. {{\"tweet\": \"...\", \"label\": 0}}") from exc
    except ValueError as exc:  # an integer of 5,000 digits
        raise DataError(f"{path}: line {number} is JSON that cannot be read ({first_line(exc)}); JSON Lines "
                        f"needs one object per line, e.g. {{\"tweet\": \"...\", \"label\": 0}}") from exc
    if not isinstance(obj, dict):
        kind = _JSON_KINDS.get(type(obj), type(obj).__name__)
        raise DataError(f"{path}: line {number} holds a JSON {kind}, not an object; JSON Lines needs "
                        f"one object per line, e.g. {{\"tweet\": \"...\", \"label\": 0}}")
    return obj


def read_jsonl_rows(path: Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rows, lines = [], []
    for number, obj in jsonl_records(path):
        rows.append({str(k): cell_text(v) for k, v in obj.items()})
        lines.append(number)
    if not rows:
        raise DataError(f"{path}: the file is empty; it needs one JSON object per tweet, e.g. {{\"tweet\": \"...\"}}")
    names = list(dict.fromkeys(k for row in rows for k in row))
    frame = pd.DataFrame({k: pd.Series([row.get(k) for row in rows], dtype=object) for k in names})
    return frame, np.arange(1, len(rows) + 1), np.asarray(lines, dtype=np.int64)


def read_rows(path: Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
    """The table, each row's number (1 = the first below the header) and the physical line it starts on
    (None for Parquet, which has no lines)."""
    check_file(path)
    fmt = table_format(path)
    if fmt == "csv" or fmt == "tsv":
        return read_csv_rows(path, fmt)
    if fmt == "jsonl":
        return read_jsonl_rows(path)
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise _parquet_error(path, exc) from exc
    return frame, np.arange(1, len(frame) + 1), None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a whole table with every column as text (a missing cell is None)."""
    return read_rows(Path(path))[0]


# ----------------------------------------------------------------------------------------------
# Labelled data sets


def stdin_lines() -> Iterator[str]:
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text stream without bytes beneath it (a StringIO)
        for line in sys.stdin:
            yield line.removesuffix("\n").removesuffix("\r")
        return
    offset = 0
    for number, raw in enumerate(stream, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise not_utf8("standard input", offset + exc.start, number, raw[exc.start]) from exc
        offset += len(raw)
        text = text.removeprefix("\ufeff") if number == 1 else text
        yield text.removesuffix("\n").removesuffix("\r")


def csv_texts(path: Path, fmt: str, text_column: str) -> Iterator[str]:
    records = csv_records(path, fmt)
    names = csv_header(path, records)
    k = names.index(find_text_column(names, text_column, path))
    for row, (line, fields) in enumerate(records, 1):
        if len(fields) > len(names):
            raise too_wide(path, row, line, len(fields), len(names), fmt)
        yield fields[k] if k < len(fields) else ""


def jsonl_texts(path: Path, text_column: str) -> Iterator[str]:
    column = None
    for _, obj in jsonl_records(path):
        column = column or find_text_column([str(k) for k in obj], text_column, path)
        text = cell_text(obj.get(column))
        yield "" if text is None else text


def parquet_chunks(path: Path, text_column: str, chunk_size: int) -> Iterator[pa.Array]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        pfile = pq.ParquetFile(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise _parquet_error(path, exc) from exc
    col = find_text_column(pfile.schema_arrow.names, text_column, path)
    try:
        for batch in pfile.iter_batches(batch_size=chunk_size, columns=[col]):
            yield pc.fill_null(batch.column(0).cast(pa.large_string()), "")
    except (ValueError, pa.ArrowException) as exc:
        raise DataError(f"{path}: column {col!r} cannot be read as text ({first_line(exc)})") from exc


def find_text_column(columns: list[str], wanted: str, path: Path) -> str:
    if wanted:
        if wanted not in columns:
            raise DataError(f"{path}: no text column {wanted!r}; columns found: {', '.join(map(str, columns))}")
        return wanted
    for name in TEXT_COLUMNS:
        if name in columns:
            return name
    raise DataError(f"{path}: no text column (looked for {', '.join(TEXT_COLUMNS)}); columns found: "
                    f"{', '.join(map(str, columns))}; name it with --text-column or data.text_column")


def _parquet_error(path: Path, exc: Exception) -> DataError:
    """An unreadable file (an OSError with an errno) or one that is not Parquet."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return unreadable(path, exc)
    return DataError(f"{path}: cannot be read as PARQUET ({first_line(exc)})")
