"""Run directories never collide and are never overwritten (issue 14, section 1).

Parallel trainings of the same config and seed used to take the same one-second name and replace
each other's directory; a folder that appeared at ``--out`` during training was deleted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tweetsent.cli.main import app
from tweetsent.config.resolve import resolve_config
from tweetsent.errors import DataError
from tweetsent.runlog.log import RunLog
from tweetsent.runs.workflow import train_run
from tweetsent.training.loop import Callback

runner = CliRunner()
N_PARALLEL = 6

# `python -m tweetsent` with every default run name frozen to the same second: whatever the
# machine's speed, all the runs want one name at once, which is the worst case of the race.
SAME_SECOND = ("import runpy, sys; import tweetsent.runs.workflow as w; "
               "w._run_name = lambda cfg: '20260101-000000-' + (cfg.name or 'run') + '-s' + str(cfg.train.seed); "
               "runpy.run_module('tweetsent', run_name='__main__', alter_sys=True)")


def _train_args(corpus, *extra) -> list[str]:
    return ["train", "--train", str(corpus[0]), "--val", str(corpus[1]), "--config", "seed-softmax",
            "--set", "train.epochs=2", "--set", "features.n_features=1024", "--no-figures", *extra]


def test_parallel_trainings_of_one_config_and_seed_each_keep_their_own_directory(tmp_path, corpus):
    runs = tmp_path / "shared-runs"
    args = _train_args(corpus, "--runs-dir", str(runs), "--json", "--quiet")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", SAME_SECOND, *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
             for _ in range(N_PARALLEL)]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    for proc, (_, stderr) in zip(procs, outputs):
        assert proc.returncode == 0 and "Traceback" not in stderr, stderr
    printed = [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]

    dirs = [Path(p["run_dir"]) for p in printed]
    assert len(set(dirs)) == N_PARALLEL
    assert all(d.parent == runs and d.name.startswith("20260101-000000-seed-softmax-s0") for d in dirs)
    with RunLog.open(runs_dir=runs) as log:
        rows = {row["id"]: row for row in log.list()}
    assert len(rows) == N_PARALLEL and {r["status"] for r in rows.values()} == {"finished"}
    for result, run_dir in zip(printed, dirs):
        info = json.loads((run_dir / "run.json").read_text())  # its own run.json, not another's
        assert info["run_id"] == result["run_id"]
        assert rows[result["run_id"]]["run_dir"] == os.path.abspath(run_dir)
        assert json.loads((run_dir / "metrics.json").read_text())["f1_macro"] == result["f1_macro"]
    assert sorted(p.name for p in runs.iterdir() if p.is_dir()) == sorted(d.name for d in dirs)  # no leftovers


class _CreateAtOut(Callback):
    """After the first epoch, someone puts a file into the --out folder."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def on_epoch_end(self, record: dict, model) -> None:
        if record["epoch"] == 1:
            self.out.mkdir()
            (self.out / "precious.txt").write_text("mine")


def _assert_precious_kept_and_run_beside(out: Path) -> Path:
    assert [p.name for p in out.iterdir()] == ["precious.txt"] and (out / "precious.txt").read_text() == "mine"
    (kept,) = [p for p in out.parent.iterdir() if p.name.startswith(f"{out.name}-")]
    assert (kept / "run.json").exists() and (kept / "model" / "model.safetensors").exists()
    assert not list(out.parent.glob(".incomplete-*"))
    return kept


def test_a_folder_that_appears_at_out_during_training_survives(tmp_path, corpus):
    out = tmp_path / "out"
    cfg = resolve_config("seed-softmax", ["train.epochs=2", "features.n_features=1024"])
    with RunLog.open(runs_dir=tmp_path / "runs") as log:
        with pytest.raises(DataError) as error:
            train_run(cfg, corpus[0], corpus[1], out=out, figures=False, log=log, callbacks=[_CreateAtOut(out)])
        kept = _assert_precious_kept_and_run_beside(out)
        message = str(error.value)
        assert f"--out {out}: a folder appeared there during training" in message and str(kept) in message
        (row,) = log.list()
    assert row["status"] == "finished" and row["run_dir"] == str(kept)
    assert row["id"] == json.loads((kept / "run.json").read_text())["run_id"] and row["id"] in message


def test_the_command_line_says_where_the_run_was_kept(tmp_path, corpus, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr("tweetsent.training.progress.EpochProgress.on_epoch_end",
                        lambda self, record, model: _CreateAtOut(out).on_epoch_end(record, model))
    result = runner.invoke(app, _train_args(corpus, "--out", str(out), "--runs-dir", str(tmp_path / "runs")))
    assert result.exit_code == 2 and "Traceback" not in result.output
    kept = _assert_precious_kept_and_run_beside(out)
    assert result.stderr.startswith(f"error: --out {out}: a folder appeared there during training")
    assert result.stderr.count("\n") == 1 and f"kept as {kept}" in result.stderr


def test_a_taken_default_name_gets_a_suffix_before_training(tmp_path, corpus, monkeypatch):
    monkeypatch.setattr("tweetsent.runs.workflow._run_name", lambda cfg: "same-name")
    cfg = resolve_config("seed-softmax", ["train.epochs=1", "features.n_features=1024"])
    first = train_run(cfg, corpus[0], corpus[1], runs_dir=tmp_path, figures=False).run_dir
    second = train_run(cfg, corpus[0], corpus[1], runs_dir=tmp_path, figures=False).run_dir
    assert first == tmp_path / "same-name" and second.name.startswith("same-name-") and second != first
    assert (first / "run.json").exists() and (second / "run.json").exists()
