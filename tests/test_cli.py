"""The command line end to end on the tiny corpus: outputs, run directories, exit codes."""

import json
import os
import re
import signal
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from tweetsent.cli.main import app

runner = CliRunner()

METRIC_KEYS = {"accuracy", "precision_weighted", "recall_weighted", "f1_weighted", "precision_macro",
               "recall_macro", "f1_macro", "f1_micro", "loss", "per_class", "roc_auc_macro",
               "confusion_matrix", "run_dir"}


def _set(overrides):
    return [arg for o in overrides for arg in ("--set", o)]


def _train(tmp_path, corpus, tiny_overrides, *extra):
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--train", str(corpus[0]), "--val", str(corpus[1]), "--out", str(out),
                                 "--json", "--config", "seed-prelu", *_set(tiny_overrides), *extra])
    return result, out


def test_train_writes_a_complete_run_and_json(tmp_path, corpus, tiny_overrides):
    result, out = _train(tmp_path, corpus, tiny_overrides)
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(metrics) >= METRIC_KEYS and metrics["run_dir"] == str(out)
    assert metrics["accuracy"] >= 0.9
    for name in ("config.toml", "run.json", "history.json", "history.csv", "metrics.json", "predictions.csv", "figures/reliability.png",
                 "model/model.json", "model/model.safetensors", "figures/loss.png", "figures/f1.png",
                 "figures/roc.png", "figures/confusion.png"):
        assert (out / name).exists(), name
    assert len(json.loads((out / "history.json").read_text())) == 30
    assert json.loads((out / "metrics.json").read_text())["f1_macro"] == metrics["f1_macro"]
    assert 'hidden = [\n    16,\n    8,\n]' in (out / "config.toml").read_text() or "hidden = [16, 8]" in (out / "config.toml").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".incomplete")]


def test_evaluate_and_predict(tmp_path, corpus, tiny_overrides):
    _, out = _train(tmp_path, corpus, tiny_overrides)
    result = runner.invoke(app, ["evaluate", str(out), "--data", str(corpus[1]), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) ["accuracy"] == json.loads((out / "metrics.json").read_text())["accuracy"]
    human = runner.invoke(app, ["evaluate", str(out), "--data", str(corpus[1])])
    assert "f1_macro" in human.stdout and "per class" in human.stdout

    unlabelled = tmp_path / "new.csv"
    pd.read_csv(corpus[1])[["tweet"]].to_csv(unlabelled, index=False)
    result = runner.invoke(app, ["predict", str(out), "--data", str(unlabelled), "--out", str(tmp_path / "p.csv"),
                                 "--chunk-size", "5"])
    assert result.exit_code == 0, result.output
    pred = pd.read_csv(tmp_path / "p.csv")
    assert list(pred.columns) == ["text", "label", "p_0", "p_1", "p_2", "empty"] and len(pred) == 12
    assert not pred["empty"].any()
    assert (pred["label"] == pd.read_csv(corpus[1])["label"]).mean() >= 0.9

    stdin = runner.invoke(app, ["predict", str(out)], input="safe protect save lives\npoison autism toxic lies\n")
    assert stdin.exit_code == 0, stdin.output
    rows = pd.read_csv(pd.io.common.StringIO(stdin.stdout))
    assert rows["label"].tolist() == [2, 1]


@pytest.mark.parametrize("args, message", [
    (["train", "--train", "missing.csv"], "missing.csv: no such file"),
    (["train", "--train", "{train}", "--set", "train.bogus=1"], "unknown key train.bogus"),
    (["train", "--train", "{train}", "--config", "nope"], "unknown preset 'nope'"),
    (["train", "--train", "{train}", "--config", "seed-prelu", "--set", "features.embeddings=/no/such.txt"],
     "/no/such.txt: no such embeddings file"),
    (["evaluate", "{tmp}/no-run", "--data", "{val}"], "no-run: no such run directory"),
    (["evaluate", "{tmp}", "--data", "{val}"], "no model.json here"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, corpus, args, message):
    args = [a.format(train=corpus[0], val=corpus[1], tmp=tmp_path) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_wrong_embedding_dimension_for_a_saved_model(tmp_path, corpus, tiny_overrides, glove_file):
    _, out = _train(tmp_path, corpus, tiny_overrides)
    # Replace the embeddings file by one of another dimension: the model must refuse it.
    glove_file.write_text("the 0.1 0.2\nsafe 0.3 0.4\n")
    result = runner.invoke(app, ["evaluate", str(out), "--data", str(corpus[1])])
    assert result.exit_code == 2 and "dim 6" in result.stderr and "dim 2" in result.stderr


def test_ctrl_c_leaves_no_run_directory(tmp_path, corpus, tiny_overrides):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "tweetsent", "train", "--train", str(corpus[0]), "--val", str(corpus[1]),
           "--out", str(out), *_set(tiny_overrides), "--set", "train.epochs=100000"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    # Wait until training is under way, then interrupt it.
    for line in proc.stderr:
        if "epoch 3/" in line:
            break
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 130
    assert "training stopped by SIGINT" in rest and "Traceback" not in rest
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".incomplete")]
    # The partial run is in the experiment log, interrupted, with its finished epochs.
    run_id = rest.split("as run ")[1].split()[0]
    shown = runner.invoke(app, ["runs", "show", run_id, "--json"])
    record = json.loads(shown.stdout)
    assert record["status"] == "interrupted" and len(record["history"]) >= 3


def test_train_and_evaluate_are_logged(tmp_path, corpus, tiny_overrides):
    result, out = _train(tmp_path, corpus, tiny_overrides)
    run_id = json.loads(result.stdout)["run_id"]
    runner.invoke(app, ["evaluate", str(out), "--data", str(corpus[1])])
    listed = json.loads(runner.invoke(app, ["runs", "list", "--json"]).stdout)
    assert [r["kind"] for r in listed] == ["train", "evaluate"]
    record = json.loads(runner.invoke(app, ["runs", "show", run_id, "--json"]).stdout)
    assert record["status"] == "finished" and len(record["history"]) == 30
    assert record["metrics"]["f1_macro"] == json.loads((out / "metrics.json").read_text())["f1_macro"]
    assert record["overfit"] == json.loads((out / "run.json").read_text())["overfit"]["verdict"]


def test_help_lists_commands_and_imports_no_torch():
    result = subprocess.run([sys.executable, "-m", "tweetsent", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("train", "evaluate", "predict", "data", "backprop"):
        assert command in result.stdout
    # No torch at start-up: asserted by what is imported, not by a clock.
    probe = subprocess.run([sys.executable, "-c", "import sys, tweetsent.cli.main; print('torch' in sys.modules)"],
                           capture_output=True, text=True)
    assert probe.stdout.strip() == "False", probe.stderr


def test_version():
    from tweetsent.util.meta import package_version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"tweetsent {package_version()}\n"


def test_a_time_budget_that_cuts_the_schedule_says_so_everywhere(corpus, tmp_path):
    out = tmp_path / "run"
    # a budget of a microsecond: whatever the machine's speed, the second epoch does not fit
    result = runner.invoke(app, ["train", "--train", str(corpus[0]), "--val", str(corpus[1]), "--config", "seed-softmax",
                                 "--set", "train.epochs=3", "--set", "train.time_budget=0.000001", "--out", str(out),
                                 "--no-figures", "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "warning: train.time_budget = 1e-06 s cut the schedule" in result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    run = json.loads((out / "run.json").read_text())
    assert metrics["schedule"]["cut"] and metrics["schedule"]["done_steps"] < metrics["schedule"]["planned_steps"]
    assert run["schedule"] == metrics["schedule"] and run["epochs_run"] == 1
    report = tmp_path / "report.md"
    assert runner.invoke(app, ["report", str(out), "--out", str(report), "--format", "md"]).exit_code == 0
    assert "## Time budget" in report.read_text() and "cut the schedule" in report.read_text()
    logged = re.search(r"logged as (\w+)", result.stdout).group(1)
    shown = runner.invoke(app, ["runs", "show", logged, "--json", "--runs-dir", str(tmp_path / "runs")])
    assert json.loads(shown.stdout)["metrics"]["schedule"]["cut"] is True


def test_train_without_config_trains_the_default_preset(corpus, tmp_path):
    result = runner.invoke(app, ["train", "--train", str(corpus[0]), "--val", str(corpus[1]), "--json",
                                 "--no-figures", "--out", str(tmp_path / "run"), "--no-log"])
    assert result.exit_code == 0, result.output
    assert 'name = "tfidf-softmax"' in (tmp_path / "run" / "config.toml").read_text()
    listing = runner.invoke(app, ["presets"]).stdout
    assert "tfidf-softmax (default)" in listing


def test_train_and_evaluate_log_the_run_directory_absolute(tmp_path, corpus, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = ["--runs-dir", "runs"]
    trained = runner.invoke(app, ["train", "--train", str(corpus[0]), "--val", str(corpus[1]), "--config", "seed-softmax",
                                  "--set", "train.epochs=1", "--no-figures", "--out", "run", *runs])
    assert trained.exit_code == 0, trained.output
    assert runner.invoke(app, ["evaluate", "run", "--data", str(corpus[1]), *runs]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["runs", "list", "--json", *runs]).stdout)
    assert [(r["kind"], r["run_dir"]) for r in listed] == [("train", str(tmp_path / "run")),
                                                           ("evaluate", str(tmp_path / "run"))]


def test_runs_list_shows_the_name_column_once(tmp_path, corpus):
    runs = ["--runs-dir", str(tmp_path / "runs")]
    for preset in ("seed-softmax", "tfidf-softmax"):
        result = runner.invoke(app, ["train", "--train", str(corpus[0]), "--val", str(corpus[1]), "--config", preset,
                                     "--set", "train.epochs=1", "--no-figures", *runs])
        assert result.exit_code == 0, result.output
    header = runner.invoke(app, ["runs", "list", *runs]).stdout.splitlines()[0].split()
    assert header.count("name") == 1 and header[:4] == ["id", "★", "name", "status"]


def test_model_weights_have_the_permissions_of_every_other_run_file(tmp_path, corpus, tiny_overrides):
    _, out = _train(tmp_path, corpus, tiny_overrides)
    mode = (out / "config.toml").stat().st_mode
    assert (out / "model" / "model.safetensors").stat().st_mode == mode
    assert (out / "model" / "model.json").stat().st_mode == mode


def test_empty_tweets_dropped_by_the_config_are_counted(tmp_path, corpus):
    train = tmp_path / "with-empty.csv"
    frame = pd.read_csv(corpus[0], index_col=0)
    frame.loc[[3, 7], "tweet"] = ["", "   "]
    frame.to_csv(train)
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--train", str(train), "--val", str(corpus[1]), "--config", "seed-softmax",
                                 "--set", "train.epochs=1", "--set", "data.empty=drop", "--no-figures",
                                 "--out", str(out), "--no-log"])
    assert result.exit_code == 0, result.output
    assert f"left out 2 empty tweets of {train} (data.empty = drop)\n" in result.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["dropped_empty"] == {"train": 2, "val": 0} and run["data"]["n_train"] == 28


def test_changed_word_vectors_name_both_fingerprints_in_full(tmp_path, corpus, tiny_overrides, glove_file):
    _, out = _train(tmp_path, corpus, tiny_overrides)
    was = json.loads((out / "model" / "model.json").read_text())["features"]["embeddings"]["fingerprint"]
    # same words and dimension, one value changed: only the fingerprint tells them apart
    lines = glove_file.read_text().splitlines()
    word, *values = lines[0].split(" ")
    lines[0] = " ".join([word, "9.99999", *values[1:]])
    glove_file.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["evaluate", str(out), "--data", str(corpus[1]), "--no-log"])
    assert result.exit_code == 2
    found = re.findall(r"sha256 ([0-9a-f]{64})", result.stderr)
    assert len(found) == 2 and found[0] == was and found[1] != was, result.stderr
