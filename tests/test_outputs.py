"""Outputs never destroy what they do not own, and leftovers of killed runs can be found and cleaned.

- ``--out`` that is a device or FIFO is written through, a symbolic link is written through to its
  target, a folder or the input file is refused in one line, an existing regular file is replaced;
- ``predict`` writes one row per input row and marks empty tweets instead of guessing;
- ``.incomplete-*`` folders record their process: ``runs list`` counts those whose process is gone
  and ``runs clean`` removes them, keeping the others;
- a SIGTERM during ``predict`` leaves no temporary file (tests/test_cli_errors.py covers the signal).
"""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import tiny_runs
from tweetsent.cli.main import app
from tweetsent.runs.outputs import remove_unfinished, run_owner, unfinished_runs
from tweetsent.util.files import OWNER_FILE, DestinationTaken, atomic_dir, atomic_path, read_owner

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch softmax run on the tiny corpus (trained once for the module), and its data."""
    made = tiny_runs(tmp_path_factory.mktemp("trained"))
    return {"train": made["train"], "val": made["val"], "run": made["runs"][0]}


@pytest.fixture
def tweets(tmp_path, trained) -> Path:
    """An unlabelled CSV of the 12 validation tweets."""
    path = tmp_path / "new.csv"
    pd.read_csv(trained["val"])[["tweet"]].to_csv(path, index=False)
    return path


def _predict(trained, data, out, *extra):
    return runner.invoke(app, ["predict", str(trained["run"]), "--data", str(data), "--out", str(out), *extra])


def _one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# -- where outputs go ---------------------------------------------------------------------------------


def _private_null(folder: Path) -> Path | None:
    """A character device like /dev/null inside ``folder`` (root can make one), or None."""
    node = folder / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, AttributeError, OSError):
        return None
    return node


def test_a_device_is_written_through_never_replaced(tmp_path, trained, tweets):
    # The old code replaced the output with a regular file, which as root turns /dev/null into one:
    # so prove the fix on a private device first, and touch /dev/null only once it held.
    node = _private_null(tmp_path)
    if node is None and os.geteuid() == 0:
        pytest.skip("cannot make a private device node to check this safely as root")
    for device in ([node] if node else []) + [Path(os.devnull)]:
        result = _predict(trained, tweets, device)
        assert result.exit_code == 0, result.output
        assert stat.S_ISCHR(os.stat(device).st_mode), f"{device} is no longer a device"
        assert "12 tweets labelled" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["new.csv"] + (["null"] if node else []))


def test_a_fifo_is_written_through(tmp_path, trained, tweets):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = _predict(trained, tweets, fifo)
    reader.join(timeout=60)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    rows = pd.read_csv(io.BytesIO(received[0]))
    assert len(rows) == 12 and list(rows.columns)[:2] == ["text", "label"]


def test_a_symlink_is_written_through_to_its_target(tmp_path, trained, tweets):
    target = tmp_path / "real" / "predictions.csv"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    result = _predict(trained, tweets, link)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert len(pd.read_csv(target)) == 12
    assert sorted(p.name for p in target.parent.iterdir()) == ["predictions.csv"]  # no temporary file left


def test_an_existing_file_is_replaced_keeping_its_permissions(tmp_path, trained, tweets):
    out = tmp_path / "p.csv"
    out.write_text("yesterday's predictions\n")
    out.chmod(0o640)
    result = _predict(trained, tweets, out)
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 12 and stat.S_IMODE(out.stat().st_mode) == 0o640


def test_an_output_that_is_a_folder_is_refused_in_one_line(tmp_path, trained, tweets):
    folder = tmp_path / "folder"
    folder.mkdir()
    line = _one_error_line(_predict(trained, tweets, folder))
    assert f"--out {folder}: this is a folder" in line
    line = _one_error_line(runner.invoke(app, ["evaluate", str(trained["run"]), "--data", str(trained["val"]),
                                               "--predictions", str(folder)]))
    assert f"--predictions {folder}: this is a folder" in line
    assert list(folder.iterdir()) == []
    with pytest.raises(IsADirectoryError), atomic_path(folder):
        pytest.fail("the block must not run for a folder")


@pytest.mark.parametrize("alias", ["same", "dot", "symlink", "hardlink"])
def test_the_input_file_is_never_the_output(tmp_path, trained, tweets, alias):
    before = tweets.read_bytes()
    out = {"same": lambda: tweets, "dot": lambda: tmp_path / "." / tweets.name,
           "symlink": lambda: (tmp_path / "alias.csv").symlink_to(tweets) or tmp_path / "alias.csv",
           "hardlink": lambda: os.link(tweets, tmp_path / "alias.csv") or tmp_path / "alias.csv"}[alias]()
    line = _one_error_line(_predict(trained, tweets, out))
    assert f"--out {out} is the input file {tweets}" in line
    assert tweets.read_bytes() == before


def test_evaluate_predictions_refuse_the_input_file(trained):
    before = trained["val"].read_bytes()
    result = runner.invoke(app, ["evaluate", str(trained["run"]), "--data", str(trained["val"]),
                                 "--predictions", str(trained["val"]), "--no-log"])
    assert "is the input file" in _one_error_line(result)
    assert trained["val"].read_bytes() == before


def test_runs_export_refuses_to_overwrite_the_log(tmp_path):
    runs = tmp_path / "runs"
    assert runner.invoke(app, ["runs", "list", "--runs-dir", str(runs)]).exit_code == 0  # creates runs.db
    before = (runs / "runs.db").read_bytes()
    result = runner.invoke(app, ["runs", "export", "--csv", str(runs / "runs.db"), "--runs-dir", str(runs)])
    assert "is the input file" in _one_error_line(result)
    assert (runs / "runs.db").read_bytes() == before


# -- one row per input row ----------------------------------------------------------------------------


def _rows(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), keep_default_na=False, dtype=str)


def test_predict_marks_an_empty_cell_instead_of_guessing(tmp_path, trained):
    data = tmp_path / "mixed.csv"
    data.write_text('id,tweet\n1,safe protect save lives\n2,\n3,"   "\n4,poison autism toxic lies\n')
    out = tmp_path / "p.csv"
    result = _predict(trained, data, out)
    assert result.exit_code == 0, result.output
    rows = _rows(out.read_text())
    assert list(rows.columns) == ["text", "label", "p_0", "p_1", "p_2", "empty"]
    assert rows["text"].tolist() == ["safe protect save lives", "", "   ", "poison autism toxic lies"]
    assert rows["empty"].tolist() == ["false", "true", "true", "false"]
    for column in ("label", "p_0", "p_1", "p_2"):
        assert rows[column].tolist()[1:3] == ["", ""], column  # not guessed
        assert "" not in (rows[column].tolist()[0], rows[column].tolist()[3])


def test_predict_keeps_a_blank_line_of_a_one_column_csv(tmp_path, trained):
    # Needs tweetsent.data.tables.iter_text_chunks to yield every row (a blank line is an empty cell).
    data = tmp_path / "one-column.csv"
    data.write_text("tweet\nsafe protect save lives\n\npoison autism toxic lies\n")
    result = _predict(trained, data, tmp_path / "p.csv")
    assert result.exit_code == 0, result.output
    rows = _rows((tmp_path / "p.csv").read_text())
    assert rows["empty"].tolist() == ["false", "true", "false"] and rows["label"].tolist()[1] == ""


def test_predict_from_stdin_keeps_blank_lines_and_strips_crlf(trained):
    # Needs tweetsent.data.tables.iter_text_chunks to strip the "\r" of CRLF lines.
    result = runner.invoke(app, ["predict", str(trained["run"])],
                           input="safe protect save lives\r\n\r\npoison autism toxic lies\r\n")
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    assert rows["text"].tolist() == ["safe protect save lives", "", "poison autism toxic lies"]
    assert rows["empty"].tolist() == ["false", "true", "false"]
    assert rows["label"].tolist()[1] == "" and rows["label"].tolist()[0] != ""


def test_predict_help_documents_the_output():
    result = runner.invoke(app, ["predict", "--help"], env={"COLUMNS": "300"})
    assert "empty=true" in result.stdout and "replaced" in result.stdout


# -- unfinished folders -------------------------------------------------------------------------------

KILLED_WHILE_WRITING = """
import os, signal, sys
from tweetsent.runs.outputs import run_owner
from tweetsent.util.files import atomic_dir
with atomic_dir(sys.argv[1], owner=run_owner()) as tmp:
    (tmp / "run.json").write_text("{}")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_run(runs: Path, name: str) -> Path:
    """The .incomplete-* folder that a process SIGKILLed during its final write leaves."""
    done = subprocess.run([sys.executable, "-c", KILLED_WHILE_WRITING, str(runs / name)], check=False)
    assert done.returncode == -signal.SIGKILL
    (left,) = [p for p in runs.glob(f".incomplete-{name}-*")]
    return left


def test_an_unfinished_folder_records_its_process(tmp_path):
    with atomic_dir(tmp_path / "run", owner=run_owner()) as tmp:
        owner = read_owner(tmp)
        assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
        assert owner["proc_start"] == run_owner()["proc_start"]
    assert not (tmp_path / "run" / OWNER_FILE).exists()  # a finished folder does not carry it


def test_runs_list_counts_and_runs_clean_removes_folders_of_killed_processes(tmp_path):
    runs = tmp_path / "runs"
    killed = [_killed_run(runs, "a"), _killed_run(runs, "b")]
    alive = runs / ".incomplete-c-live"  # this process, still running
    alive.mkdir()
    (alive / OWNER_FILE).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), **run_owner()}))
    elsewhere = runs / ".incomplete-d-remote"
    elsewhere.mkdir()
    (elsewhere / OWNER_FILE).write_text(json.dumps({"pid": 1, "host": "another-host"}))
    unknown = runs / ".incomplete-e-old"  # from a tweetsent that wrote no owner file
    unknown.mkdir()

    listed = runner.invoke(app, ["runs", "list", "--runs-dir", str(runs)])
    assert listed.exit_code == 0, listed.output
    assert listed.stderr == (f"2 unfinished run folders in {runs} (from killed processes); "
                             f"`tweetsent runs clean` removes them\n")
    refused = runner.invoke(app, ["runs", "clean", "--runs-dir", str(runs)])  # no terminal to ask on
    assert refused.exit_code == 2 and all(p.exists() for p in killed)

    cleaned = runner.invoke(app, ["runs", "clean", "--yes", "--runs-dir", str(runs)])
    assert cleaned.exit_code == 0, cleaned.output
    assert not any(p.exists() for p in killed) and alive.exists() and elsewhere.exists() and unknown.exists()
    assert sorted(cleaned.stdout.splitlines()) == sorted(f"removed {p}" for p in killed)
    assert f"kept {alive}: process {os.getpid()} is still writing it" in cleaned.stderr
    assert f"kept {elsewhere}: made by process 1 on host another-host" in cleaned.stderr
    assert f"kept {unknown}: it records no process" in cleaned.stderr
    assert runner.invoke(app, ["runs", "list", "--runs-dir", str(runs)]).stderr == ""


def test_clean_judges_again_before_removing(tmp_path):
    runs = tmp_path / "runs"
    killed = _killed_run(runs, "a")
    (item,) = unfinished_runs(runs)
    assert item.removable and "has ended" in item.reason
    (killed / OWNER_FILE).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    assert remove_unfinished([item]) == [] and killed.exists()


# -- the final rename ---------------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["file inside", "empty folder", "regular file"])
def test_atomic_dir_never_replaces_what_appeared(tmp_path, what):
    dest = tmp_path / "run"
    with pytest.raises(DestinationTaken) as taken, atomic_dir(dest) as tmp:
        (tmp / "run.json").write_text("{}")
        if what == "file inside":
            dest.mkdir()
            (dest / "precious.txt").write_text("mine")
        elif what == "empty folder":
            dest.mkdir()
        else:
            dest.write_text("mine")
    kept = taken.value.kept
    assert kept.parent == tmp_path and kept.name.startswith("run-") and (kept / "run.json").exists()
    assert str(dest) in str(taken.value) and str(kept) in str(taken.value)
    if what == "file inside":
        assert [p.name for p in dest.iterdir()] == ["precious.txt"]
    elif what == "empty folder":
        assert dest.is_dir() and list(dest.iterdir()) == []
    else:
        assert dest.read_text() == "mine"
    assert not list(tmp_path.glob(".incomplete-*"))


def test_atomic_dir_exists_ok_keeps_the_first_copy(tmp_path):
    dest = tmp_path / "cache"
    with atomic_dir(dest, exists_ok=True) as tmp:
        (tmp / "a").write_text("second")
        dest.mkdir()
        (dest / "a").write_text("first")
    assert (dest / "a").read_text() == "first" and sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


def test_a_failed_rename_is_reported_not_swallowed(tmp_path, monkeypatch):
    def refuse(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied", str(dst))

    monkeypatch.setattr(os, "rename", refuse)
    with pytest.raises(PermissionError), atomic_dir(tmp_path / "run") as tmp:
        (tmp / "x").write_text("x")
    assert list(tmp_path.iterdir()) == []
