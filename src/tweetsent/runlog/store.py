"""Where the run log lives: the engine, the tables and the step-by-step schema migrations.

    engine, where = connect("sqlite:///runs/runs.db"); migrate(engine, where)

SQLite (the default) runs in WAL mode so that readers never wait for a writer, with a busy
timeout and ``BEGIN IMMEDIATE`` write transactions so that parallel trainings queue instead of
deadlocking, plus a few retries on "database is locked". PostgreSQL works through the same code.
The schema carries its version in ``tweetsent_meta``; a database is only ever migrated forward
one step at a time, each step in its own transaction.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from tweetsent.errors import ConfigError, DataError
from tweetsent.runlog.records import flatten, scalar_metrics
from tweetsent.util.dburl import normalise_url, safe_url, with_pg_driver

__all__ = ["SCHEMA_VERSION", "connect", "db_errors", "epochs", "migrate", "runs", "write"]

SCHEMA_VERSION = 2

_metadata = sa.MetaData()
_meta = sa.Table(
    "tweetsent_meta", _metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)  # fmt: skip
# The current (version 2) shape; migrations below build it from nothing, step by step.
runs = sa.Table(
    "tweetsent_runs", _metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(16)), sa.Column("name", sa.Text), sa.Column("study", sa.Text),
    sa.Column("parent", sa.String(32)), sa.Column("status", sa.String(16)),
    sa.Column("started_at", sa.String(40)), sa.Column("ended_at", sa.String(40)),
    sa.Column("duration_s", sa.Float), sa.Column("package_version", sa.Text),
    sa.Column("git_commit", sa.String(64)), sa.Column("hostname", sa.Text),
    sa.Column("pid", sa.BigInteger), sa.Column("run_dir", sa.Text),
    sa.Column("config", sa.Text), sa.Column("data", sa.Text), sa.Column("fingerprints", sa.Text),
    sa.Column("metrics", sa.Text), sa.Column("best_epoch", sa.Integer), sa.Column("overfit", sa.Text),
    sa.Column("error", sa.Text), sa.Column("starred", sa.Integer), sa.Column("note", sa.Text),
    # v2: what listing needs, kept apart from the big JSON blobs so list() reads one narrow row per run.
    sa.Column("scalars", sa.Text), sa.Column("flat_config", sa.Text),
    sa.Column("f1_macro", sa.Float), sa.Column("accuracy", sa.Float),
    sa.Column("proc_start", sa.Text), sa.Column("updated_at", sa.String(40)),
)  # fmt: skip
epochs = sa.Table(
    "tweetsent_epochs", _metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("epoch", sa.Integer, primary_key=True),
    sa.Column("record", sa.Text, nullable=False),
)  # fmt: skip

# Plain DDL that SQLite and PostgreSQL both accept; never edit a released step, add one.
_V1 = [
    "CREATE TABLE tweetsent_meta (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE tweetsent_runs (
        id VARCHAR(32) PRIMARY KEY, kind VARCHAR(16) NOT NULL, name TEXT, study TEXT,
        parent VARCHAR(32), status VARCHAR(16) NOT NULL, started_at VARCHAR(40) NOT NULL,
        ended_at VARCHAR(40), duration_s DOUBLE PRECISION, package_version TEXT,
        git_commit VARCHAR(64), hostname TEXT, pid BIGINT, run_dir TEXT, config TEXT NOT NULL,
        data TEXT, fingerprints TEXT, metrics TEXT, best_epoch INTEGER, overfit TEXT, error TEXT,
        starred INTEGER NOT NULL DEFAULT 0, note TEXT)""",
    """CREATE TABLE tweetsent_epochs (
        run_id VARCHAR(32) NOT NULL REFERENCES tweetsent_runs (id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL, record TEXT NOT NULL, PRIMARY KEY (run_id, epoch))""",
    "INSERT INTO tweetsent_meta (key, value) VALUES ('schema_version', '0')",
]
_V2 = [
    "ALTER TABLE tweetsent_runs ADD COLUMN scalars TEXT",
    "ALTER TABLE tweetsent_runs ADD COLUMN flat_config TEXT",
    "ALTER TABLE tweetsent_runs ADD COLUMN f1_macro DOUBLE PRECISION",
    "ALTER TABLE tweetsent_runs ADD COLUMN accuracy DOUBLE PRECISION",
    "ALTER TABLE tweetsent_runs ADD COLUMN proc_start TEXT",
    "ALTER TABLE tweetsent_runs ADD COLUMN updated_at VARCHAR(40)",
    "CREATE INDEX ix_tweetsent_runs_started_at ON tweetsent_runs (started_at)",
    "CREATE INDEX ix_tweetsent_runs_f1_macro ON tweetsent_runs (f1_macro)",
    "CREATE INDEX ix_tweetsent_runs_accuracy ON tweetsent_runs (accuracy)",
]


def _backfill_v2(conn) -> None:
    """Fill v2's listing columns for runs written by a v1 tweetsent."""
    import json

    rows = conn.execute(sa.text("SELECT id, config, metrics FROM tweetsent_runs")).all()
    for run_id, config, metrics in rows:
        scalars = scalar_metrics(json.loads(metrics) if metrics else None)
        conn.execute(
            sa.text(
                "UPDATE tweetsent_runs SET scalars = :s, flat_config = :c, f1_macro = :f, "
                "accuracy = :a, updated_at = COALESCE(ended_at, started_at) WHERE id = :id"
            ),
            {
                "s": json.dumps(scalars),
                "c": json.dumps(flatten(json.loads(config or "{}"))),
                "f": scalars.get("f1_macro"),
                "a": scalars.get("accuracy"),
                "id": run_id,
            },
        )


# step n turns a version n-1 database into version n
_STEPS: dict[int, Callable] = {
    1: lambda conn: [conn.exec_driver_sql(sql) for sql in _V1],
    2: lambda conn: ([conn.exec_driver_sql(sql) for sql in _V2], _backfill_v2(conn)),
}
assert max(_STEPS) == SCHEMA_VERSION


def connect(url: str) -> tuple[sa.Engine, str]:
    """Create an engine for a run-log URL (``sqlite:///path`` or ``postgresql://...``).

    Returns
    -------
    (Engine, str)
        The engine, and how to name the log in messages (a path, or the URL without password).

    Raises
    ------
    ConfigError
        For a URL of another database kind.
    """
    url = normalise_url(url)
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"run log URL '{url}' does not parse; use sqlite:///PATH or postgresql://USER@HOST/DB") from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        where = safe_url(url)
        try:
            return sa.create_engine(with_pg_driver(url), pool_pre_ping=True), where
        except ImportError as exc:
            raise ConfigError(f"{where}: the PostgreSQL driver is missing ({exc}); pip install 'tweetsent[postgres]'") from exc
    if backend != "sqlite":
        raise ConfigError(f"run log URL '{safe_url(url)}': {backend} is not supported; use sqlite:///PATH or postgresql://...")
    path = parsed.database or ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # The busy timeout makes a writer wait up to 30 s for another's transaction instead of failing.
    engine = sa.create_engine(parsed, connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # SQLAlchemy emits BEGIN itself (below), so pysqlite must not.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _set_wal(cursor)
        # NORMAL is durable across process crashes in WAL mode; only a power cut can lose the last commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Writers take the lock up front: a deferred BEGIN that upgrades later can fail with
        # "database is locked" without waiting, which the busy timeout cannot help.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("tweetsent_write") else "BEGIN")

    return engine, path or url


def _set_wal(cursor) -> None:
    """Switch a SQLite file to WAL, waiting out other processes that hold it at that moment.

    Changing the journal mode needs the file to itself, and SQLite answers "database is locked"
    at once rather than through the busy timeout when two processes open a new log together.
    """
    _retry_locked(lambda: cursor.execute("PRAGMA journal_mode=WAL"), attempts=60, max_wait=0.075)


def _lock(conn) -> None:
    """Serialise migrations between processes (SQLite's BEGIN IMMEDIATE already does)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7147530811)")


def _version(conn, where: str) -> int:
    tables = set(sa.inspect(conn).get_table_names())
    if "tweetsent_meta" not in tables:
        if conn.dialect.name == "sqlite" and tables:
            raise DataError(
                f"{where}: a SQLite database but not a tweetsent run log (tables: {', '.join(sorted(tables))}); "
                "point --log-url or --runs-dir at another file"
            )
        return 0
    value = conn.execute(sa.select(_meta.c.value).where(_meta.c.key == "schema_version")).scalar()
    return int(value or 0)


def migrate(engine: sa.Engine, where: str) -> int:
    """Bring the log's schema to ``SCHEMA_VERSION``, one transactional step at a time.

    Returns
    -------
    int
        The version the log had before (0 for a new log).

    Raises
    ------
    DataError
        For a log written by a newer tweetsent, a file that is not a database, or a database
        that cannot be reached.
    """
    found = _read_version(engine, where)
    if found > SCHEMA_VERSION:
        raise DataError(
            f"{where}: run log schema version {found} is newer than this tweetsent understands "
            f"({SCHEMA_VERSION}); upgrade tweetsent (pip install -U tweetsent) or use another log"
        )
    for step in range(found + 1, SCHEMA_VERSION + 1):

        def run_step(conn, step=step):
            _lock(conn)
            # Another process may have run this step while we waited for the lock.
            if _version(conn, where) >= step:
                return
            _STEPS[step](conn)
            conn.execute(_meta.update().where(_meta.c.key == "schema_version").values(value=str(step)))

        write(engine, where, run_step)
    return found


def _read_version(engine: sa.Engine, where: str) -> int:
    """The log's schema version, retrying while another process holds a new log's lock."""

    def read():
        with db_errors(where), engine.connect() as conn:
            return _version(conn, where)

    return _retry_locked(read, attempts=8)


def _retry_locked(action: Callable, attempts: int, max_wait: float = 2.0):
    """``action()``, run again while SQLite reports the database locked; the last failure is raised.

    Waits grow from 0.05 s, doubling up to ``max_wait``, each jittered by 0.5x to 1.5x so that
    parallel writers do not retry in lockstep.
    """
    for attempt in range(attempts):
        try:
            return action()
        except (DataError, sqlite3.OperationalError) as exc:
            # db_errors wraps the driver's error; SQLite's own (from a raw cursor) arrives bare.
            cause = exc.__cause__ if isinstance(exc, DataError) else exc
            if not _is_locked(cause) or attempt == attempts - 1:
                raise
        time.sleep(min(max_wait, 0.05 * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def _is_locked(exc: BaseException | None) -> bool:
    text = str(exc).lower() if exc is not None else ""
    return "database is locked" in text or "database is busy" in text


@contextmanager
def db_errors(where: str):
    """Turn driver errors into one-line ``DataError`` messages naming the log."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        if "file is not a database" in reason or "malformed" in reason:
            raise DataError(
                f"{where}: not a readable SQLite database ({reason}); move the file aside and a new log "
                "starts there, or point --log-url elsewhere"
            ) from exc
        if isinstance(exc, sa.exc.OperationalError):
            raise DataError(f"{where}: cannot use the run log ({reason}); check --log-url / TWEETSENT_LOG_URL") from exc
        raise DataError(f"{where}: the run log refused a write ({reason})") from exc


def write(engine: sa.Engine, where: str, fn: Callable, attempts: int = 20):
    """Run ``fn(conn)`` in one write transaction, retrying while SQLite reports a lock.

    Returns
    -------
    object
        Whatever ``fn`` returns.
    """
    writer = engine.execution_options(tweetsent_write=True)

    def transaction():
        with db_errors(where), writer.begin() as conn:
            return fn(conn)

    return _retry_locked(transaction, attempts)
