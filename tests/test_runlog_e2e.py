"""The experiment log end to end: ten real trainings, two at a time, into SQLite and PostgreSQL."""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from typer.testing import CliRunner

from test_runlog import log_url  # noqa: F401  (the sqlite / postgresql log fixture)
from tweetsent.cli.main import app

pytestmark = pytest.mark.slow

CONFIGS = [[f"train.lr={lr}", f"model.activation={act}"]
           for lr in ("0.01", "0.003") for act in ("relu", "tanh", "prelu", "celu", "selu")]


def _train(i, corpus, overrides, tmp_path, url):
    cmd = [sys.executable, "-m", "tweetsent", "train", "--train", str(corpus[0]), "--val", str(corpus[1]),
           "--out", str(tmp_path / f"run{i}"), "--log-url", url, "--json", "--quiet", "--no-figures"]
    cmd += [a for o in (*overrides, "train.epochs=8", "model.hidden=[8]") for a in ("--set", o)]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TWEETSENT_LOG_URL": url})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_ten_parallel_trainings_are_all_logged(tmp_path, corpus, tiny_overrides, log_url):  # noqa: F811
    base = [o for o in tiny_overrides if not o.startswith(("train.epochs", "model.hidden"))]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda ic: _train(ic[0], corpus, [*base, *ic[1]], tmp_path, log_url),
                                enumerate(CONFIGS)))
    runner = CliRunner()
    listed = json.loads(runner.invoke(app, ["runs", "list", "--log-url", log_url, "--sort", "-f1_macro", "--json"]).stdout)
    assert len(listed) == 10 and all(r["status"] == "finished" for r in listed)
    f1s = [r["metrics"]["f1_macro"] for r in listed]
    assert f1s == sorted(f1s, reverse=True)
    by_id = {r["run_id"]: r for r in results}
    for row in listed:
        assert row["metrics"]["f1_macro"] == by_id[row["id"]]["f1_macro"]  # each run's own metrics
        assert row["metrics"]["accuracy"] == by_id[row["id"]]["accuracy"]
    a, b = results[0]["run_id"], results[1]["run_id"]  # relu vs tanh at the same lr
    diff = json.loads(runner.invoke(app, ["runs", "diff", a, b, "--log-url", log_url, "--json"]).stdout)
    assert list(diff["config"]) == ["model.activation"], diff["config"]
    assert diff["metrics"]["f1_macro"]["b"] == by_id[b]["f1_macro"], diff["metrics"]
    assert runner.invoke(app, ["runs", "star", listed[0]["id"], "--log-url", log_url]).exit_code == 0
    xlsx = tmp_path / "runs.xlsx"
    assert runner.invoke(app, ["runs", "export", "--xlsx", str(xlsx), "--log-url", log_url]).exit_code == 0

    import openpyxl
    import pandas as pd

    assert len(pd.read_excel(xlsx, sheet_name="runs")) == 10
    sheet = openpyxl.load_workbook(xlsx)["runs"]
    header = [c.value for c in sheet[1]]
    id_col = header.index("id")
    filled = {row[id_col].value for row in sheet.iter_rows(min_row=2)
              if row[id_col].fill is not None and row[id_col].fill.fgColor.rgb not in (None, "00000000")}
    assert filled == {listed[0]["id"]}
