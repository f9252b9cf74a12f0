"""`tweetsent tune`: space files, a real small study, resume, pruning, the CLI, workers on PostgreSQL.

The PostgreSQL test runs when ``TWEETSENT_TEST_PG_URL`` is set
(``export TWEETSENT_TEST_PG_URL=$(bash .ci/postgres.sh | tail -n1)``); unset, it skips locally
and fails in CI (``CI=true``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from tweetsent.cli.tune import parse_duration, tune
from tweetsent.config.resolve import resolve_config
from tweetsent.errors import ConfigError
from tweetsent.runlog.log import RunLog
from tweetsent.tune.space import load_space
from tweetsent.tune.study import inner_splits

optuna = pytest.importorskip("optuna")

PG_URL = os.environ.get("TWEETSENT_TEST_PG_URL")
SUMMARY_KEYS = {"study", "storage", "metric", "selection", "best_trial", "best_config", "inner_score",
                "inner_metrics", "val_metrics", "final_run_dir", "final_run_id", "n_trials", "importances", "files"}


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(tune)
    return app


def _invoke(*args: str):
    return CliRunner().invoke(_app(), [str(a) for a in args])


@pytest.fixture
def space_file(tmp_path, glove_file) -> Path:
    """A tiny space on the 6-d GloVe fixture: a hopeless learning rate next to a good one."""
    path = tmp_path / "tiny-space.toml"
    path.write_text(f"""
[base]
name = "tiny"
[base.features]
embeddings = "{glove_file.as_posix()}"
[base.model]
hidden = [16, 8]
[base.train]
epochs = 5
batch_size = 8
[search]
pruner_startup_trials = 1   # judge from the second trial on
pruner_warmup_epochs = 1
sampler_startup_trials = 10
[params."train.lr"]
choices = [1e-6, 0.05]      # 1e-6: validation F1 stays flat, so the pruner stops such trials
[params."model.activation"]
choices = ["relu", "tanh"]
""", encoding="utf-8")
    return path


# -- the space file -----------------------------------------------------------------------------


def test_seed_space_covers_the_studys_dimensions():
    space = load_space("seed-space")
    searched = {d.name for dims in space.params.values() for d in dims}
    assert {"model.kind", "model.hidden.layers", "model.hidden.width", "model.activation", "model.dropout.first",
            "model.dropout.decay", "model.batch_norm", "train.optimizer", "train.lr", "train.batch_size",
            "train.patience", "train.loss", "train.class_weight", "features.input", "features.tokenizer",
            "features.punctuation", "features.word_ngrams", "features.char_ngrams", "features.tfidf",
            "features.n_features"} <= searched
    assert space.base["train"]["early_stopping"] is True
    assert max(space.params["features.n_features"][0].choices) <= 2 ** 16


def test_shaped_hidden_and_dropout_build_per_layer_values():
    space = load_space("seed-space")
    trial = optuna.trial.FixedTrial({
        "model.kind": "network", "model.hidden.layers": 3, "model.hidden.width": 100, "model.hidden.shrink": 0.5,
        "model.activation": "prelu", "model.dropout.first": 0.3, "model.dropout.decay": 0.1,
        "model.batch_norm": False, "train.optimizer": "radam", "train.lr": 2e-4, "train.weight_decay": 0.0,
        "train.batch_size": 64, "train.patience": 5, "train.loss": "cross_entropy", "train.class_weight": "none",
        "features.input": "embeddings", "features.pooling": "mean", "features.tokenizer": "tweet", "features.punctuation": False,
        "features.word_ngrams": "[1, 2]", "features.char_ngrams": "[0, 0]", "features.tfidf": False,
        "features.n_features": 16384,
    })  # fmt: skip
    cfg = space.sample(trial, name="s-t0")
    assert cfg.model.hidden == [100, 50, 25]
    assert cfg.model.dropout == [0.3, 0.2, 0.1]
    assert cfg.features.word_ngrams == [1, 2] and cfg.name == "s-t0"


def test_set_pins_a_parameter_and_takes_it_out_of_the_search():
    space = load_space("seed-space", fixed=["features.input=embeddings", "model.hidden=[64, 32]"])
    assert "features.input" not in space.params and "model.hidden" not in space.params
    assert space.base["features"]["input"] == "embeddings" and space.base["model"]["hidden"] == [64, 32]
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    for _ in range(3):
        trial = study.ask()
        cfg = space.sample(trial)
        assert cfg.features.input == "embeddings" and cfg.model.hidden == [64, 32]
        assert len(cfg.model.dropout) == 2  # the shaped dropout follows the pinned depth
        study.tell(trial, 0.5)
    assert space.fingerprint() != load_space("seed-space").fingerprint()


@pytest.mark.parametrize("text, message", [
    ('[params."train.lrr"]\nlow = 1e-4\nhigh = 1e-2', "unknown config key train.lrr"),
    ('[params."optim.lr"]\nchoices = [1]', "'optim.lr' is not a config key"),
    ('[params."train.lr"]\nlo = 1e-4\nhigh = 1e-2', "unknown key.* lo"),
    ('[params."model.activation"]\nchoices = ["relu", "gelu"]', "model.activation = 'gelu' is not one of"),
    ('[params."train.lr"]\nlow = 1e-2\nhigh = 1e-4', "low <= high"),
    ('[base.train]\nlearning_rate = 0.1', "unknown config key train.learning_rate"),
    ('[serach]\npruner = "median"', "unknown table.* serach"),
    ('[search]\npruner = "hyperband"', "pruner = 'hyperband' is not one of"),
    ('[params."model.hidden"]\nlayers = {low = 1, high = 3}\ndepth = {low = 1, high = 2}', "shaped model.hidden"),
])  # fmt: skip
def test_bad_space_files_fail_by_name(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_space(path)


def test_set_of_an_unknown_key_fails():
    with pytest.raises(ConfigError, match="unknown config key features.inputs"):
        load_space("seed-space", fixed=["features.inputs=embeddings"])


def test_study_report_escapes_its_text_and_shares_the_run_reports_stylesheet(tmp_path):
    from tweetsent.reporting.render import stylesheet
    from tweetsent.tune.report import write_report

    summary = {"study": "<b>s</b>", "storage": "sqlite:///t.db", "metric": "f1_macro", "best_trial": 2,
               "selection": "a split", "inner_metrics": {"accuracy": 0.5, "f1_macro": 0.25, "f1_weighted": None},
               "val_metrics": None, "best_config": {"name": "x", "model": {"activation": "<script>x</script>"}},
               "final_run_dir": "runs/a&b", "n_trials": {"complete": 2, "pruned": 1, "failed": 0}}
    rows = [{"number": i, "state": state, "value": value, "epochs": 3, "param:train.lr": 0.1 * (i + 1)}
            for i, (state, value) in enumerate([("complete", 0.2), ("pruned", 0.1), ("complete", 0.25)])]
    page = write_report(tmp_path / "r.html", summary, rows, {"train.lr": 1.0}, "note <i>").read_text("utf-8")
    assert stylesheet() in page and page.count("data:image/png;base64,") == 2  # history and importance
    assert "<script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page and "Study &lt;b&gt;s&lt;/b&gt;" in page
    assert "runs/a&amp;b" in page and "note &lt;i&gt;" in page and "<td>0.2500</td>" in page
    bare = write_report(tmp_path / "bare.html", summary, rows[:1], {}, "too few trials").read_text("utf-8")
    assert bare.count("data:image/png;base64,") == 1 and '<p class="note">too few trials</p>' in bare


def test_inner_split_is_stratified_seeded_and_disjoint():
    labels = np.array([0] * 20 + [1] * 20 + [2] * 20)
    (fit, held), = inner_splits(labels, 0.15, seed=3)
    assert len(held) == 9 and not set(fit) & set(held) and len(fit) + len(held) == 60
    assert np.bincount(labels[held]).tolist() == [3, 3, 3]
    assert np.array_equal(held, inner_splits(labels, 0.15, seed=3)[0][1])
    folds = inner_splits(labels, cv=3, seed=0)
    assert len(folds) == 3 and sorted(np.concatenate([h for _, h in folds]).tolist()) == list(range(60))


def test_durations():
    assert parse_duration("10m") == 600 and parse_duration("1h30m") == 5400 and parse_duration("45") == 45
    with pytest.raises(ConfigError, match="duration"):
        parse_duration("ten minutes")


# -- a real study -------------------------------------------------------------------------------


def test_a_small_study_logs_its_trials_writes_best_toml_and_resumes(tmp_path, corpus, space_file):
    train, val = corpus
    runs, out = tmp_path / "runs", tmp_path / "out"
    args = ["--space", space_file, "--train", train, "--val", val, "--study", "s1", "--runs-dir", runs,
            "--out", out, "--seed", "0", "--json"]
    result = _invoke(*args, "--trials", "6")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary) == SUMMARY_KEYS
    n = summary["n_trials"]
    assert n["complete"] + n["pruned"] == 6 and n["failed"] == 0
    # The hopeless learning rate was drawn after the first trial and pruned.
    assert n["pruned"] >= 1
    assert summary["best_config"]["train"]["lr"] == 0.05
    assert "15% split of train.csv" in summary["selection"]
    # Every trial is a run in the experiment log, with its history and its inner-split scores.
    with RunLog.open(None, runs) as log:
        trials = log.list(where="kind=trial")
        assert len(trials) == 6 and {t["study"] for t in trials} == {"s1"}
        assert {t["name"] for t in trials} == {f"s1-t{i}" for i in range(6)}
        assert all(t["status"] == "finished" and t["metrics"]["f1_macro"] is not None for t in trials)
        pruned = [t for t in trials if t["note"] and t["note"].startswith("pruned at epoch")]
        assert len(pruned) == n["pruned"] and all(t["config"]["train.lr"] == 1e-6 for t in pruned)
        assert 1 <= len(log.get(pruned[0]["id"])["history"]) < 5
        assert len(log.get(trials[0]["id"])["history"]) == 5
        final = log.list(where="kind=train")
        assert len(final) == 1 and final[0]["study"] == "s1"
    # The final run: a normal run directory scored once on the --val file.
    run_dir = Path(summary["final_run_dir"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["n"] == 12 and summary["val_metrics"]["f1_macro"] == pytest.approx(metrics["f1_macro"])
    assert json.loads((run_dir / "run.json").read_text())["data"]["val"] == str(Path(val).resolve())
    # best.toml feeds `tweetsent train --config` and trains.
    cfg = resolve_config(str(out / "best.toml"))
    assert cfg.train.lr == 0.05 and cfg.name == "s1-best"
    import pandas as pd

    from tweetsent.models.classifier import TweetClassifier

    frame = pd.read_csv(train)
    assert TweetClassifier(cfg).fit(frame.tweet.tolist(), frame.label.to_numpy()).predict(["safe"]).shape == (1,)
    html = (out / "tune_report.html").read_text()
    assert "data:image/png;base64," in html and "--val file" in html and "inner split" in html
    rows = pd.read_csv(out / "trials.csv")
    assert len(rows) == 6 and "param:train.lr" in rows.columns
    # Running again resumes the same study.
    again = _invoke(*args, "--trials", "2")
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert sum(summary["n_trials"][k] for k in ("complete", "pruned", "failed")) == 8
    study = optuna.load_study(study_name="s1", storage=f"sqlite:///{runs / 'tune.db'}")
    assert [t.number for t in study.trials] == list(range(8))
    with RunLog.open(None, runs) as log:
        assert len(log.list(where="kind=trial and study=s1")) == 8


def test_resuming_with_another_space_is_refused(tmp_path, corpus, space_file):
    train, val = corpus
    common = ["--space", space_file, "--train", train, "--val", val, "--study", "s2", "--runs-dir", tmp_path / "runs"]
    assert _invoke(*common, "--trials", "1").exit_code == 0
    result = _invoke(*common, "--trials", "1", "--set", "model.activation=relu")
    assert result.exit_code == 2
    assert "started with another search space" in result.stderr


def test_the_final_retrain_takes_its_epochs_from_the_inner_split(tmp_path, corpus, space_file):
    train, val = corpus
    runs = tmp_path / "runs"
    result = _invoke("--space", space_file, "--train", train, "--val", val, "--study", "es", "--runs-dir", runs,
                     "--out", tmp_path / "out", "--trials", "2", "--set", "train.early_stopping=true",
                     "--set", "train.patience=1", "--set", "train.epochs=30", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    study = optuna.load_study(study_name="es", storage=f"sqlite:///{runs / 'tune.db'}")
    chosen = study.best_trial.user_attrs["best_epoch"]
    # Early stopping in the final run would choose by the --val file: the inner split's choice is fixed instead.
    cfg = resolve_config(str(tmp_path / "out" / "best.toml"))
    assert cfg.train.early_stopping is False and cfg.train.epochs == chosen
    history = json.loads((Path(summary["final_run_dir"]) / "history.json").read_text())
    assert len(history) == chosen


def test_cli_exit_codes_for_bad_input(tmp_path, corpus):
    train, val = corpus
    bad = tmp_path / "bad.toml"
    bad.write_text('[params."train.lrr"]\nchoices = [0.1]\n', encoding="utf-8")
    result = _invoke("--space", bad, "--train", train, "--val", val, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "train.lrr" in result.stderr and "Traceback" not in result.output
    result = _invoke("--space", tmp_path / "missing.toml", "--train", train, "--val", val)
    assert result.exit_code == 2 and "no such space file" in result.stderr
    result = _invoke("--space", "seed-space", "--train", train, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "give --val" in result.stderr
    result = _invoke("--space", "seed-space", "--train", train, "--val", val, "--metric", "auc",
                     "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "--metric 'auc'" in result.stderr


def test_ctrl_c_finishes_the_running_trial_then_exits_130(tmp_path, corpus, space_file):
    train, val = corpus
    runs = tmp_path / "runs"
    # Every trial the same and slow enough to be caught running: nothing is pruned, each runs 80 epochs.
    command = [sys.executable, "-m", "tweetsent", "tune", "--space", str(space_file), "--train", str(train),
               "--val", str(val), "--study", "sig", "--runs-dir", str(runs), "--trials", "50",
               "--set", "train.epochs=80", "--set", "train.lr=0.05", "--set", "model.activation=relu"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if line.startswith("trial 1 of 50"):
            break
    time.sleep(0.3)  # the second trial is training now
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 130, rest
    assert rest.strip().splitlines()[-1].startswith("error: tune stopped by SIGINT;") and "Traceback" not in rest
    study = optuna.load_study(study_name="sig", storage=f"sqlite:///{runs / 'tune.db'}")
    assert 2 <= len(study.trials) < 50 and all(t.state.name == "COMPLETE" for t in study.trials)
    with RunLog.open(None, runs) as log:
        logged = log.list(where="study=sig")
        assert [r["status"] for r in logged] == ["finished"] * len(study.trials)
        assert all(len(log.get(r["id"])["history"]) == 80 for r in logged)  # the running trial was not cut


# -- workers on PostgreSQL ----------------------------------------------------------------------


@pytest.fixture
def pg_schemas():
    """Two private schemas in the test database: one for the study, one for the experiment log."""
    if not PG_URL:
        if os.environ.get("CI") == "true":
            pytest.fail("TWEETSENT_TEST_PG_URL is unset in CI; export it from `bash .ci/postgres.sh | tail -n1`")
        pytest.skip("PostgreSQL tune tests need TWEETSENT_TEST_PG_URL (see .ci/postgres.sh)")
    import sqlalchemy as sa

    names = [f"tune_{uuid.uuid4().hex[:10]}", f"log_{uuid.uuid4().hex[:10]}"]
    engine = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg2://", 1))
    with engine.begin() as conn:
        for name in names:
            conn.exec_driver_sql(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in PG_URL else "?"
    yield [f"{PG_URL}{sep}options=-csearch_path%3D{name}" for name in names]
    with engine.begin() as conn:
        for name in names:
            conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
    engine.dispose()


def test_workers_on_postgresql_share_one_study_without_losing_trials(tmp_path, corpus, space_file, pg_schemas):
    storage, log_url = pg_schemas
    train, val = corpus
    runs = tmp_path / "runs"
    common = ["--train", train, "--study", "shared", "--storage", storage, "--log-url", log_url, "--runs-dir", runs]
    # The first process makes the study (and retrains its best); two plain workers then join it.
    first = _invoke("--space", space_file, "--val", val, "--trials", "1", "--json", *common)
    assert first.exit_code == 0, first.output
    command = [sys.executable, "-m", "tweetsent", "tune", "--worker", "--trials", "6", *map(str, common)]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=240) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    study = optuna.load_study(study_name="shared", storage=storage.replace("postgresql://", "postgresql+psycopg2://", 1))
    numbers = [t.number for t in study.trials]
    assert len(numbers) >= 7 and sorted(numbers) == list(range(len(numbers)))
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials)
    with RunLog.open(log_url) as log:
        logged = log.list(where="kind=trial and study=shared")
    # Every stored trial is one logged run, none twice, none missing.
    assert sorted(r["name"] for r in logged) == sorted(f"shared-t{n}" for n in numbers)
    assert sorted(r["id"] for r in logged) == sorted(t.user_attrs["run_id"] for t in study.trials)
    assert len({r["pid"] for r in logged}) == 3  # the first process and both workers ran trials
