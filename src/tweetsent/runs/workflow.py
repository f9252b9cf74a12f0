"""Run directories: train, evaluate and predict as a command line or notebook does them.

    result = train_run(resolve_config("seed-prelu"), "train.csv", "val.csv")
    result.run_dir      # runs/20261128-031500-seed-prelu-s0
    evaluate_run(result.run_dir, "test.csv")["f1_macro"]

A run directory holds ``config.toml`` (resolved), ``run.json`` (data, fingerprints, timings,
versions), ``history.json`` / ``history.csv`` (per epoch), ``metrics.json``,
``predictions.csv`` (validation tweets with true label, prediction and probabilities),
``model/`` (``model.safetensors`` + ``model.json``) and ``figures/*.png``. Class names
(``data.label_names``, else a ``labels.toml`` beside the training file) are saved in the config and
appear in the metrics, the predictions and the figures. It is built in a
hidden ``.incomplete-*`` sibling and renamed into place when complete, so a directory that
exists is a finished run. The rename never replaces anything: a default name that is taken gets
a suffix (``...-s0-k3x9``), and a ``--out`` that appeared during training is left as it is while
the run is kept beside it (an error says where).
"""

from __future__ import annotations

import csv
import dataclasses
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tweetsent.config.settings import CHUNK_SIZE, RunConfig
from tweetsent.config.validate import check_named_labels
from tweetsent.data.labels import label_names_beside
from tweetsent.data.tables import Dataset, check_compatible, iter_text_chunks, read_dataset
from tweetsent.errors import DataError, ModelError
from tweetsent.features.embeddings import load_embeddings
from tweetsent.models.classifier import TweetClassifier
from tweetsent.runs.labelling import label_chunk, prediction_schema
from tweetsent.runs.outputs import check_can_create, check_output_file, run_owner
from tweetsent.training.loop import Callback, TrainingInterrupted
from tweetsent.util.files import DestinationTaken, atomic_dir, atomic_path, atomic_write_json, sha256_file, unique_path
from tweetsent.util.meta import package_version

__all__ = ["RunResult", "train_run", "evaluate_run", "predict_file", "load_run", "write_predictions", "class_names"]


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict | None
    history: list[dict]
    config: RunConfig
    classifier: TweetClassifier
    run_id: str | None = None  # the experiment log's id of this run
    dropped_empty: dict | None = None  # {"train": n, "val": n}: rows left out for an empty tweet (data.empty = "drop")


class _LogEpochs(Callback):
    """Copies every finished epoch into the experiment log as it happens."""

    def __init__(self, log, run_id: str) -> None:
        self.log, self.run_id = log, run_id

    def on_epoch_end(self, record: dict, model) -> None:
        self.log.add_epoch(self.run_id, record)


class _Logged:
    """Start a log entry; on leaving, mark it failed or interrupted unless it was finished."""

    def __init__(self, log, **start) -> None:
        self.log, self.start = log, start
        self.run_id: str | None = None

    def __enter__(self) -> _Logged:
        if self.log is not None:
            self.run_id = self.log.start(**self.start)
        return self

    def finish(self, **values) -> None:
        if self.log is not None:
            self.log.finish(self.run_id, **values)
            self.run_id = None

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.log is None or self.run_id is None or exc_type is None:
            return
        interrupted = issubclass(exc_type, (KeyboardInterrupt, TrainingInterrupted))
        self.log.fail(self.run_id, "interrupted" if interrupted else "failed",
                      str(exc).splitlines()[0] if str(exc) else exc_type.__name__)
        if isinstance(exc, TrainingInterrupted):
            exc.run_id = self.run_id


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _run_name(cfg: RunConfig) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{cfg.name or 'run'}-s{cfg.train.seed}"


def _absolute(path: str | Path) -> Path:
    """``path`` made absolute (the log keeps where a run is, whatever folder it is read from)."""
    return Path(os.path.abspath(path))


def class_names(clf: TweetClassifier) -> list[str] | None:
    """The classifier's class names (one per class) when its config names any, else None."""
    return clf.class_names_ if clf.config_.data.label_names else None


def write_predictions(path: Path, texts: Sequence[str], proba: np.ndarray, classes: Sequence,
                      labels: np.ndarray | None = None, names: Sequence[str] | None = None) -> None:
    """CSV of each tweet with its prediction and per-class probabilities (and true label).

    Columns ``text``, ``label`` (when given), ``predicted``, ``predicted_name`` (with ``names``, one
    per class) and ``p_<class>``: the values stay as they are, so the file reads back like any table.
    """
    import pandas as pd

    frame = pd.DataFrame({"text": list(texts)})
    if labels is not None:
        frame["label"] = labels
    best = proba.argmax(axis=1)
    frame["predicted"] = np.asarray(classes, dtype=object)[best]
    if names is not None:
        frame["predicted_name"] = np.asarray(names, dtype=object)[best]
    for k, cls in enumerate(classes):
        frame[f"p_{cls}"] = np.round(proba[:, k], 6)
    frame.to_csv(path, index=False)


def train_run(cfg: RunConfig, train_path: str | Path, val_path: str | Path | None = None,
              out: str | Path | None = None, runs_dir: str | Path = "runs",
              callbacks: Sequence[Callback] = (), figures: bool = True, log=None,
              kind: str = "train", study: str | None = None) -> RunResult:
    """Train a model, score it on the validation file and write a complete run directory.

    Parameters
    ----------
    cfg : RunConfig
        Resolved configuration. Without ``data.label_names``, the class names of a ``labels.toml``
        beside ``train_path`` are used (`RunResult.config` holds them).
    train_path, val_path : path
        Labelled tables; without ``val_path`` no validation curves or metrics are made.
    out : path, optional
        The run directory, which must not exist; default ``runs_dir/<timestamp>-<name>-s<seed>``
        (with ``-<4 random characters>`` added when that is taken, also by a parallel run).
    callbacks : sequence of Callback
        Progress display, ...
    figures : bool
        Write the PNG figures.
    log : RunLog, optional
        The experiment log to record the run in (start, every epoch, end or failure).
    kind, study : str
        How the log files the run ("train" or "trial", and the tuning study).

    Returns
    -------
    RunResult

    Raises
    ------
    DataError
        When a folder appeared at ``out`` during training: it is left as it is, and the finished run
        is kept (and logged) as ``<out>-<4 random characters>``, which the message names.
    """
    from tweetsent.evaluation.metrics import compute_metrics  # scikit-learn: not needed to predict
    from tweetsent.evaluation.overfit import overfit_verdict

    started, clock = _now(), time.perf_counter()
    # The config's class names win; without any, those of a labels.toml beside the training file.
    found = None if cfg.data.label_names else label_names_beside(train_path)
    if found is not None:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, label_names=found[0]))
    train = read_dataset(train_path, cfg.data.text_column, cfg.data.label_column, empty=cfg.data.empty)
    # Checked before training, not after it (TweetClassifier.fit checks again).
    check_named_labels(cfg.data.label_names, np.unique(train.labels),
                       f"{found[1]}: data.label_names" if found else "data.label_names")
    val = (read_dataset(val_path, cfg.data.text_column, cfg.data.label_column, empty=cfg.data.empty)
           if val_path else None)
    if val is not None:
        check_compatible(train, val)
    dropped = {"train": getattr(train, "dropped_empty", 0), "val": getattr(val, "dropped_empty", 0) if val else 0}
    if out is not None and (Path(out).exists() or Path(out).is_symlink()):
        raise DataError(f"{out}: a run directory is already there; choose another --out or remove it")
    run_dir = Path(out) if out is not None else unique_path(Path(runs_dir) / _run_name(cfg))
    check_can_create(run_dir, "--out")  # before training, not after it
    fingerprints = {"train": sha256_file(train_path), "val": sha256_file(val_path) if val else None}
    if "embeddings" in cfg.features.input and cfg.model.kind not in ("finetune", "ensemble"):
        fingerprints["embeddings"] = load_embeddings(cfg.features.embeddings).fingerprint
    data = {"train": Path(train_path).resolve(), "val": Path(val_path).resolve() if val else None}
    with _Logged(log, kind=kind, config=cfg.to_dict(), data=data, fingerprints=fingerprints,
                 run_dir=_absolute(run_dir), name=cfg.name or None, study=study) as logged:
        if logged.run_id:
            callbacks = [*callbacks, _LogEpochs(log, logged.run_id)]
        clf = TweetClassifier(cfg).fit(train.texts, train.labels, val.texts if val else None,
                                       val.labels if val else None, callbacks=callbacks)
        metrics = proba = None
        train_scores = _scores(compute_metrics(train.labels, clf.predict_proba(train.texts), clf.classes_))
        if val is not None:
            proba = clf.predict_proba(val.texts)
            metrics = {**compute_metrics(val.labels, proba, clf.classes_, thresholds=clf.decision(),
                                         names=class_names(clf)),
                       "train": train_scores}
            if clf.schedule_ is not None:
                metrics["schedule"] = clf.schedule_  # under a time budget: planned and done steps, cut or not
        overfit = overfit_verdict(clf.history_, train_scores, _scores(metrics) if metrics else None)
        info = {
            "started": started, "finished": _now(), "seconds": round(time.perf_counter() - clock, 3),
            "package_version": package_version(), "name": cfg.name, "run_id": logged.run_id,
            "data": {"train": str(data["train"]), "val": str(data["val"]) if val else None,
                     "train_sha256": fingerprints["train"], "val_sha256": fingerprints["val"],
                     "n_train": len(train), "n_val": len(val) if val else 0,
                     "text_column": train.text_column, "label_column": train.label_column},
            "features": clf.identity(), "oov": clf.train_oov_,
            "classes": clf.classes_, "best_epoch": clf.best_epoch_, "epochs_run": len(clf.history_),
            "overfit": overfit, "schedule": clf.schedule_, "dropped_empty": dropped,
        }
        kept = None
        try:
            with atomic_dir(run_dir, owner=run_owner()) as tmp:
                (tmp / "config.toml").write_text(cfg.to_toml(), encoding="utf-8")
                atomic_write_json(tmp / "run.json", info)
                atomic_write_json(tmp / "history.json", clf.history_)
                _write_history_csv(tmp / "history.csv", clf.history_)
                clf.save(tmp / "model")
                if metrics is not None:
                    atomic_write_json(tmp / "metrics.json", metrics)
                    write_predictions(tmp / "predictions.csv", val.texts, proba, clf.classes_, val.labels,
                                      class_names(clf))
                    if figures:
                        from tweetsent.reporting.plots import save_run_figures

                        save_run_figures(tmp / "figures", clf.history_, metrics, val.labels, proba, clf.classes_)
        except DestinationTaken as taken:
            kept = taken.kept
        run_id = logged.run_id
        logged.finish(metrics=metrics or {"train": train_scores, "schedule": clf.schedule_}, best_epoch=clf.best_epoch_,
                      overfit=overfit, run_dir=_absolute(kept or run_dir))
        if kept is not None and out is not None:  # a default name taken meanwhile was ours to change
            logged_as = f" (logged as run {run_id})" if run_id else ""
            raise DataError(f"--out {out}: a folder appeared there during training and is left as it is; the "
                            f"finished run is kept as {kept}{logged_as}")
    return RunResult(kept or run_dir, metrics, clf.history_, cfg, clf, run_id, dropped)


def _scores(metrics: dict) -> dict:
    """The headline scores that the overfitting verdict and the log compare across sets."""
    return {k: metrics[k] for k in ("accuracy", "f1_macro", "f1_weighted", "loss")}


def _write_history_csv(path: Path, history: list[dict]) -> None:
    if not history:
        path.write_text("", encoding="utf-8")
        return
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)


def load_run(run_dir: str | Path, device: str = "auto", engine: str = "auto") -> TweetClassifier:
    """The model of a run directory (or of a bare model folder), on ``device`` with ``engine``
    (`TweetClassifier.load`)."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise ModelError(f"{run_dir}: no such run directory; `tweetsent train` prints the one it writes")
    return TweetClassifier.load(run_dir, device=device, engine=engine)


def evaluate_run(run_dir: str | Path, data_path: str | Path, predictions_out: str | Path | None = None,
                 log=None, device: str = "auto", engine: str = "auto") -> dict:
    """Every metric of a trained run on another labelled file (recorded in ``log`` if given), predicted on
    ``device`` with ``engine`` (`TweetClassifier.load`).

    Rows with an empty tweet follow the run's ``data.empty``; ``metrics["data"]["dropped_empty"]``
    counts those left out.
    """
    from tweetsent.evaluation.metrics import compute_metrics

    if predictions_out:
        check_output_file(predictions_out, "--predictions", inputs=[data_path])
    clf = load_run(run_dir, device, engine)
    cfg = clf.config_
    data = read_dataset(data_path, cfg.data.text_column, cfg.data.label_column, empty=cfg.data.empty)
    train_like = Dataset([], np.asarray(clf.classes_), "the model's training data", "", "")
    check_compatible(train_like, data)
    sha = sha256_file(data_path)
    with _Logged(log, kind="evaluate", config=cfg.to_dict(), data={"eval": Path(data_path).resolve()},
                 fingerprints={"eval": sha, **({"embeddings": clf.embeddings_fingerprint()}
                                               if clf.embeddings_fingerprint() else {})},
                 run_dir=_absolute(run_dir), name=cfg.name or None) as logged:
        proba = clf.predict_proba(data.texts)
        metrics = compute_metrics(data.labels, proba, clf.classes_, thresholds=clf.decision(), names=class_names(clf))
        metrics["data"] = {"path": str(Path(data_path).resolve()), "sha256": sha,
                           "dropped_empty": getattr(data, "dropped_empty", 0)}
        if predictions_out:
            with atomic_path(Path(predictions_out)) as tmp:
                write_predictions(tmp, data.texts, proba, clf.classes_, data.labels, class_names(clf))
        logged.finish(metrics=metrics)
    return metrics


def predict_file(run_dir: str | Path, data: str | Path, out, chunk_size: int = CHUNK_SIZE,
                 text_column: str | None = None, device: str = "auto", engine: str = "auto") -> int:
    """Label a big table (or stdin with ``data="-"``) chunk by chunk, in flat memory.

    Writes CSV with one row per input row, in order: columns ``text``, ``label``, ``label_name``
    (only when the model's classes are named), ``p_<class>`` (4 decimals) and ``empty``. A tweet
    that is empty or only whitespace is not guessed at: its ``label`` (and name) and probabilities
    are left empty (null) and ``empty`` is ``true`` (``false`` on every other row). ``out`` is a
    path or a binary stream. A path is checked before any work (not a folder, not the input file)
    and written through `atomic_path`: an existing file is replaced when the output is complete, a
    symbolic link is written through to its target, a device or FIFO in place.

    One chunk of ``chunk_size`` tweets is held at a time, and the model featurises it a bounded
    batch at a time (`tweetsent.features.featurizer.FEATURE_BATCH`), so memory does not grow with the input.
    Many files at once, on Dask: `tweetsent.runs.distributed.predict_partitions`. The model predicts
    on ``device`` with ``engine`` (`TweetClassifier.load`).

    Returns
    -------
    int
        The number of rows written (empty tweets included).
    """
    from pyarrow import csv

    if isinstance(out, (str, Path)):
        check_output_file(out, "--out", inputs=[data])
    clf = load_run(run_dir, device, engine)
    column = clf.config_.data.text_column if text_column is None else text_column
    schema = prediction_schema(clf.classes_, class_names(clf))

    def _write(sink) -> int:
        count = 0
        with csv.CSVWriter(sink, schema) as writer:
            for texts in iter_text_chunks(data, column, chunk_size):
                writer.write_table(label_chunk(clf, texts, schema))
                count += len(texts)
        return count

    if isinstance(out, (str, Path)):
        with atomic_path(Path(out)) as tmp, open(tmp, "wb") as sink:
            return _write(sink)
    return _write(out)
