"""Labelling many files on Dask, and labelling one stream in flat memory.

- every partition's output equals single-process ``predict`` of that file, row for row;
- a rerun labels only the partitions whose output is missing, and refuses another model's outputs;
- a task that fails, or a worker killed, mid-write leaves no file under the final name, and the
  rerun removes its temporary file;
- the model is loaded once per worker process;
- the errors (nothing matches, ``--out`` a file, no scheduler, an unreadable partition) are one line;
- ``predict`` holds a bounded number of chunks however long the stream, scores them in bounded
  batches and writes each before reading the next.

The cluster is a `LocalCluster` of 2 threads in this process (monkeypatching reaches its workers),
reached through its address like a scheduler started with ``dask scheduler``; one slow test runs
the command line's own cluster of worker processes.
"""

from __future__ import annotations

import io
import logging
import signal
import subprocess
import sys
import weakref
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from conftest import tiny_runs
from tweetsent.cli.main import app
from tweetsent.errors import ClusterError, ConfigError, DataError
from tweetsent.runs import distributed, labelling, workflow
from tweetsent.runs.distributed import predict_partitions
from tweetsent.runs.workflow import predict_file

pytest.importorskip("distributed")  # the optional extra tweetsent[dask]
runner = CliRunner()
PARTS = ("part-0", "part-1", "part-2")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """A one-epoch softmax run on the tiny corpus, and its 42 tweets (plus 3 empty ones) as 3 Parquet files."""
    folder = tmp_path_factory.mktemp("trained")
    made = tiny_runs(folder, seeds=(0, 1))
    texts = pd.concat([pd.read_csv(made["train"]), pd.read_csv(made["val"])])["tweet"].tolist()
    texts[3:3], texts[20:20], texts[40:40] = [""], ["   "], [None]
    inputs = folder / "tweets"
    inputs.mkdir()
    for k, name in enumerate(PARTS):
        pq.write_table(pa.table({"id": range(15), "tweet": texts[15 * k:15 * (k + 1)]}), inputs / f"{name}.parquet")
    return {"run": made["runs"][0], "other": made["runs"][1], "inputs": inputs}


@pytest.fixture(scope="module")
def scheduler():
    """The address of a 2-worker cluster (threads of this process)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


def _label(trained, out: Path, scheduler: str, **kwargs):
    return predict_partitions(trained["run"], str(trained["inputs"] / "*.parquet"), out, scheduler=scheduler,
                              chunk_size=4, **kwargs)


def _mtimes(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(out.glob("*.parquet"))}


def _hidden(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


# -- the labels -----------------------------------------------------------------------------------


def test_each_partition_equals_single_process_predict(tmp_path, trained, scheduler):
    report = _label(trained, tmp_path / "out", scheduler)
    assert sorted(p.name for p in report.written) == [f"{name}.parquet" for name in PARTS]
    assert report.skipped == [] and report.rows == 45
    for name in PARTS:
        single = tmp_path / f"{name}.csv"
        assert predict_file(trained["run"], trained["inputs"] / f"{name}.parquet", single) == 15
        expected = pd.read_csv(single, keep_default_na=False, dtype=str)
        table = pq.read_table(tmp_path / "out" / f"{name}.parquet")
        assert table.column_names == list(expected.columns) == ["text", "label", "p_0", "p_1", "p_2", "empty"]
        got = {c: ["" if v is None else str(v) for v in table.column(c).to_pylist()] for c in ("text", "label")}
        assert got["text"] == expected["text"].tolist()  # the input's order
        assert got["label"] == expected["label"].tolist()
        assert table.column("empty").to_pylist() == [v == "true" for v in expected["empty"]]
        for c in ("p_0", "p_1", "p_2"):
            assert [v if v is None else round(v, 4) for v in table.column(c).to_pylist()] == \
                   [float(v) if v else None for v in expected[c]]
    assert table.schema.metadata[b"tweetsent.source"] == str(trained["inputs"] / "part-2.parquet").encode()


def test_a_local_cluster_loads_the_model_once_per_worker_process(tmp_path, trained, monkeypatch):
    loads = []
    real = distributed.load_run
    monkeypatch.setattr(distributed, "load_run", lambda *a: loads.append(a) or real(*a))
    distributed._LOADED.clear()
    report = _label(trained, tmp_path / "out", "local", workers=2, processes=False)
    assert len(report.written) == 3
    assert len(loads) == 1  # 2 workers in this one process share it; 3 partitions


# -- reruns ----------------------------------------------------------------------------------------


def test_a_rerun_redoes_only_the_missing_partition(tmp_path, trained, scheduler):
    out = tmp_path / "out"
    _label(trained, out, scheduler)
    before = _mtimes(out)
    (out / "part-1.parquet").unlink()
    report = _label(trained, out, scheduler)
    assert [p.name for p in report.written] == ["part-1.parquet"] and report.rows == 15
    assert sorted(p.name for p in report.skipped) == ["part-0.parquet", "part-2.parquet"]
    after = _mtimes(out)
    assert {k: after[k] for k in ("part-0.parquet", "part-2.parquet")} == \
           {k: before[k] for k in ("part-0.parquet", "part-2.parquet")}
    again = _label(trained, out, "tcp://127.0.0.1:1")  # nothing to do: no scheduler is even asked
    assert again.written == [] and len(again.skipped) == 3


def test_another_models_outputs_are_refused(tmp_path, trained, scheduler):
    out = tmp_path / "out"
    _label(trained, out, scheduler)
    with pytest.raises(ConfigError, match=r"part-0\.parquet: holds labels from another model"):
        predict_partitions(trained["other"], str(trained["inputs"]), out, scheduler=scheduler)
    (tmp_path / "mine").mkdir()
    pq.write_table(pa.table({"x": [1]}), tmp_path / "mine" / "part-0.parquet")
    with pytest.raises(ConfigError, match="tweetsent predict did not write it"):
        _label(trained, tmp_path / "mine", scheduler)


def test_a_task_failing_mid_write_leaves_no_partial_output(tmp_path, trained, scheduler, monkeypatch):
    out = tmp_path / "out"
    real = labelling.label_chunk
    second_of_part_1 = pq.read_table(trained["inputs"] / "part-1.parquet")["tweet"][4].as_py()

    def failing(clf, texts, schema, *args):
        if texts[0].as_py() == second_of_part_1:
            raise DataError("disk trouble on the second chunk of part-1")
        return real(clf, texts, schema, *args)

    monkeypatch.setattr(distributed, "label_chunk", failing)
    with pytest.raises(DataError, match=r"disk trouble .*; the 2 labelled file\(s\) in .* are kept"):
        _label(trained, out, scheduler)
    assert sorted(_mtimes(out)) == ["part-0.parquet", "part-2.parquet"]
    assert _hidden(out) == []  # the temporary file of part-1 is removed
    monkeypatch.setattr(distributed, "label_chunk", real)
    assert [p.name for p in _label(trained, out, scheduler).written] == ["part-1.parquet"]


KILLED_MID_WRITE = """
import os, signal, sys
from tweetsent.runs import distributed
calls = []
def dying(*args):
    calls.append(1)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)   # a worker killed (OOM, preempted) during the second chunk
    return real(*args)
real, distributed.label_chunk = distributed.label_chunk, dying
distributed.label_partition(sys.argv[1], distributed.model_fingerprint(sys.argv[1]), sys.argv[2], sys.argv[3], 4)
"""


@pytest.mark.slow
def test_a_worker_killed_mid_write_leaves_no_output_and_the_rerun_cleans_up(tmp_path, trained, scheduler):
    out = tmp_path / "out"
    out.mkdir()
    source, dest = trained["inputs"] / "part-1.parquet", out / "part-1.parquet"
    killed = subprocess.run([sys.executable, "-c", KILLED_MID_WRITE, str(trained["run"]), str(source), str(dest)])
    assert killed.returncode == -signal.SIGKILL
    assert not dest.exists()
    (left,) = _hidden(out)
    assert left.startswith(".part-1.parquet.") and left.endswith(".tmp")
    report = _label(trained, out, scheduler)
    assert [p.name for p in report.removed] == [left]
    assert sorted(_mtimes(out)) == [f"{name}.parquet" for name in PARTS] and _hidden(out) == []
    assert pq.read_table(dest).num_rows == 15


# -- errors ----------------------------------------------------------------------------------------


def test_what_can_go_wrong_is_one_actionable_error(tmp_path, trained, scheduler):
    run, inputs = trained["run"], trained["inputs"]
    with pytest.raises(DataError, match=r"no files match this pattern; .*quote it"):
        predict_partitions(run, str(tmp_path / "nothing" / "*.parquet"), tmp_path / "out", scheduler=scheduler)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no Parquet files \(\*\.parquet\) in this folder"):
        predict_partitions(run, str(tmp_path / "empty"), tmp_path / "out", scheduler=scheduler)
    (tmp_path / "labels.csv").write_text("x\n")
    with pytest.raises(ConfigError, match=r"labels\.csv is a file; .* give a folder"):
        predict_partitions(run, str(inputs), tmp_path / "labels.csv", scheduler=scheduler)
    with pytest.raises(ConfigError, match=r"labelled\.parquet looks like a file name; .* give a folder name"):
        predict_partitions(run, str(inputs), tmp_path / "labelled.parquet", scheduler=scheduler)
    with pytest.raises(ConfigError, match="is the folder of the input"):
        predict_partitions(run, str(inputs), inputs, scheduler=scheduler)
    with pytest.raises(ConfigError, match="--workers is for --scheduler local"):
        predict_partitions(run, str(inputs), tmp_path / "out", scheduler=scheduler, workers=2)
    with pytest.raises(ClusterError, match=r"--scheduler tcp://127\.0\.0\.1:1: no Dask scheduler answers there "
                                           r"\(.*\); start one with `dask scheduler`"):
        predict_partitions(run, str(inputs), tmp_path / "out", scheduler="tcp://127.0.0.1:1", connect_timeout=0.5)


def test_an_unreadable_partition_fails_by_name_after_the_others(tmp_path, trained, scheduler):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in PARTS:
        (inputs / f"{name}.parquet").write_bytes((trained["inputs"] / f"{name}.parquet").read_bytes())
    (inputs / "part-1.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"part-1\.parquet: cannot be read as PARQUET .*the 2 labelled file"):
        predict_partitions(trained["run"], str(inputs), tmp_path / "out", scheduler=scheduler)
    assert sorted(_mtimes(tmp_path / "out")) == ["part-0.parquet", "part-2.parquet"]
    assert _hidden(tmp_path / "out") == []


# -- the command line ------------------------------------------------------------------------------


def test_the_command_labels_a_pattern_into_a_folder(tmp_path, trained, scheduler):
    args = ["predict", str(trained["run"]), "--data", str(trained["inputs"] / "*.parquet"), "--out",
            str(tmp_path / "out"), "--scheduler", scheduler, "--chunk-size", "4"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == f"3 file(s) labelled (45 tweets) -> {tmp_path / 'out'}"
    assert sorted(_mtimes(tmp_path / "out")) == [f"{name}.parquet" for name in PARTS]
    (tmp_path / "out" / "part-0.parquet").unlink()
    result = runner.invoke(app, args)
    assert result.stderr.splitlines()[-1].endswith("1 file(s) labelled (15 tweets) -> "
                                                   f"{tmp_path / 'out'}; 2 already there, skipped")


def test_the_command_says_what_is_wrong_in_one_line(tmp_path, trained):
    result = runner.invoke(app, ["predict", str(trained["run"]), "--data", str(tmp_path / "*.parquet"),
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: --data ") and "no files match" in line


def test_help_imports_no_dask():
    probe = subprocess.run([sys.executable, "-c", "import sys, tweetsent.cli.main; "
                            "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))"],
                           capture_output=True, text=True)
    assert probe.stdout.strip() == "[]", probe.stderr


@pytest.mark.slow
def test_the_command_starts_a_local_cluster_of_worker_processes(tmp_path, trained):
    result = runner.invoke(app, ["predict", str(trained["run"]), "--data", str(trained["inputs"]), "--out",
                                 str(tmp_path / "out"), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert sorted(_mtimes(tmp_path / "out")) == [f"{name}.parquet" for name in PARTS]
    assert sum(pq.read_table(p).num_rows for p in (tmp_path / "out").glob("*.parquet")) == 45


# -- one stream in flat memory ---------------------------------------------------------------------


class _Sink(io.RawIOBase):
    """A binary output that counts the bytes written to it and keeps none."""

    def __init__(self) -> None:
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.size += len(data)
        return len(data)


def test_predict_holds_a_bounded_number_of_chunks_of_a_long_stream(tmp_path, trained, monkeypatch):
    # 20,000 tweets in 100 chunks of 200, each tokenised at once and featurised 64 at a time.
    texts = pq.read_table(trained["inputs"] / "part-0.parquet")["tweet"].to_pylist()[:10]  # one is empty
    data = tmp_path / "long.csv"
    pd.DataFrame({"tweet": texts * 2000}).to_csv(data, index=False)
    refs, most_alive, written, batches = [], [], [], []
    sink = _Sink()
    real_chunks = workflow.iter_text_chunks

    def counted_chunks(*args):
        for chunk in real_chunks(*args):
            refs.append(weakref.ref(chunk))
            most_alive.append(sum(ref() is not None for ref in refs))
            written.append(sink.size)  # what was written before this chunk was read
            yield chunk

    monkeypatch.setattr(workflow, "iter_text_chunks", counted_chunks)
    from tweetsent.features import featurizer

    monkeypatch.setattr(featurizer, "FEATURE_BATCH", 64)
    real_transform = featurizer.Featurizer.transform
    monkeypatch.setattr(featurizer.Featurizer, "transform",
                        lambda self, batch, *a, **k: batches.append(len(batch)) or real_transform(self, batch, *a, **k))
    tokenised = []
    real_tokenize = featurizer.tokenize_arrow
    monkeypatch.setattr(featurizer, "tokenize_arrow", lambda texts, *a: tokenised.append(len(texts)) or real_tokenize(texts, *a))
    assert predict_file(trained["run"], data, sink, chunk_size=200) == 20_000
    assert len(most_alive) == 100
    assert max(most_alive) <= 2  # the chunk being read, and the one just written
    assert max(batches) == 64 and sum(batches) == 2000 * sum(bool(t.strip()) for t in texts)  # empty ones unscored
    assert len(tokenised) == 100 and sum(tokenised) == sum(batches)  # each chunk tokenised once, in one call
    assert all(b > a for a, b in zip(written[1:], written[2:]))  # each chunk is written before the next is read
