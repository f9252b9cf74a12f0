"""The experiment log: round trips, the filter language, exports, migrations, crashes, concurrency, CLI.

    PYTHONPATH=src python -m pytest tests/test_runlog.py -q

Backend-parametrized tests also run against PostgreSQL when ``TWEETSENT_TEST_PG_URL`` is set
(``export TWEETSENT_TEST_PG_URL=$(bash .ci/postgres.sh | tail -n1)``); unset, they skip locally
and fail in CI (``CI=true``), so that CI cannot silently stop testing PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tweetsent.cli import runs as cli_runs
from tweetsent.cli.runs import DOT, dot_repeats, runs_app
from tweetsent.errors import ConfigError, DataError
from tweetsent.runlog import log as runlog
from tweetsent.runlog.log import RunLog
from tweetsent.runlog.process import process_gone, process_start
from tweetsent.runlog.query import BoolOp, Comparison, parse_filter
from tweetsent.runlog.store import SCHEMA_VERSION

# A SQLAlchemy warning (a cartesian product, an implicit coercion) is a bug in the query here.
pytestmark = pytest.mark.filterwarnings("error::sqlalchemy.exc.SAWarning")

SRC = Path(runlog.__file__).resolve().parents[2]
PG_URL = os.environ.get("TWEETSENT_TEST_PG_URL")


def _config(optimizer="radam", lr=2e-4, activation="prelu", seed=0) -> dict:
    return {
        "features": {"embeddings": "glove-6b-50d", "tokenizer": "tweet"},
        "model": {"kind": "network", "hidden": [125, 125, 75, 30], "activation": activation,
                  "dropout": [0.3, 0.2, 0.1, 0.0], "batch_norm": False},
        "train": {"optimizer": optimizer, "lr": lr, "batch_size": 450, "epochs": 50,
                  "loss": "cross_entropy", "seed": seed},
    }  # fmt: skip


def _metrics(f1=0.7, accuracy=0.8) -> dict:
    return {
        "accuracy": accuracy, "precision_weighted": 0.71, "recall_weighted": 0.72, "f1_weighted": 0.73,
        "precision_macro": 0.69, "recall_macro": 0.68, "f1_macro": f1, "f1_micro": accuracy,
        "loss": 0.55, "roc_auc_macro": 0.88, "labels": ["negative", "neutral", "positive"],
        "per_class": {"negative": {"precision": 0.7, "recall": 0.6, "f1": 0.65, "support": 10}},
        "confusion_matrix": [[6, 2, 2], [1, 8, 1], [0, 3, 7]],
    }  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def log_url(request, tmp_path):
    """A fresh, empty log: a SQLite file, or a private schema in the test PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'runs.db'}"
        return
    if not PG_URL:
        if os.environ.get("CI") == "true":
            pytest.fail("TWEETSENT_TEST_PG_URL is unset in CI; export it from `bash .ci/postgres.sh | tail -n1`")
        pytest.skip("PostgreSQL log tests need TWEETSENT_TEST_PG_URL (see .ci/postgres.sh)")
    from tweetsent.runlog.store import connect

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine, _ = connect(PG_URL)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    # search_path puts the log's tables in this test's own schema.
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    engine.dispose()


@pytest.fixture
def log(log_url):
    with RunLog.open(log_url) as opened:
        yield opened


def _add(log: RunLog, name: str, f1: float | None = 0.7, star=False, **config) -> str:
    run_id = log.start(kind="train", config=_config(**config), name=name, study="act",
                       data={"train": "/d/train.csv"}, fingerprints={"train": "aa", "val": "bb"},
                       run_dir=f"runs/{name}")  # fmt: skip
    for epoch in (1, 2, 3):
        log.add_epoch(run_id, {"epoch": epoch, "train_loss": 1 / epoch, "val_loss": 1.1 / epoch, "seconds": 0.1})
    if f1 is not None:
        log.finish(run_id, metrics=_metrics(f1=f1), best_epoch=2, overfit={"verdict": "ok", "evidence": "val flat"})
    if star:
        log.star(run_id)
    return run_id


# -- the Python API ----------------------------------------------------------------------------


def test_start_epochs_finish_round_trip(log):
    run_id = log.start(kind="train", config=_config(), data={"train": "/d/train.csv", "val": "/d/val.csv"},
                       fingerprints={"train": "t" * 64, "val": "v" * 64, "embeddings": "glove"},
                       run_dir="runs/x", name="seed-prelu")  # fmt: skip
    assert len(run_id) == 12 and log.list()[0]["status"] == "running"
    for epoch in range(1, 4):
        log.add_epoch(run_id, {"epoch": epoch, "train_loss": 1.0 / epoch, "val_loss": 0.9, "seconds": 0.1})
    log.add_epoch(run_id, {"epoch": 3, "train_loss": 0.25, "val_loss": 0.8, "seconds": 0.1})  # replaces epoch 3
    log.finish(run_id, metrics=_metrics(), best_epoch=2, overfit={"verdict": "overfit", "evidence": "gap 0.2"})

    got = log.get(run_id[:8])
    assert got["id"] == run_id and got["status"] == "finished" and got["kind"] == "train"
    assert got["config"] == _config()
    assert got["metrics"] == _metrics()
    assert [h["epoch"] for h in got["history"]] == [1, 2, 3] and got["history"][2]["train_loss"] == 0.25
    assert got["fingerprints"]["embeddings"] == "glove" and got["data"]["val"] == "/d/val.csv"
    assert got["best_epoch"] == 2 and got["overfit"] == "overfit" and got["overfit_evidence"] == "gap 0.2"
    assert got["pid"] == os.getpid() and got["hostname"] and got["package_version"]
    assert got["git_commit"] is None or len(got["git_commit"]) == 40
    assert got["duration_s"] >= 0 and got["ended_at"] >= got["started_at"]
    listed = log.list()[0]
    assert listed["metrics"]["f1_macro"] == 0.7 and listed["config"]["train.optimizer"] == "radam"


def test_fail_and_bad_input(log):
    run_id = log.start(kind="trial", config={"train": {"lr": 0.1}})
    log.fail(run_id, status="interrupted", error="KeyboardInterrupt after epoch 12")
    record = log.get(run_id)
    assert record["status"] == "interrupted" and "epoch 12" in record["error"]
    with pytest.raises(ConfigError, match="kind 'fit'"):
        log.start(kind="fit", config={})
    with pytest.raises(ConfigError, match="crashed"):
        log.fail(run_id, status="crashed")
    with pytest.raises(ConfigError, match="integer 'epoch'"):
        log.add_epoch(run_id, {"val_loss": 1.0})
    with pytest.raises(ConfigError, match="no run with id 'nope'"):
        log.add_epoch("nope", {"epoch": 1})


def test_list_where_sort_limit(log):
    a = _add(log, "a", f1=0.60, optimizer="adam")
    b = _add(log, "b", f1=0.75, optimizer="radam", star=True)
    c = _add(log, "c", f1=0.72, optimizer="radam", lr=1e-3)
    d = _add(log, "d", f1=None, optimizer="sgd")  # still running

    ids = lambda records: [r["id"] for r in records]
    assert ids(log.list()) == [a, b, c, d]
    assert ids(log.list(where="f1_macro>0.7 and optimizer=radam")) == [b, c]
    assert ids(log.list(where="train.optimizer=adam or (lr>=1e-3 and status=finished)")) == [a, c]
    assert ids(log.list(where="lr=2e-4 and optimizer!=radam")) == [a, d]
    assert ids(log.list(where="starred=yes")) == [b]
    assert ids(log.list(where="hidden='[125,125,75,30]' and name=\"c\"")) == [c]
    assert ids(log.list(where="f1_macro<1")) == [a, b, c]  # a run without the key never matches
    assert ids(log.list(sort="-f1_macro")) == [b, c, a, d]  # missing values go last
    assert ids(log.list(sort="f1_macro")) == [a, c, b, d]
    assert ids(log.list(sort="optimizer,-f1_macro")) == [a, b, c, d]
    assert ids(log.list(sort="-f1_macro", limit=2)) == [b, c]
    assert ids(log.list(limit=2)) == [c, d]  # without a sort: the newest N, oldest first
    with pytest.raises(ConfigError, match="unknown key 'bogus'"):
        log.list(sort="-bogus")
    with pytest.raises(ConfigError, match="at least 1"):
        log.list(limit=0)


def test_filter_parser_builds_a_tree():
    tree = parse_filter("f1_macro>0.7 or optimizer = radam AND (name='a b' or lr<=1e-3)")
    assert tree.op == "or" and isinstance(tree.items[0], Comparison)
    assert tree.items[0] == Comparison("f1_macro", ">", "0.7", False, 0)
    right = tree.items[1]
    assert isinstance(right, BoolOp) and right.op == "and"
    assert right.items[1].op == "or" and right.items[1].items[0].value == "a b" and right.items[1].items[0].quoted


@pytest.mark.parametrize(
    ("text", "column", "says"),
    [
        ("f1_macro>", 10, "expected a value"),
        ("f1_macro>>0.7", 10, "expected a value"),
        ("f1_macro ~ 1", 10, "expected an operator"),
        ("f1_macro>0.7 and", 17, "expected a key"),
        ("(f1_macro>0.7", 14, "expected ')'"),
        ("a=1 b=2", 5, "'and', 'or' or the end"),
        ("name='abc", 6, "unterminated string"),
        ("f1_macro!0.7", 9, "not an operator"),
        ("optimzer=adam", 1, "unknown key 'optimzer'"),
        ("   ", 1, "empty"),
    ],
)
def test_bad_filters_point_at_the_column_and_list_keys(log, text, column, says):
    _add(log, "a")
    with pytest.raises(ConfigError) as caught:
        log.list(where=text)
    message = str(caught.value)
    assert f"column {column} " in message and says in message
    assert "valid keys:" in message and "f1_macro" in message and "optimizer" in message
    assert "\n" not in message


def test_ambiguous_short_key_asks_for_the_dotted_one(log):
    log.start(kind="train", config={"model": {"seed": 1}, "train": {"seed": 2}})
    with pytest.raises(ConfigError, match="ambiguous.*model.seed, train.seed"):
        log.list(where="seed=1")
    assert len(log.list(where="train.seed=2 and config.model.seed=1")) == 1


def test_diff_reports_changed_config_and_every_metric(log):
    a = _add(log, "a", f1=0.60, optimizer="adam")
    b = _add(log, "b", f1=0.75, optimizer="radam", activation="relu")
    result = log.diff(a[:9], b)
    assert result["a"] == a and result["b"] == b
    assert result["config"] == {"model.activation": {"a": "prelu", "b": "relu"},
                                "train.optimizer": {"a": "adam", "b": "radam"}}  # fmt: skip
    assert result["metrics"]["f1_macro"]["delta"] == pytest.approx(0.15)
    assert result["metrics"]["accuracy"] == {"a": 0.8, "b": 0.8, "delta": 0.0}
    assert set(result["metrics"]) == {k for k, v in _metrics().items() if isinstance(v, float)}
    assert result["fingerprints"] == {}


def test_star_note_remove_and_prefixes(log):
    a, b = _add(log, "alpha"), _add(log, "beta")
    assert log.star(a[:10]) == a and log.get(a)["starred"]
    log.star(a, on=False)
    assert not log.get(a)["starred"]
    log.note("beta", "best so far; try more dropout")
    assert log.get(b)["note"] == "best so far; try more dropout"
    shared = os.path.commonprefix([a, b])
    with pytest.raises(ConfigError, match="ambiguous"):
        log.get(shared)
    with pytest.raises(ConfigError, match="no run with id or name 'zzz'"):
        log.get("zzz")
    assert log.remove(a) == a
    assert [r["id"] for r in log.list()] == [b] and log.history() == log.history([b])


def test_ids_are_unique_and_sort_by_start(log):
    ids = [log.start(kind="trial", config={}) for _ in range(20)]
    assert len(set(ids)) == 20 and sorted(ids, key=lambda i: i[:8]) == ids


# -- exports -----------------------------------------------------------------------------------


def test_dataframe_has_one_row_per_run_with_dotted_config(log):
    a, b = _add(log, "a", f1=0.6), _add(log, "b", f1=0.8, optimizer="adam")
    frame = log.to_dataframe(sort="-f1_macro")
    assert list(frame["id"]) == [b, a]
    assert {"f1_macro", "accuracy", "loss", "train.optimizer", "model.hidden", "train.loss", "status"} <= set(frame.columns)
    assert list(frame["train.optimizer"]) == ["adam", "radam"] and frame["best_epoch"].tolist() == [2, 2]
    assert log.to_dataframe(where="optimizer=adam")["name"].tolist() == ["b"]


def test_csv_export(log, tmp_path):
    _add(log, "a"), _add(log, "b", optimizer="adam")
    path = log.export_csv(tmp_path / "out" / "runs.csv")
    import pandas as pd

    frame = pd.read_csv(path)
    assert frame["name"].tolist() == ["a", "b"] and frame["train.optimizer"].tolist() == ["radam", "adam"]
    assert frame["model.hidden"][0] == "[125,125,75,30]"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp file left behind


def test_xlsx_export_fills_starred_rows_green(log, tmp_path):
    import openpyxl

    _add(log, "plain"), _add(log, "good", star=True), _add(log, "running", f1=None)
    path = log.export_xlsx(tmp_path / "study.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["runs", "history"]
    sheet = book["runs"]
    header = [cell.value for cell in sheet[1]]
    names = {row[header.index("name")].value: row for row in sheet.iter_rows(min_row=2)}
    assert set(names) == {"plain", "good", "running"}
    assert all(c.fill.fill_type == "solid" and c.fill.fgColor.rgb.endswith("C6EFCE") for c in names["good"])
    assert all(c.fill.fill_type is None for c in names["plain"] + names["running"])
    history = book["history"]
    hist_header = [cell.value for cell in history[1]]
    assert hist_header[:3] == ["run_id", "name", "epoch"] and history.max_row == 1 + 9


def test_dot_repeats():
    rows = [["1", "a", "radam", "0.7"], ["2", "b", "radam", "0.7"], ["3", "c", "adam", "0.7"], ["4", "d", "", ""]]
    assert dot_repeats(rows, keep=(0, 1)) == [
        ["1", "a", "radam", "0.7"], ["2", "b", DOT, DOT], ["3", "c", "adam", DOT], ["4", "d", "", ""],
    ]  # fmt: skip


# -- schema, corruption, crashes ---------------------------------------------------------------

_V1_DDL = """
CREATE TABLE tweetsent_meta (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tweetsent_runs (
    id VARCHAR(32) PRIMARY KEY, kind VARCHAR(16) NOT NULL, name TEXT, study TEXT,
    parent VARCHAR(32), status VARCHAR(16) NOT NULL, started_at VARCHAR(40) NOT NULL,
    ended_at VARCHAR(40), duration_s DOUBLE PRECISION, package_version TEXT,
    git_commit VARCHAR(64), hostname TEXT, pid BIGINT, run_dir TEXT, config TEXT NOT NULL,
    data TEXT, fingerprints TEXT, metrics TEXT, best_epoch INTEGER, overfit TEXT, error TEXT,
    starred INTEGER NOT NULL DEFAULT 0, note TEXT);
CREATE TABLE tweetsent_epochs (
    run_id VARCHAR(32) NOT NULL REFERENCES tweetsent_runs (id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL, record TEXT NOT NULL, PRIMARY KEY (run_id, epoch));
INSERT INTO tweetsent_meta VALUES ('schema_version', '1');
"""


def _write_v1_log(path: Path) -> None:
    """A log as tweetsent's first schema wrote it: metrics and config only as JSON blobs."""
    db = sqlite3.connect(path)
    db.executescript(_V1_DDL)
    db.execute(
        "INSERT INTO tweetsent_runs (id, kind, name, status, started_at, ended_at, config, metrics, "
        "best_epoch, starred, hostname, pid) VALUES (?, 'train', 'old', 'finished', ?, ?, ?, ?, 4, 1, 'h', 1)",
        ("0abc00000001", "2025-01-01T00:00:00.000+00:00", "2025-01-01T00:10:00.000+00:00",
         json.dumps(_config(optimizer="adam")), json.dumps(_metrics(f1=0.66))),
    )  # fmt: skip
    db.execute("INSERT INTO tweetsent_epochs VALUES ('0abc00000001', 1, '{\"epoch\": 1, \"val_loss\": 0.9}')")
    db.commit()
    db.close()


def test_v1_log_is_migrated_forward_keeping_its_runs(tmp_path):
    path = tmp_path / "runs.db"
    _write_v1_log(path)
    with RunLog.open(f"sqlite:///{path}") as log:
        [old] = log.list(where="f1_macro>0.6 and optimizer=adam")
        assert old["id"] == "0abc00000001" and old["starred"] and old["metrics"]["f1_macro"] == 0.66
        assert log.get(old["id"])["history"] == [{"epoch": 1, "val_loss": 0.9}]
        new = _add(log, "new")
        assert [r["id"] for r in log.list(sort="-f1_macro")] == [new, old["id"]]
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM tweetsent_meta WHERE key='schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    assert db.execute("SELECT f1_macro FROM tweetsent_runs WHERE id='0abc00000001'").fetchone() == (0.66,)
    db.close()


def test_newer_schema_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "runs.db"
    RunLog.open(f"sqlite:///{path}").close()
    db = sqlite3.connect(path)
    db.execute("UPDATE tweetsent_meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(DataError, match=r"runs\.db: run log schema version 99 is newer .* upgrade tweetsent"):
        RunLog.open(f"sqlite:///{path}")


def test_corrupt_file_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "runs.db"
    garbage = b"this is a spreadsheet, honest\n" * 200
    path.write_bytes(garbage)
    with pytest.raises(DataError, match=r"runs\.db: not a readable SQLite database .* move the file aside"):
        RunLog.open(runs_dir=tmp_path)
    assert path.read_bytes() == garbage


def test_foreign_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER)")
    db.close()
    with pytest.raises(DataError, match="not a tweetsent run log .*invoices"):
        RunLog.open(f"sqlite:///{path}")


def test_env_url_and_default_location(tmp_path, monkeypatch):
    monkeypatch.delenv("TWEETSENT_LOG_URL", raising=False)
    with RunLog.open(runs_dir=tmp_path / "r") as log:
        log.start(kind="trial", config={})
    assert (tmp_path / "r" / "runs.db").exists()
    monkeypatch.setenv("TWEETSENT_LOG_URL", f"sqlite:///{tmp_path / 'env.db'}")
    with RunLog.open(runs_dir=tmp_path / "r") as log:
        assert log.list() == [] and log.where.endswith("env.db")
    with pytest.raises(ConfigError, match="mysql is not supported"):
        RunLog.open("mysql://u@h/db")


def test_database_urls_hide_the_password_and_name_the_driver(monkeypatch):
    from tweetsent.util import dburl

    assert dburl.normalise_url("postgres://u:pw@h/db") == "postgresql://u:pw@h/db"
    assert dburl.safe_url("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert dburl.safe_url("not a url") == "not a url"
    for url in ("sqlite:///runs/x.db", "postgresql+psycopg://u@h/db"):
        assert dburl.with_pg_driver(url) == url
    monkeypatch.setattr(dburl.importlib.util, "find_spec", lambda name: object() if name == "psycopg" else None)
    assert dburl.with_pg_driver("postgres://u:pw@h/db") == "postgresql+psycopg://u:pw@h/db"
    monkeypatch.setattr(dburl.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"postgresql://u:\*\*\*@h/db: no PostgreSQL driver .*tweetsent\[postgres\]"):
        RunLog.open("postgres://u:pw@h/db")


def test_lock_errors_are_retried_and_others_are_not(monkeypatch):
    from tweetsent.runlog import store

    monkeypatch.setattr(store.time, "sleep", lambda seconds: None)
    calls = []

    def locked_twice():
        calls.append(1)
        if len(calls) < 3:
            raise sqlite3.OperationalError("database is locked")
        return "done"

    assert store._retry_locked(locked_twice, attempts=5) == "done" and len(calls) == 3
    calls.clear()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store._retry_locked(locked_twice, attempts=2)
    assert len(calls) == 2

    def broken():
        calls.append(1)
        raise DataError("cannot use the run log (disk I/O error)") from sqlite3.OperationalError("disk I/O error")

    calls.clear()
    with pytest.raises(DataError, match="disk I/O"):
        store._retry_locked(broken, attempts=5)
    assert len(calls) == 1


def _python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env, text=True, **kwargs)


def test_sigkilled_run_shows_as_interrupted(log_url, log):
    child = _python(
        """
        import sys, time
        from tweetsent.runlog.log import RunLog
        log = RunLog.open(sys.argv[1])
        run_id = log.start(kind="train", config={"train": {"lr": 0.1}}, name="doomed")
        log.add_epoch(run_id, {"epoch": 1, "val_loss": 0.9})
        print(run_id, flush=True)
        time.sleep(120)
        """,
        log_url,
        stdout=subprocess.PIPE,
    )
    run_id = child.stdout.readline().strip()
    assert log.get(run_id)["status"] == "running"  # alive: still running
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    child.stdout.close()
    mine = log.start(kind="train", config={}, name="alive")
    record = log.get(run_id)
    assert record["status"] == "interrupted" and f"process {child.pid}" in record["error"]
    assert [r["id"] for r in log.list(where="status=interrupted")] == [run_id]
    assert log.get(mine)["status"] == "running"
    assert record["history"] == [{"epoch": 1, "val_loss": 0.9}]


def test_a_reused_pid_does_not_keep_a_dead_run_alive():
    # Our own pid, but recorded with another process start time: some other process owns it now.
    assert process_gone(os.getpid(), "1")
    assert not process_gone(os.getpid(), process_start(os.getpid()))
    assert not process_gone(os.getpid(), None)


def test_parallel_writers_lose_nothing(log_url, tmp_path):
    writer = """
        import sys, time
        from pathlib import Path
        from tweetsent.runlog.log import RunLog
        url, tag, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
        for _ in range(6000):  # start together, schema creation included: wait for the go file
            if go.exists():
                break
            time.sleep(0.01)
        log = RunLog.open(url)
        for i in range(5):
            run_id = log.start(kind="trial", config={"worker": tag, "train": {"seed": i}}, name=f"{tag}-{i}")
            for epoch in range(1, 6):
                log.add_epoch(run_id, {"epoch": epoch, "val_loss": 1.0 / epoch})
            log.finish(run_id, metrics={"f1_macro": 0.5 + i / 100, "accuracy": 0.6}, best_epoch=5)
        log.close()
    """
    go = tmp_path / "go"
    workers = [_python(writer, log_url, tag, str(go)) for tag in ("w1", "w2", "w3")]
    go.touch()  # all three are waiting for it, or will find it at once
    assert [w.wait(timeout=120) for w in workers] == [0, 0, 0]
    with RunLog.open(log_url) as log:
        records = log.list()
        assert sorted(r["name"] for r in records) == sorted(f"{t}-{i}" for t in ("w1", "w2", "w3") for i in range(5))
        assert {r["status"] for r in records} == {"finished"}
        history = log.history()
        assert len(history) == 15 * 5
        assert all(len([h for h in history if h["run_id"] == r["id"]]) == 5 for r in records)


# -- the CLI -----------------------------------------------------------------------------------


@pytest.fixture
def cli(log_url):
    app = typer.Typer()
    app.add_typer(runs_app, name="runs")

    @app.callback()
    def main():
        """tweetsent (test mount)."""

    runner = CliRunner()

    def invoke(*args, **kwargs):
        env = {"TWEETSENT_LOG_URL": log_url, "COLUMNS": "250"}
        return runner.invoke(app, ["runs", *args], env=env, **kwargs)

    return invoke


def test_cli_list_show_diff_json(cli, log):
    a = _add(log, "seed-prelu", f1=0.6)
    b = _add(log, "seed-relu", f1=0.7, activation="relu", star=True)
    result = cli("list", "--where", "f1_macro>0.65", "--json")
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in json.loads(result.stdout)] == [b]
    shown = json.loads(cli("show", a[:9], "--json").stdout)
    assert shown["config"]["model"]["activation"] == "prelu" and len(shown["history"]) == 3
    diffed = json.loads(cli("diff", a, b, "--json").stdout)
    assert diffed["config"] == {"model.activation": {"a": "prelu", "b": "relu"}}

    table = cli("list", "--sort", "-f1_macro").stdout
    assert "activation" in table and "relu" in table and "★" in table and "optimizer" not in table
    assert "2 run(s)" in table
    assert "per class" in cli("show", b).stdout
    assert "+0.1000" in cli("diff", a, b).stdout


def test_cli_dots_mark_unchanged_values(cli, log):
    _add(log, "r1", f1=0.6, activation="relu")
    _add(log, "r2", f1=0.6, activation="relu", lr=1e-3)
    _add(log, "r3", f1=0.7, activation="prelu", lr=1e-3)
    lines = cli("list", "--dots").stdout.splitlines()
    row = {line.split()[1]: line for line in lines if line.split() and line.split()[1].startswith("r")}
    assert DOT not in row["r1"]
    # id, name, status, activation, lr, f1_macro, accuracy, loss (the empty star cell splits away)
    assert row["r2"].split()[2:] == ["finished", DOT, "0.001", DOT, DOT, DOT]
    assert row["r3"].split()[2:4] == ["finished", "prelu"]


def test_cli_star_note_rm(cli, log, monkeypatch):
    a = _add(log, "a")
    assert cli("star", a[:9]).stdout.strip() == f"starred {a}" and log.get(a)["starred"]
    assert cli("unstar", a).exit_code == 0 and not log.get(a)["starred"]
    assert cli("note", a, "keep this one").exit_code == 0 and log.get(a)["note"] == "keep this one"

    refused = cli("rm", a)  # CliRunner's stdin is not a terminal
    assert refused.exit_code == 2 and "without --yes" in refused.stderr and log.list()
    monkeypatch.setattr(cli_runs, "_stdin_is_interactive", lambda: True)
    assert cli("rm", a, input="n\n").exit_code == 0 and log.list()
    assert cli("rm", a, input="y\n").stdout.strip().endswith(f"removed {a}") and not log.list()
    b = _add(log, "b")
    assert cli("rm", "--yes", b).exit_code == 0 and not log.list()


def test_cli_errors_are_one_line_on_stderr(cli, log):
    _add(log, "a")
    bad = cli("list", "--where", "f1_macro>>0.7")
    assert bad.exit_code == 2 and bad.stdout == ""
    assert bad.stderr.startswith("error: --where") and bad.stderr.count("\n") == 1
    missing = cli("show", "nosuchrun")
    assert missing.exit_code == 2 and "no run with id or name 'nosuchrun'" in missing.stderr
    assert cli("export").exit_code == 2


def test_cli_export(cli, log, tmp_path):
    _add(log, "a", star=True)
    result = cli("export", "--csv", str(tmp_path / "r.csv"), "--xlsx", str(tmp_path / "r.xlsx"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.csv").read_text().count("\n") == 2 and (tmp_path / "r.xlsx").stat().st_size > 0


def test_cli_refuses_a_newer_log(tmp_path):
    path = tmp_path / "runs.db"
    RunLog.open(f"sqlite:///{path}").close()
    db = sqlite3.connect(path)
    db.execute("UPDATE tweetsent_meta SET value='7' WHERE key='schema_version'")
    db.commit()
    db.close()
    result = CliRunner().invoke(runs_app, ["list", "--runs-dir", str(tmp_path)], env={"TWEETSENT_LOG_URL": ""})
    assert result.exit_code == 2 and "schema version 7 is newer" in result.stderr


def test_every_filter_example_in_the_docs_compiles_against_a_real_config():
    import re as _re

    from tweetsent.config.resolve import resolve_config
    from tweetsent.runlog.query import compile_filter
    from tweetsent.runlog.records import flatten

    docs = (Path(__file__).resolve().parents[1] / "docs" / "runlog.md").read_text(encoding="utf-8")
    examples = _re.findall(r'--where "([^"]+)"', docs)
    assert len(examples) >= 4
    record = {"id": "a", "name": "seed-prelu", "kind": "train", "status": "finished", "started_at": "2026-11-02",
              "config": flatten(resolve_config("seed-prelu").to_dict()), "metrics": {"f1_macro": 0.7, "accuracy": 0.7}}
    for text in examples:
        if "optimzer" in text:  # the docs' example of a bad filter
            continue
        compile_filter(text, [record])  # raises ConfigError on an ambiguous or unknown key
