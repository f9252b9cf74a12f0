"""The experiment log: one row per train/evaluate/trial run, kept automatically, queried later.

    log = RunLog.open(); run_id = log.start(kind="train", config=cfg); log.finish(run_id, metrics=m)

A course study kept this by hand in a spreadsheet (hyperparameters, scores, loss, overfit or not,
good runs in green). Every run records without asking: who ran what where (package version, git
commit, host, pid), on which data (fingerprints), with which config, how each epoch went, and how
it ended. Storage and migrations live in `tweetsent.runlog.store`, how a record becomes a row (and
the rule that shows a dead run as ``interrupted``) in `tweetsent.runlog.rows`, keys and sorting in
`tweetsent.runlog.records`, the filter language in `tweetsent.runlog.query`.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from tweetsent.errors import ConfigError
from tweetsent.runlog.process import git_commit, new_run_id, process_start
from tweetsent.runlog.query import compile_filter
from tweetsent.runlog.records import FIELDS, flatten, scalar_metrics, sort_records
from tweetsent.runlog.rows import record_summaries, row_from_record, to_json
from tweetsent.runlog.store import connect, db_errors, epochs, migrate, runs, write
from tweetsent.util.meta import package_version
from tweetsent.util.meta import utc_now as now

if TYPE_CHECKING:
    from typing import Self  # Python 3.11+; only read by type checkers

__all__ = ["ENV_URL", "KINDS", "RunLog"]

KINDS = ("train", "evaluate", "trial")
ENV_URL = "TWEETSENT_LOG_URL"
_ENDED = ("interrupted", "failed")
# Columns list() reads: everything but the big JSON blobs (config, metrics, data, fingerprints).
_LIST_COLUMNS = [runs.c[name] for name in FIELDS if name != "overfit"] + [
    runs.c.overfit, runs.c.scalars, runs.c.flat_config, runs.c.proc_start, runs.c.updated_at,
]  # fmt: skip


class RunLog:
    """A handle on one run log (SQLite file or PostgreSQL database). Use ``RunLog.open``.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        Connected to a log already migrated to the current schema.
    where : str
        How messages name the log (file path or URL without password).
    """

    def __init__(self, engine: sa.Engine, where: str):
        self._engine = engine
        self.where = where

    @classmethod
    def open(cls, url: str | None = None, runs_dir: str | os.PathLike = "runs") -> RunLog:
        """Open (creating or migrating as needed) the run log.

        Parameters
        ----------
        url : str, optional
            ``sqlite:///PATH`` or ``postgresql://USER:PASS@HOST:PORT/DB``. Default: env
            ``TWEETSENT_LOG_URL``, else ``sqlite:///<runs_dir>/runs.db``.
        runs_dir : path
            Where the default SQLite log lives.

        Raises
        ------
        DataError
            For a corrupt file, a newer schema or an unreachable database.
        """
        url = url or os.environ.get(ENV_URL) or f"sqlite:///{Path(runs_dir) / 'runs.db'}"
        engine, where = connect(url)
        try:
            migrate(engine, where)
        except Exception:
            engine.dispose()
            raise
        return cls(engine, where)

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    def start(self, kind: str, config: dict, data: dict | None = None, fingerprints: dict | None = None,
              run_dir: str | os.PathLike | None = None, name: str | None = None, study: str | None = None,
              parent: str | None = None) -> str:  # fmt: skip
        """Record a new run as ``running`` and return its id.

        Parameters
        ----------
        kind : {"train", "evaluate", "trial"}
        config : dict
            The fully resolved, nested config.
        data, fingerprints : dict, optional
            Input paths by role, and their content hashes by role.
        run_dir, name, study, parent : optional
            Where artifacts go, a human name, the study it belongs to, the run it derives from.

        Returns
        -------
        str
            12 characters: start time in milliseconds (base 36, so ids sort by start) and 4 random.
        """
        if kind not in KINDS:
            raise ConfigError(f"run kind '{kind}' is not one of {', '.join(KINDS)}")
        run_id, started = new_run_id(), now()
        row = {
            "id": run_id, "kind": kind, "name": name, "study": study, "parent": parent,
            "status": "running", "started_at": started, "updated_at": started,
            "package_version": package_version(), "git_commit": git_commit(),
            "hostname": socket.gethostname(), "pid": os.getpid(), "proc_start": process_start(os.getpid()),
            "run_dir": _str(run_dir), "config": to_json(config), "flat_config": to_json(flatten(config)),
            "data": to_json({k: _str(v) for k, v in (data or {}).items()}),
            "fingerprints": to_json(fingerprints or {}), "starred": 0,
        }  # fmt: skip
        write(self._engine, self.where, lambda conn: conn.execute(runs.insert(), row))
        return run_id

    def add_epoch(self, run_id: str, record: dict) -> None:
        """Append one epoch's numbers (must hold an integer ``epoch``); re-adding an epoch replaces it."""
        if not isinstance(record.get("epoch"), int):
            raise ConfigError(f"run {run_id}: epoch record needs an integer 'epoch' key, got {record.get('epoch')!r}")

        def store(conn):
            self._touch(conn, run_id, {"updated_at": now()})
            match = (epochs.c.run_id == run_id) & (epochs.c.epoch == record["epoch"])
            conn.execute(epochs.delete().where(match))
            conn.execute(epochs.insert(), {"run_id": run_id, "epoch": record["epoch"], "record": to_json(record)})

        write(self._engine, self.where, store)

    def finish(self, run_id: str, metrics: dict, best_epoch: int | None = None, overfit: dict | None = None,
               run_dir: str | os.PathLike | None = None) -> None:  # fmt: skip
        """Mark a run ``finished`` with its final metrics and overfitting verdict.

        Parameters
        ----------
        metrics : dict
            Scalars (accuracy, f1_macro, ...) plus labels, per_class and confusion_matrix; stored whole.
        best_epoch : int, optional
        overfit : dict, optional
            ``{"verdict": ..., "evidence": ...}``.
        run_dir : path, optional
            Overrides the one given at start (e.g. after a rename).
        """
        scalars = scalar_metrics(metrics)
        values = {
            "status": "finished", "metrics": to_json(metrics), "scalars": to_json(scalars),
            "f1_macro": scalars.get("f1_macro"), "accuracy": scalars.get("accuracy"),
            "best_epoch": best_epoch, "overfit": to_json(overfit) if overfit else None, "error": None,
        }  # fmt: skip
        if run_dir is not None:
            values["run_dir"] = _str(run_dir)
        self._end(run_id, values)

    def fail(self, run_id: str, status: str = "failed", error: str | None = None) -> None:
        """Mark a run ``failed`` or ``interrupted``, with a one-line reason."""
        if status not in _ENDED:
            raise ConfigError(f"run {run_id}: end status '{status}' is not one of {', '.join(_ENDED)}")
        self._end(run_id, {"status": status, "error": error})

    def _end(self, run_id: str, values: dict) -> None:
        def store(conn):
            started = conn.execute(sa.select(runs.c.started_at).where(runs.c.id == run_id)).scalar()
            ended = now()
            duration = (_parse_time(ended) - _parse_time(started)).total_seconds() if started else None
            self._touch(conn, run_id, {**values, "ended_at": ended, "updated_at": ended, "duration_s": duration})

        write(self._engine, self.where, store)

    def _touch(self, conn, run_id: str, values: dict) -> None:
        if conn.execute(runs.update().where(runs.c.id == run_id).values(**values)).rowcount != 1:
            raise ConfigError(f"{self.where}: no run with id '{run_id}'; start it with RunLog.start first")

    def _insert_runs(self, rows: list[dict], history: dict[str, list[dict]] | None = None) -> None:
        """Bulk-insert finished runs given as ``get()``-shaped dicts (benchmarks and imports)."""

        def store(conn):
            conn.execute(runs.insert(), [row_from_record(row) for row in rows])
            items = [
                {"run_id": run_id, "epoch": e["epoch"], "record": to_json(e)}
                for run_id, records in (history or {}).items()
                for e in records
            ]
            if items:
                conn.execute(epochs.insert(), items)

        write(self._engine, self.where, store)

    # -- curating --------------------------------------------------------------------------

    def resolve(self, run_id: str) -> str:
        """The full id for a unique id prefix (or, failing that, a unique run name).

        Raises
        ------
        ConfigError
            When nothing or more than one run matches.
        """
        prefix = run_id.strip().lower()
        with db_errors(self.where), self._engine.connect() as conn:
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            found = conn.execute(
                sa.select(runs.c.id).where(runs.c.id.like(escaped + "%", escape="\\")).limit(6)
            ).scalars().all() if prefix else []  # fmt: skip
            if not found:
                found = conn.execute(sa.select(runs.c.id).where(runs.c.name == run_id).limit(6)).scalars().all()
        if len(found) == 1:
            return found[0]
        if not found:
            raise ConfigError(f"{self.where}: no run with id or name '{run_id}'; see `tweetsent runs list`")
        raise ConfigError(f"run id '{run_id}' is ambiguous ({', '.join(found[:5])}, ...); give more characters")

    def star(self, run_id: str, on: bool = True) -> str:
        """Star (or unstar) a run; starred runs are filled green in the xlsx export. Returns the full id."""
        full = self.resolve(run_id)
        write(self._engine, self.where, lambda conn: self._touch(conn, full, {"starred": int(on)}))
        return full

    def note(self, run_id: str, text: str) -> str:
        """Attach a free-text note to a run (replacing any previous one). Returns the full id."""
        full = self.resolve(run_id)
        write(self._engine, self.where, lambda conn: self._touch(conn, full, {"note": text}))
        return full

    def remove(self, run_id: str) -> str:
        """Delete a run and its epochs from the log (not its run dir). Returns the full id."""
        full = self.resolve(run_id)

        def drop(conn):
            conn.execute(epochs.delete().where(epochs.c.run_id == full))
            conn.execute(runs.delete().where(runs.c.id == full))

        write(self._engine, self.where, drop)
        return full

    # -- reading ---------------------------------------------------------------------------

    def list(self, where: str | None = None, sort: str | None = None, limit: int | None = None) -> list[dict]:
        """Summaries of the runs: fields, scalar ``metrics`` and the ``config`` flattened to dotted keys.

        Parameters
        ----------
        where : str, optional
            Filter, e.g. ``"f1_macro>0.7 and optimizer=radam"`` (see `tweetsent.runlog.query`).
        sort : str, optional
            Keys, ``-`` for descending, e.g. ``"-f1_macro,name"``. Default: oldest first.
        limit : int, optional
            Keep the first ``limit`` rows of the sort; without ``sort``, the newest ``limit`` runs.

        Returns
        -------
        list of dict
        """
        if limit is not None and limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {limit}")
        query = sa.select(*_LIST_COLUMNS).order_by(runs.c.started_at, runs.c.id)
        if limit is not None and not where and not sort:
            # The plain "newest N" listing reads N rows through the started_at index, not all of them.
            newest = query.order_by(None).order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(limit).subquery()
            query = sa.select(newest).order_by(newest.c.started_at, newest.c.id)
        with db_errors(self.where), self._engine.connect() as conn:
            rows = conn.execute(query).all()
        records = record_summaries(rows)
        if where:
            keep = compile_filter(where, records)
            records = [record for record in records if keep(record)]
        if sort:
            records = sort_records(records, sort)
        if limit is not None:
            records = records[:limit] if sort else records[-limit:]
        return records

    def get(self, run_id: str) -> dict:
        """Everything about one run: the summary fields plus nested ``config``, full ``metrics``,
        ``data``, ``fingerprints``, ``overfit_evidence`` and ``history`` (epoch records in order)."""
        full = self.resolve(run_id)
        with db_errors(self.where), self._engine.connect() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == full)).one()
            history = conn.execute(
                sa.select(epochs.c.record).where(epochs.c.run_id == full).order_by(epochs.c.epoch)
            ).scalars().all()  # fmt: skip
        record = record_summaries([row])[0]
        row = row._mapping
        overfit = json.loads(row["overfit"]) if row["overfit"] else {}
        record.update(
            config=json.loads(row["config"] or "{}"), metrics=json.loads(row["metrics"] or "{}"),
            data=json.loads(row["data"] or "{}"), fingerprints=json.loads(row["fingerprints"] or "{}"),
            overfit_evidence=overfit.get("evidence"), history=[json.loads(text) for text in history],
        )  # fmt: skip
        return record

    def diff(self, a: str, b: str) -> dict:
        """What differs between two runs.

        Returns
        -------
        dict
            ``{"a": id, "b": id, "config": {key: {"a", "b"}}`` for changed dotted config keys,
            ``"fingerprints"`` likewise, and ``"metrics": {name: {"a", "b", "delta"}}`` for every
            scalar metric either run has (``delta = b - a``, ``None`` when one is missing).
        """
        ra, rb = self.get(a), self.get(b)

        def changed(x: dict, y: dict) -> dict:
            return {k: {"a": x.get(k), "b": y.get(k)} for k in {**x, **y} if x.get(k) != y.get(k)}

        ma, mb = scalar_metrics(ra["metrics"]), scalar_metrics(rb["metrics"])
        metrics = {}
        for name in {**ma, **mb}:
            va, vb = ma.get(name), mb.get(name)
            metrics[name] = {"a": va, "b": vb, "delta": None if va is None or vb is None else vb - va}
        return {
            "a": ra["id"], "b": rb["id"],
            "config": changed(flatten(ra["config"]), flatten(rb["config"])),
            "fingerprints": changed(ra["fingerprints"], rb["fingerprints"]),
            "metrics": metrics,
        }  # fmt: skip

    def history(self, run_ids: list[str] | None = None) -> list[dict]:
        """Every epoch record as ``{"run_id", "name", **record}``, ordered by run start then epoch."""
        query = (
            sa.select(epochs.c.run_id, runs.c.name, epochs.c.record)
            .join(runs, runs.c.id == epochs.c.run_id)
            .order_by(runs.c.started_at, epochs.c.run_id, epochs.c.epoch)
        )
        if run_ids is not None:
            query = query.where(epochs.c.run_id.in_(run_ids))
        with db_errors(self.where), self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [{"run_id": r.run_id, "name": r.name, **json.loads(r.record)} for r in rows]

    def to_dataframe(self, where: str | None = None, sort: str | None = None):
        """One row per run: fields, scalar metrics as columns, config as dotted-key columns."""
        from tweetsent.runlog.export import records_frame

        return records_frame(self.list(where=where, sort=sort))

    def export_csv(self, path: str | os.PathLike) -> Path:
        """Write ``to_dataframe()`` as CSV, atomically. Returns the path."""
        from tweetsent.runlog.export import write_csv

        return write_csv(self.list(), Path(path))

    def export_xlsx(self, path: str | os.PathLike) -> Path:
        """Write sheet ``runs`` (starred rows filled green) and sheet ``history``, atomically."""
        from tweetsent.runlog.export import write_xlsx

        records = self.list()
        return write_xlsx(records, self.history(), Path(path))


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _str(value) -> str | None:
    return None if value is None else str(value)
