"""Labelling many files on Dask: one task per input file, one Parquet file out per input, resumable.

    report = predict_partitions("runs/best", "tweets/*.parquet", "labelled/")          # a local cluster
    report = predict_partitions("runs/best", "tweets/", "labelled/", scheduler="tcp://10.0.0.5:8786")
    len(report.written), len(report.skipped), report.rows

Each input file (a partition) is one task. A worker loads the model once (`worker_model` keeps the
last one loaded in each worker process), streams its file in chunks (`tweetsent.runs.labelling`),
and writes ``<out>/<input name>.parquet`` through a temporary file in the output folder that is
renamed into place when complete: a file under the final name is always whole. An output that is
already there is skipped, so running the same command again after a crash or Ctrl-C labels only
the rest; the outputs record the model they come from, and a folder holding another model's labels
is refused. Temporary files left by a killed worker are removed when their partition is redone.

Every worker must see the run directory, the inputs and the output folder under the same paths
(one machine, or a shared file system). Dask is imported only here, inside the functions that
use it: it is the optional extra ``tweetsent[dask]``.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tweetsent.config.settings import CHUNK_SIZE
from tweetsent.data.records import FORMATS, table_format
from tweetsent.data.tables import iter_text_chunks
from tweetsent.errors import ClusterError, ConfigError, DataError, TweetsentError
from tweetsent.runs.labelling import label_chunk, prediction_schema
from tweetsent.runs.outputs import check_can_create, model_folder
from tweetsent.runs.workflow import class_names, load_run
from tweetsent.util.files import atomic_path, sha256_file
from tweetsent.util.meta import usable_cpus

__all__ = ["LabelReport", "PartitionProgress", "label_partition", "model_fingerprint", "partition_paths",
           "predict_partitions", "wants_partitions", "worker_model"]

_PARQUET = (".parquet", ".pq")
_META_MODEL, _META_RUN, _META_SOURCE = b"tweetsent.model", b"tweetsent.run", b"tweetsent.source"
_INSTALL = "pip install 'tweetsent[dask]'"


@dataclass
class LabelReport:
    """What `predict_partitions` did: outputs written now, outputs already there, rows written now."""

    out: Path
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    rows: int = 0
    removed: list[Path] = field(default_factory=list)  # temporary files a killed worker had left


def wants_partitions(data: str, scheduler: str | None = None, workers: int | None = None) -> bool:
    """Whether ``predict --data`` names many files (a folder, or a pattern that is not a file's own name),
    or Dask was asked for."""
    if scheduler is not None or workers is not None:
        return True
    return Path(data).is_dir() or (glob.has_magic(data) and not Path(data).is_file())


def partition_paths(data: str) -> list[Path]:
    """The input files, sorted: the Parquet files in a folder, or the files a pattern matches.

    Raises
    ------
    DataError
        Nothing matches, or a file is not a table tweetsent reads (named).
    """
    path = Path(os.path.expanduser(data))
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix.lower() in _PARQUET and p.is_file()
                       and not p.name.startswith("."))
        if not found:
            raise DataError(f"--data {data}: no Parquet files (*.parquet) in this folder; give a folder of Parquet "
                            f"files, or a pattern for other tables, e.g. --data '{path / '*.csv'}'")
    else:
        found = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        if not found:
            raise DataError(f"--data {data}: no files match this pattern; check the folder and the pattern, and "
                            f"quote it ('tweets/*.parquet') so that the shell passes it as it is")
    for source in found:
        table_format(source)  # an unknown file type fails here, before any work
    return found


def model_fingerprint(run_dir: str | Path) -> str:
    """sha256 over the model's files (``model.json``, weights, an ensemble's own members): the outputs
    record it, so that a rerun never mixes the labels of two models in one folder."""
    folder = model_folder(Path(run_dir))
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder).as_posix()}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------
# On a worker


_LOADED: dict = {}  # the model this worker process loaded last: {"key": (run_dir, fingerprint), "model": clf}
_LOADING = threading.Lock()  # a worker with several threads loads it once


def worker_model(run_dir: str, fingerprint: str, device: str = "auto", engine: str = "auto"):
    """The model of ``run_dir`` on ``device`` with ``engine``, loaded once per worker process and kept
    for its next partitions."""
    key = (run_dir, fingerprint, device, engine)
    with _LOADING:
        if _LOADED.get("key") != key:
            _LOADED.clear()  # a long-lived worker that labelled with another model before
            _LOADED.update(key=key, model=load_run(run_dir, device, engine))
        return _LOADED["model"]


def label_partition(run_dir: str, fingerprint: str, source: str, dest: str, chunk_size: int = CHUNK_SIZE,
                    text_column: str | None = None, device: str = "auto", engine: str = "auto") -> int:
    """Label one input file into the Parquet file ``dest`` (the task each partition is).

    Rows keep the input's order and have `predict`'s columns (`tweetsent.runs.labelling.prediction_schema`);
    the file's metadata records the model's fingerprint, the run directory and the input. It is written
    to a temporary file beside ``dest`` and renamed into place when complete; then the temporary files
    of earlier tries on killed workers are removed. ``device`` and ``engine``
    are `predict`'s (`tweetsent.runs.workflow.load_run`).

    Returns
    -------
    int
        The number of rows written.
    """
    import pyarrow.parquet as pq

    clf = worker_model(run_dir, fingerprint, device, engine)
    column = clf.config_.data.text_column if text_column is None else text_column
    schema = prediction_schema(clf.classes_, class_names(clf)).with_metadata(
        {_META_MODEL: fingerprint, _META_RUN: run_dir, _META_SOURCE: source})
    rows = 0
    with atomic_path(Path(dest)) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for texts in iter_text_chunks(source, column, chunk_size):
            writer.write_table(label_chunk(clf, texts, schema))
            rows += len(texts)
    for leftover in _leftovers(Path(dest)):  # an earlier try on a worker that was killed
        leftover.unlink(missing_ok=True)
    return rows


# ----------------------------------------------------------------------------------------------
# On the client


def _outputs(sources: list[Path], out: Path) -> list[Path]:
    dests, seen = [], {}
    for source in sources:
        dest = out / f"{source.stem}.parquet"
        if dest in seen:
            raise ConfigError(f"--data: {seen[dest]} and {source} would both be labelled into {dest}; label files "
                              f"of the same name into separate --out folders")
        if source.parent.resolve() == out.resolve():
            raise ConfigError(f"--out {out} is the folder of the input {source}: the labelled files would be read "
                              f"as inputs next time; choose another --out folder")
        seen[dest] = source
        dests.append(dest)
    return dests


def _check_out(out: Path) -> None:
    many = "labelling many files writes one Parquet file per input into a folder"
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; {many}: give a folder (it is created when missing)")
    if not out.exists() and out.suffix.lower() in FORMATS:
        raise ConfigError(f"--out {out} looks like a file name; {many}: give a folder name, e.g. --out {out.parent / 'labelled'}")
    if out.is_dir() and not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out}: the folder cannot be written (permission denied); choose another --out")
    check_can_create(out, "--out")


def _already_done(dest: Path, fingerprint: str, run_dir: Path) -> bool:
    """Whether ``dest`` is a finished output of this model (False when it is missing)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not dest.exists():
        return False
    try:
        meta = pq.read_schema(dest).metadata or {}
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{dest}: is in the --out folder but cannot be read as Parquet ({_first_line(exc)}); remove it to "
                        f"label its input again") from exc
    if _META_MODEL not in meta:
        raise ConfigError(f"{dest}: is in the --out folder but tweetsent predict did not write it; choose another "
                          f"--out folder, or move the file away")
    if meta[_META_MODEL] != fingerprint.encode():
        was = meta.get(_META_RUN, b"?").decode(errors="replace")
        raise ConfigError(f"{dest}: holds labels from another model ({was}), not {run_dir}; choose another --out "
                          f"folder, or remove that folder's files to label everything again with {run_dir}")
    return True


def _leftovers(dest: Path) -> list[Path]:
    """Temporary files a killed worker left while writing ``dest`` (`atomic_path`'s names)."""
    return sorted(dest.parent.glob(f".{glob.escape(dest.name)}.*.tmp"))


class _Cluster:
    """A client of a new local cluster, or of the scheduler at an address; closed on leaving."""

    def __init__(self, scheduler: str, workers: int | None, processes: bool, connect_timeout: float,
                 workers_timeout: float) -> None:
        self.scheduler, self.workers, self.processes = scheduler, workers, processes
        self.connect_timeout, self.workers_timeout = connect_timeout, workers_timeout
        self.cluster = self.client = None

    def __enter__(self):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise ConfigError(f"labelling many files runs on Dask, which is not installed; {_INSTALL}") from exc
        if self.scheduler == "local":
            self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=self.processes,
                                        dashboard_address=":0", silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
            return self.client
        try:
            self.client = Client(self.scheduler, timeout=self.connect_timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"--scheduler {self.scheduler}: no Dask scheduler answers there ({_first_line(exc)}); "
                               f"start one with `dask scheduler` and workers with `dask worker {self.scheduler}`, "
                               f"or use --scheduler local") from exc
        try:
            self.client.wait_for_workers(1, timeout=self.workers_timeout)
        except (OSError, TimeoutError) as exc:
            self.__exit__(None, None, None)
            raise ClusterError(f"--scheduler {self.scheduler}: the scheduler has no workers; start some with "
                               f"`dask worker {self.scheduler}` on machines that see the same files") from exc
        return self.client

    def __exit__(self, *exc) -> None:
        for part in (self.client, self.cluster):
            if part is not None:
                part.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _failure(exc: BaseException, source: Path) -> BaseException:
    """A task's exception as the user should see it: tweetsent's own as they are, a lost worker explained."""
    if isinstance(exc, TweetsentError | OSError):
        return exc
    if type(exc).__name__ == "KilledWorker":
        return ClusterError(f"{source}: every worker that labelled it died (killed, or out of memory); give the "
                            f"workers more memory (fewer per machine) or lower --chunk-size")
    return exc


def predict_partitions(run_dir: str | Path, data: str, out: str | Path, scheduler: str = "local",
                       workers: int | None = None, chunk_size: int = CHUNK_SIZE, text_column: str | None = None,
                       on_start: Callable[[int, int], None] | None = None,
                       on_done: Callable[[Path, int], None] | None = None, device: str = "auto",
                       engine: str = "auto", processes: bool = True, connect_timeout: float = 10,
                       workers_timeout: float = 60) -> LabelReport:
    """Label every input file into its own Parquet file in ``out``, one Dask task per file.

    Parameters
    ----------
    run_dir : path
        A run directory (or model folder) that every worker can read.
    data : str
        A folder of Parquet files, or a pattern (``tweets/*.parquet``, ``shards/**/*.csv``) matching
        tables of any type `predict` reads.
    out : path
        The output folder (created when missing): ``<input name>.parquet`` per input. Outputs already
        there (from an earlier run of the same model) are skipped.
    scheduler : str
        ``"local"``: a cluster of ``workers`` processes on this machine, for this call only (default one
        per core); or the address of a running scheduler (``tcp://host:8786``).
    workers : int, optional
        Workers of the local cluster (not with an address: its workers are started with ``dask worker``).
    chunk_size : int
        Tweets each worker reads and writes at a time.
    text_column : str, optional
        The text column (default: the run's, or found in each file).
    on_start : callable(pending, skipped), optional
        Called once the partitions are known, before any is labelled.
    on_done : callable(dest, rows), optional
        Called as each output is written, in the order they finish.
    device, engine : str
        Where and how each worker's model predicts (`tweetsent.runs.workflow.load_run`).
    processes : bool
        Local workers in processes (default) or threads of this process.
    connect_timeout, workers_timeout : float
        Seconds to wait for the scheduler at an address, and for its first worker.

    Returns
    -------
    LabelReport

    Raises
    ------
    DataError, ConfigError, ModelError
        Before any work: nothing matches ``data``, ``out`` is a file, the run is missing, ``out`` holds
        another model's labels. After the other partitions are done: a partition that cannot be read.
    ClusterError
        The scheduler cannot be reached or has no workers, or a partition keeps killing its worker.
    """
    if data == "-":
        raise ConfigError("--data -: standard input is one stream, and --scheduler / --workers label files; give "
                          "--data a folder of Parquet files or a pattern such as 'tweets/*.parquet'")
    if str(out) == "-":
        raise ConfigError(f"--out -: labelling the files of {data} writes one Parquet file per input into a folder; "
                          f"give --out FOLDER")
    if workers is not None and scheduler != "local":
        raise ConfigError(f"--workers is for --scheduler local; the workers of {scheduler} are the ones started "
                          f"with `dask worker {scheduler}`")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers {workers}: give at least 1")
    run_dir, out = Path(os.path.abspath(run_dir)), Path(os.path.abspath(out))
    fingerprint = model_fingerprint(run_dir)
    sources = [Path(os.path.abspath(p)) for p in partition_paths(data)]
    _check_out(out)
    report = LabelReport(out)
    pending = []
    for source, dest in zip(sources, _outputs(sources, out)):
        if _already_done(dest, fingerprint, run_dir):
            report.skipped.append(dest)
        else:
            pending.append((source, dest))
    if on_start:
        on_start(len(pending), len(report.skipped))
    if not pending:
        return report
    out.mkdir(parents=True, exist_ok=True)
    for _, dest in pending:
        for leftover in _leftovers(dest):
            leftover.unlink(missing_ok=True)
            report.removed.append(leftover)
    n_workers = workers if workers is not None else min(len(pending), usable_cpus())
    failures: list[BaseException] = []
    with _Cluster(scheduler, n_workers, processes, connect_timeout, workers_timeout) as client:
        from distributed import as_completed

        futures = {client.submit(label_partition, str(run_dir), fingerprint, str(source), str(dest), chunk_size,
                                 text_column, device, engine, pure=False): (source, dest)
                   for source, dest in pending}
        for future in as_completed(futures):
            source, dest = futures[future]
            if future.status == "error":
                failures.append(_failure(future.exception(), source))
                continue
            rows = future.result()
            report.written.append(dest)
            report.rows += rows
            if on_done:
                on_done(dest, rows)
    if failures:
        first = failures[0]
        more = f"; {len(failures) - 1} other file(s) failed too" if len(failures) > 1 else ""
        done = (f"; the {len(report.written) + len(report.skipped)} labelled file(s) in {out} are kept, and running "
                f"the same command again labels only the rest")
        if isinstance(first, TweetsentError):
            raise type(first)(f"{_first_line(first)}{more}{done}") from first
        raise first
    return report


class PartitionProgress:
    """Files labelled so far on stderr: a live bar on a terminal, one line per file elsewhere.

    ``predict_partitions(..., on_start=progress.start, on_done=progress.done)``, then ``close()``.
    """

    def __init__(self, console=None) -> None:
        from tweetsent.util.console import stderr_console

        self.console = console or stderr_console()
        self._bar = None
        self.total = self.finished = 0

    def start(self, pending: int, skipped: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.total = pending
        if skipped and pending:
            self.console.print(f"{skipped} file(s) already labelled, skipped; labelling the other {pending}")
        if self.console.is_terminal and pending:
            self._bar = Progress(TextColumn("[bold]labelling"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[info]}"), console=self.console)
            self._bar.start()
            self._task = self._bar.add_task("labelling", total=pending, info="")

    def done(self, dest: Path, rows: int) -> None:
        self.finished += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1, info=f"{dest.name}: {rows:,} tweets")
        else:
            self.console.print(f"{self.finished}/{self.total} {dest}: {rows:,} tweets", markup=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
