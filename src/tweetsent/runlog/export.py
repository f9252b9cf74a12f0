"""Run-log records as a pandas DataFrame, a CSV file or the study's spreadsheet (xlsx).

    write_xlsx(log.list(), log.history(), Path("study.xlsx"))

pandas and openpyxl are imported here only, so listing runs never pays for them. Files are
written to a temporary name beside the target and moved into place, so a crash never leaves a
half-written spreadsheet where a good one was.
"""

from __future__ import annotations

from pathlib import Path

from tweetsent.errors import DataError
from tweetsent.runlog.records import FIELDS, value_text
from tweetsent.util.files import atomic_path

__all__ = ["STAR_FILL", "records_frame", "write_csv", "write_xlsx"]

# Excel's own "Good" cell colour, the green the study used for good runs.
STAR_FILL = "C6EFCE"
# Shown first; the rest of FIELDS goes after metrics and config.
_LEADING = ("id", "name", "kind", "study", "status", "starred", "started_at", "ended_at",
            "duration_s", "best_epoch", "overfit")  # fmt: skip


def records_frame(records: list[dict]):
    """One row per run: leading fields, each scalar metric, each dotted config key, other fields.

    A config key that collides with a field or metric name gets a ``config.`` prefix.
    """
    import pandas as pd

    metrics = list(dict.fromkeys(k for r in records for k in r.get("metrics", {})))
    config = list(dict.fromkeys(k for r in records for k in r.get("config", {})))
    taken = set(FIELDS) | set(metrics)
    config_cols = {key: f"config.{key}" if key in taken else key for key in config}
    trailing = [name for name in FIELDS if name not in _LEADING]
    rows = []
    for record in records:
        row = {name: record.get(name) for name in _LEADING}
        row.update({name: record.get("metrics", {}).get(name) for name in metrics})
        row.update({col: record.get("config", {}).get(key) for key, col in config_cols.items()})
        row.update({name: record.get(name) for name in trailing})
        rows.append(row)
    columns = list(_LEADING) + metrics + list(config_cols.values()) + trailing
    frame = pd.DataFrame(rows, columns=columns)
    # Nullable integers, so that a missing best epoch does not turn 37 into 37.0.
    return frame.astype({"best_epoch": "Int64", "pid": "Int64"})


def _cells(frame):
    """Lists (hidden sizes, dropouts) as compact JSON text: spreadsheets hold scalars only."""
    return frame.map(lambda v: value_text(v) if isinstance(v, (list, dict)) else v)


def _atomic(path: Path, write) -> Path:
    """``write(tmp)`` to a temporary file that then replaces ``path``; a failure names the file."""
    path = Path(path)
    try:
        # Keep the real suffix: pandas picks the file format from it.
        with atomic_path(path, keep_suffix=True) as tmp:
            write(tmp)
    except OSError as exc:
        raise DataError(f"{path}: cannot write the export ({exc.strerror or exc}); check the folder and free space") from exc
    return path


def write_csv(records: list[dict], path: Path) -> Path:
    """Write ``records_frame(records)`` as CSV (UTF-8, lists as JSON text). Returns the path."""
    frame = _cells(records_frame(records))
    return _atomic(path, lambda tmp: frame.to_csv(tmp, index=False))


def write_xlsx(records: list[dict], history: list[dict], path: Path) -> Path:
    """Write sheet ``runs`` (starred rows filled green, header frozen) and sheet ``history``.

    Parameters
    ----------
    records : list of dict
        ``RunLog.list()`` output.
    history : list of dict
        ``RunLog.history()`` output: one row per epoch with ``run_id`` and ``name``.
    path : Path
        Target ``.xlsx`` file; replaced atomically.
    """
    import pandas as pd
    from openpyxl.styles import Font, PatternFill

    runs = _cells(records_frame(records))
    epochs = pd.DataFrame(history, columns=list(dict.fromkeys(k for h in history for k in h)) or ["run_id", "name", "epoch"])
    fill = PatternFill(fill_type="solid", start_color=STAR_FILL, end_color=STAR_FILL)

    def write(tmp):
        with pd.ExcelWriter(tmp, engine="openpyxl") as book:
            runs.to_excel(book, sheet_name="runs", index=False)
            _cells(epochs).to_excel(book, sheet_name="history", index=False)
            sheet = book.sheets["runs"]
            for offset, starred in enumerate(runs["starred"].tolist()):
                if starred:
                    for cell in sheet[offset + 2]:  # row 1 is the header
                        cell.fill = fill
            for name in ("runs", "history"):
                book.sheets[name].freeze_panes = "A2"
                for cell in book.sheets[name][1]:
                    cell.font = Font(bold=True)

    return _atomic(path, write)
