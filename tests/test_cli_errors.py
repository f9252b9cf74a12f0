"""One error path for every command: a missing input or an unwritable output is one `error:` line, exit 2.

The commands are enumerated from the typer app, so a command added later fails
`test_every_command_*` until its cases are written into CASES below. Interruptions: Ctrl-C
exits 130, SIGTERM 143; ``TWEETSENT_DEBUG=1`` shows the traceback instead of the one line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import typer
from typer.testing import CliRunner

from conftest import tiny_runs
from tweetsent.cli.exits import outcome
from tweetsent.cli.main import app
from tweetsent.data import download
from tweetsent.models.classifier import TweetClassifier
from tweetsent.util.files import sha256_file

runner = CliRunner()
FAST = ["--config", "seed-softmax", "--set", "train.epochs=1", "--no-figures"]


def _command_paths(group=None, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every runnable command of the app, as the words that name it (``("runs", "list")``)."""
    group = group if group is not None else typer.main.get_command(app)
    paths = []
    for name, command in sorted(group.commands.items()):
        if getattr(command, "commands", None) is not None:
            paths += _command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


# Per command: (args with a missing input, args with an output beneath a regular file), or, where a
# command has no such path, the reason. Placeholders: {tmp} a fresh folder, {blocker} a regular
# file (an output beneath it fails with NotADirectoryError even for root, whom chmod does not stop),
# {train}/{val} the tiny corpus, {run}/{run2} trained runs, {glove} a tiny GloVe file, {source} a
# folder holding the tiny data set "tiny". A missing input is always named "missing...".
RUNS_DIR_UNWRITABLE = ["--runs-dir", "{blocker}/runs"]  # the log (runs.db) is created there
CASES: dict[tuple[str, ...], tuple[list[str] | str, list[str] | str]] = {
    ("train",): (["train", "--train", "{tmp}/missing.csv", "--val", "{val}", *FAST],
                 ["train", "--train", "{train}", "--val", "{val}", "--out", "{blocker}/run", *FAST]),
    ("evaluate",): (["evaluate", "{run}", "--data", "{tmp}/missing.csv"],
                    ["evaluate", "{run}", "--data", "{val}", "--predictions", "{blocker}/p.csv"]),
    ("predict",): (["predict", "{run}", "--data", "{tmp}/missing.csv"],
                   ["predict", "{run}", "--data", "{val}", "--out", "{blocker}/p.csv"]),
    ("learning-curve",): (
        ["learning-curve", "--train", "{tmp}/missing.csv", "--val", "{val}", "--out", "{tmp}/lc", "--fractions", "1",
         *FAST[:4]],
        ["learning-curve", "--train", "{train}", "--val", "{val}", "--out", "{blocker}/lc", "--fractions", "1",
         *FAST[:4]]),
    ("reproduce-study",): (["reproduce-study", "--train", "{tmp}/missing.csv", "--val", "{val}", "--out", "{tmp}/s"],
                           ["reproduce-study", "--train", "{train}", "--val", "{val}", "--out", "{blocker}/s"]),
    ("presets",): (["presets", "{tmp}/missing.toml"],
                   "prints a preset on stdout; it writes no file"),
    ("data", "get"): (["data", "get", "tiny", "--dest", "{tmp}/d", "--from", "{tmp}/missing-folder"],
                      ["data", "get", "tiny", "--dest", "{blocker}/d", "--from", "{source}"]),
    ("data", "embeddings"): (["data", "embeddings", "{tmp}/missing.txt"],
                             # the converted vectors go to the cache, $TWEETSENT_CACHE
                             ["data", "embeddings", "{glove}", "--env", "TWEETSENT_CACHE={blocker}/cache"]),
    ("data", "inspect"): (["data", "inspect", "{tmp}/missing.csv"],
                          ["data", "inspect", "{val}", "--set", "features.embeddings={glove}",
                           "--env", "TWEETSENT_CACHE={blocker}/cache"]),
    # The log is created when missing, so a `runs` command's missing input is a run that is not in it.
    ("runs", "list"): ("reads the experiment log, which is created when missing: it has no input to miss",
                       ["runs", "list", *RUNS_DIR_UNWRITABLE]),
    ("runs", "show"): (["runs", "show", "missing-run"], ["runs", "show", "abc", *RUNS_DIR_UNWRITABLE]),
    ("runs", "diff"): (["runs", "diff", "missing-a", "missing-b"], ["runs", "diff", "a", "b", *RUNS_DIR_UNWRITABLE]),
    ("runs", "star"): (["runs", "star", "missing-run"], ["runs", "star", "abc", *RUNS_DIR_UNWRITABLE]),
    ("runs", "unstar"): (["runs", "unstar", "missing-run"], ["runs", "unstar", "abc", *RUNS_DIR_UNWRITABLE]),
    ("runs", "note"): (["runs", "note", "missing-run", "hi"], ["runs", "note", "abc", "hi", *RUNS_DIR_UNWRITABLE]),
    ("runs", "rm"): (["runs", "rm", "missing-run", "--yes"], ["runs", "rm", "abc", "--yes", *RUNS_DIR_UNWRITABLE]),
    ("runs", "clean"): (["runs", "clean", "--yes", "--runs-dir", "{tmp}/missing-runs"],
                        "removes unfinished run folders; it writes no file"),
    ("runs", "export"): ("reads the experiment log, which is created when missing: it has no input to miss",
                         ["runs", "export", "--csv", "{blocker}/runs.csv"]),
    ("compare",): (["compare", "{run}", "{tmp}/missing-run"],
                   ["compare", "{run}", "{run2}", "--report", "{blocker}/c.html", "--resamples", "20"]),
    ("report",): (["report", "{tmp}/missing-run", "--out", "{tmp}/r.html"],
                  ["report", "{run}", "--out", "{blocker}/r.html", "--resamples", "20"]),
    ("ensemble",): (["ensemble", "{run}", "{tmp}/missing-run", "--out", "{tmp}/e"],
                    ["ensemble", "{run}", "{run2}", "--out", "{blocker}/e"]),
    ("tune",): (["tune", "--space", "seed-space", "--train", "{tmp}/missing.csv", "--val", "{val}", "--trials", "1"],
                ["tune", "--space", "seed-space", "--train", "{train}", "--val", "{val}", "--trials", "1",
                 "--out", "{blocker}/t"]),
    ("backprop",): ("its input is an expression on the command line, not a file",
                    ["backprop", "--dot", "{blocker}/g.dot"]),
    ("explain",): (["explain", "{run}", "--data", "{tmp}/missing.csv"],
                   "prints its explanations on stdout; it writes no file"),
    ("serve",): (["serve", "{tmp}/missing-run"],
                 "answers over HTTP; it writes no file"),
    ("export",): (["export", "{tmp}/missing-run"],
                  "writes beside the run's own weights, inside the run directory it reads: no output path to give"),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two one-epoch softmax runs on the tiny corpus (trained once for the whole module)."""
    made = tiny_runs(tmp_path_factory.mktemp("trained"), seeds=(0, 1))
    return {"train": made["train"], "val": made["val"], "run": made["runs"][0], "run2": made["runs"][1]}


@pytest.fixture
def places(tmp_path, trained, glove_file, monkeypatch) -> dict:
    """The placeholders of CASES; registers the two-file data set "tiny" held in {source}."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "tiny.csv").write_text("tweet,label\nhello,0\n", encoding="utf-8")
    monkeypatch.setitem(download.DATASETS, "tiny", {"files": {"tiny.csv": sha256_file(source / "tiny.csv")},
                                                     "base_url": "https://example.invalid/", "labels": {}})
    blocker = tmp_path / "blocker.txt"
    blocker.write_text("a regular file\n", encoding="utf-8")
    return {**trained, "tmp": tmp_path, "blocker": blocker, "glove": glove_file, "source": source}


def _invoke(args: list[str], places: dict):
    args = [a.format(**places) for a in args]
    env = {}
    while "--env" in args:  # not a CLI option: an environment variable for this invocation
        i = args.index("--env")
        key, _, value = args[i + 1].partition("=")
        env[key] = value
        del args[i:i + 2]
    return runner.invoke(app, args, env=env)


def _assert_one_error_line(result, names: str) -> str:
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert names in lines[0], lines[0]  # the message names the file (or run) at fault
    return lines[0]


COMMANDS = _command_paths()


def test_the_case_table_matches_the_app():
    stale = set(CASES) - set(COMMANDS)
    assert not stale, f"CASES names commands the app no longer has: {sorted(stale)}"


def _case(command: tuple[str, ...], which: int):
    if command not in CASES:
        pytest.fail(f"`tweetsent {' '.join(command)}` has no error cases: add them to CASES in {__file__}")
    case = CASES[command][which]
    if isinstance(case, str):
        pytest.skip(f"`tweetsent {' '.join(command)}`: not applicable, {case}")
    return case


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_missing_input_is_one_line(command, places):
    result = _invoke(_case(command, 0), places)
    _assert_one_error_line(result, "missing")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_unwritable_output_is_one_line_before_any_training(command, places, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("training started although the output cannot be written")

    monkeypatch.setattr(TweetClassifier, "fit", no_training)
    result = _invoke(_case(command, 1), places)
    _assert_one_error_line(result, "blocker.txt")


def test_every_command_has_the_one_error_path():
    group = typer.main.get_command(app)
    for path in COMMANDS:
        command = group
        for word in path:
            command = command.commands[word]
        assert getattr(command.callback, "handles_errors", False), f"`tweetsent {' '.join(path)}` is not wrapped"


def test_train_refuses_an_out_beneath_a_file_naming_it(places):
    result = _invoke(["train", "--train", "{train}", "--out", "{train}/x", *FAST], places)
    line = _assert_one_error_line(result, str(places["train"]))
    assert "is a file, not a folder" in line and "--out" in line


def test_an_output_that_is_a_folder_is_one_line(places):
    result = _invoke(["predict", "{run}", "--data", "{val}", "--out", "{tmp}"], places)
    _assert_one_error_line(result, str(places["tmp"]))


# -- interruptions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, target, words", [
    (["presets"], "tweetsent.config.resolve.preset_names", "interrupted"),
    (["runs", "list"], "tweetsent.runlog.log.RunLog.open", "interrupted"),
    (["compare", "a", "b"], "tweetsent.evaluation.compare.load_run_summary", "interrupted"),
    (["ensemble", "a", "b", "--out", "e"], "tweetsent.runs.ensemble.build_ensemble_run", "interrupted"),
    (["tune", "--space", "seed-space", "--train", "t.csv"], "tweetsent.tune.study.run_tune", "rerun the same command"),
    (["backprop"], "tweetsent.backprop.lesson.study_graph", "interrupted"),
], ids=lambda v: v[0] if isinstance(v, list) else None)
def test_ctrl_c_exits_130_in_one_line(args, target, words, monkeypatch):
    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(target, interrupt)
    result = runner.invoke(app, args)
    assert result.exit_code == 130, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and words in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("signal_name, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_training_stopped_by_a_signal_keeps_its_exit_code_and_message(signal_name, code):
    from tweetsent.errors import TweetsentError
    from tweetsent.training.loop import TrainingInterrupted

    stopped = TrainingInterrupted([{"epoch": 1}, {"epoch": 2}], signal_name)
    message = f"training stopped by {signal_name}; no run directory was written; 2 epoch(s) were finished"
    assert outcome(stopped) == (code, message)
    stopped.run_id = "abc123"
    assert outcome(stopped)[1].endswith("as run abc123 (tweetsent runs show abc123)")
    # Any error that says which signal stopped it (a search, say) exits by that signal.
    error = TweetsentError("tune stopped by SIGTERM")
    error.signal_name = signal_name
    assert outcome(error) == (code, "tune stopped by SIGTERM")


def test_os_errors_name_the_path_and_the_fix(tmp_path):
    blocker = tmp_path / "a.csv"
    blocker.write_text("x")
    with pytest.raises(OSError) as beneath:
        (blocker / "x.csv").write_text("y")
    message = f"{blocker / 'x.csv'}: {blocker} is a file, not a folder, so nothing can be written beneath it"
    assert outcome(beneath.value) == (2, f"{message}; choose another path")
    with pytest.raises(OSError) as folder:
        tmp_path.write_text("y")
    assert outcome(folder.value)[1].startswith(f"{tmp_path}: this is a folder")
    full = OSError(28, "No space left on device", str(tmp_path / "big.csv"))
    assert outcome(full) == (2, f"{tmp_path / 'big.csv'}: no space left on the device; free some space or write elsewhere")


def test_tweetsent_debug_shows_the_traceback(tmp_path):
    missing = tmp_path / "missing.csv"
    env = {**os.environ, "TWEETSENT_DEBUG": "1"}
    shown = subprocess.run([sys.executable, "-m", "tweetsent", "data", "inspect", str(missing)],
                           capture_output=True, text=True, env=env, check=False)
    assert shown.returncode == 1 and "Traceback" in shown.stderr and "DataError" in shown.stderr
    env["TWEETSENT_DEBUG"] = ""
    quiet = subprocess.run([sys.executable, "-m", "tweetsent", "data", "inspect", str(missing)],
                           capture_output=True, text=True, env=env, check=False)
    assert quiet.returncode == 2 and quiet.stderr.startswith("error: ") and quiet.stderr.count("\n") == 1


def test_an_unexpected_error_is_one_line_exit_1(monkeypatch):
    def bug(*a, **k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("tweetsent.config.resolve.preset_names", bug)
    result = runner.invoke(app, ["presets"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.count("\n") == 1 and "ZeroDivisionError" in result.stderr and "TWEETSENT_DEBUG=1" in result.stderr


def test_sigterm_exits_143(trained):
    command = [sys.executable, "-m", "tweetsent", "predict", str(trained["run"]), "--chunk-size", "1"]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    # One tweet in, its row out: the command is running and now waits on stdin for more.
    proc.stdin.write(b"safe protect save lives\n")
    proc.stdin.flush()
    assert proc.stdout.readline().startswith(b'"text"')
    assert proc.stdout.readline().startswith(b'"safe protect save lives"')
    proc.send_signal(signal.SIGTERM)
    code = proc.wait()
    stderr = proc.stderr.read().decode()
    proc.stdin.close()
    assert code == 143, stderr
    assert stderr == "error: terminated (SIGTERM)\n"


def test_sigterm_during_predict_to_a_file_leaves_no_temporary_file(trained, tmp_path):
    out = tmp_path / "out" / "p.csv"
    command = [sys.executable, "-m", "tweetsent", "predict", str(trained["run"]), "--out", str(out)]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(b"safe protect save lives\n")
    proc.stdin.flush()
    # The output is written through a temporary file beside it: wait until it exists (the command runs).
    while not list(out.parent.glob(".p.csv.*")) and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    code = proc.wait()
    stderr = proc.stderr.read().decode()
    proc.stdin.close()
    assert code == 143 and stderr == "error: terminated (SIGTERM)\n", stderr
    assert list(out.parent.iterdir()) == []
