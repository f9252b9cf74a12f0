"""How a run record is kept in a database row and read back: compact JSON, and the interrupted rule.

    row = row_from_record(record); record = record_summaries([fetched_row])[0]

Interrupted rule: a run still marked ``running`` is *shown* as ``interrupted`` when it was started
on this host and its process is gone (no such pid, a zombie, or the pid now belongs to a process
that started at another time). Nothing is written back, so a misjudgement can never lose data; a
run started on another host stays ``running`` until that host finishes or fails it.
"""

from __future__ import annotations

import json
import math
import os
import socket

from tweetsent.runlog.process import process_gone
from tweetsent.runlog.records import FIELDS, flatten, scalar_metrics

__all__ = ["record_summaries", "row_from_record", "to_json"]


def record_summaries(rows: list) -> list[dict]:
    """``RunLog.list()`` records from fetched rows, applying the interrupted rule (see the module docstring)."""
    host = socket.gethostname()
    mappings = [row._mapping for row in rows]
    # One json.loads per column over all rows: a third faster than one call per cell at 10,000 runs.
    scalars, configs, overfits = (
        _loads_all([m[column] for m in mappings]) for column in ("scalars", "flat_config", "overfit")
    )
    records = []
    for m, metrics, config, overfit in zip(mappings, scalars, configs, overfits):
        record = {name: m[name] for name in FIELDS}
        record.update(starred=bool(m["starred"]), overfit=(overfit or {}).get("verdict"),
                      metrics=metrics or {}, config=config or {})  # fmt: skip
        if record["status"] == "running" and m["hostname"] == host and process_gone(m["pid"], m["proc_start"]):
            record["status"] = "interrupted"
            record["error"] = f"process {m['pid']} on {host} ended without finishing the run (last seen {m['updated_at']})"
        records.append(record)
    return records


def _loads_all(texts: list[str | None]) -> list:
    return json.loads("[" + ",".join(text or "null" for text in texts) + "]")


def row_from_record(record: dict) -> dict:
    """The ``tweetsent_runs`` row of a finished run given as a ``RunLog.get()``-shaped record."""
    scalars = scalar_metrics(record.get("metrics"))
    overfit = {"verdict": record["overfit"], "evidence": record.get("overfit_evidence")} if record.get("overfit") else None
    row = {name: record.get(name) for name in FIELDS if name != "overfit"}
    row.update(
        starred=int(bool(record.get("starred"))), config=to_json(record.get("config") or {}),
        flat_config=to_json(flatten(record.get("config") or {})), metrics=to_json(record.get("metrics") or {}),
        scalars=to_json(scalars), f1_macro=scalars.get("f1_macro"), accuracy=scalars.get("accuracy"),
        data=to_json(record.get("data") or {}), fingerprints=to_json(record.get("fingerprints") or {}),
        overfit=to_json(overfit) if overfit else None, updated_at=record.get("ended_at") or record.get("started_at"),
    )  # fmt: skip
    return row


def _plain(value):
    """JSON-safe copy: numpy scalars/arrays to Python, NaN/inf to None, paths to strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def to_json(value) -> str:
    """Compact JSON of ``value`` made JSON-safe (numpy to Python, NaN and inf to null, paths to text)."""
    return json.dumps(_plain(value), separators=(",", ":"), default=str)
