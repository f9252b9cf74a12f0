"""Compare run directories scored on the same validation tweets: one table, honest statistics.

    result = compare_runs(["runs/a", "runs/b"])
    result["table"][0]                      # {"key": "accuracy", "values": {"a": 0.71, "b": 0.73}, ...}
    result["pairs"][0]["accuracy"]["statement"]

Every number in the table is read from the runs' own files (``metrics.json``, ``run.json``);
nothing is recomputed. The pairwise tests (`tweetsent.evaluation.stats`) use ``predictions.csv``, and
the overfitting verdicts (`tweetsent.evaluation.overfit`) use ``history.json`` and ``metrics.json``.
"""

from __future__ import annotations

import itertools
import json
import tomllib
from collections.abc import Sequence
from pathlib import Path

from tweetsent.data.labels import class_text
from tweetsent.errors import DataError, ModelError
from tweetsent.evaluation.overfit import overfit_verdict
from tweetsent.evaluation.stats import compare_pair

__all__ = ["load_run_summary", "compare_runs", "compare_summaries", "METRIC_ROWS"]

# (key in metrics.json, label, which way is better); per-class F1 rows follow these.
METRIC_ROWS = (
    ("accuracy", "accuracy", "higher"),
    ("f1_macro", "F1 macro", "higher"),
    ("f1_weighted", "F1 weighted", "higher"),
    ("f1_micro", "F1 micro", "higher"),
    ("precision_macro", "precision macro", "higher"),
    ("recall_macro", "recall macro", "higher"),
    ("precision_weighted", "precision weighted", "higher"),
    ("recall_weighted", "recall weighted", "higher"),
    ("loss", "cross-entropy loss", "lower"),
    ("roc_auc_macro", "ROC AUC macro (one-vs-rest)", "higher"),
)
_REQUIRED = ("accuracy", "f1_macro", "loss", "per_class", "confusion_matrix", "labels", "n")


def _read_json(path: Path, fix: str):
    if not path.exists():
        raise ModelError(f"{path}: missing; {fix}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: cannot be read as JSON ({exc}); the run directory is damaged, retrain it") from exc


def _read_predictions(path: Path, labels: list[str], n: int):
    import pandas as pd

    if not path.exists():
        raise ModelError(f"{path}: missing; the pairwise tests need each tweet's prediction, retrain with --val")
    try:
        # strings throughout: tweets such as "null" stay text, labels compare as metrics.json writes them
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ModelError(f"{path}: cannot be read as CSV ({exc}); the run directory is damaged") from exc
    needed = ["text", "label", "predicted"] + [f"p_{c}" for c in labels]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ModelError(f"{path}: no column(s) {', '.join(missing)}; found {', '.join(frame.columns)}")
    if len(frame) != n:
        raise ModelError(f"{path}: {len(frame)} rows but metrics.json counts {n} validation tweets; the run "
                         f"directory is inconsistent, retrain it")
    try:
        for c in labels:
            frame[f"p_{c}"] = frame[f"p_{c}"].astype(float)
    except ValueError as exc:
        raise ModelError(f"{path}: a probability column is not numeric ({exc})") from exc
    return frame


def load_run_summary(run_dir: str | Path) -> dict:
    """Everything a comparison or report needs from one run directory, checked.

    Parameters
    ----------
    run_dir : path
        A directory written by `tweetsent.runs.workflow.train_run` with a validation file.

    Returns
    -------
    dict
        ``dir``, ``name`` (run.json's name, else the folder's), ``config`` (dict) and
        ``config_toml`` (text), ``run`` (run.json), ``history`` (list of per-epoch dicts),
        ``metrics`` (metrics.json) and ``predictions`` (a DataFrame of predictions.csv with
        string labels and float ``p_<class>`` columns).

    Raises
    ------
    ModelError
        A file is missing or cannot be read; the message names it.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ModelError(f"{run_dir}: no such run directory; `tweetsent train` prints the one it writes")
    config_path = run_dir / "config.toml"
    if not config_path.exists():
        raise ModelError(f"{config_path}: missing; is {run_dir} a run directory made by `tweetsent train`?")
    try:
        config_toml = config_path.read_text(encoding="utf-8")
        config = tomllib.loads(config_toml)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"{config_path}: cannot be read as TOML ({exc}); the run directory is damaged") from exc
    run = _read_json(run_dir / "run.json", f"is {run_dir} a run directory made by `tweetsent train`?")
    history = _read_json(run_dir / "history.json", "the run directory is incomplete, retrain it")
    metrics = _read_json(run_dir / "metrics.json",
                         "this run has no validation metrics (trained without --val?); retrain it with --val")
    if not isinstance(run, dict) or not isinstance(history, list) or not isinstance(metrics, dict):
        raise ModelError(f"{run_dir}: run.json, history.json or metrics.json has the wrong shape; retrain the run")
    missing = [key for key in _REQUIRED if key not in metrics]
    if missing:
        raise ModelError(f"{run_dir / 'metrics.json'}: no {', '.join(missing)}; it was not written by tweetsent")
    predictions = _read_predictions(run_dir / "predictions.csv", metrics["labels"], metrics["n"])
    return {"dir": str(run_dir), "name": run.get("name") or run_dir.name, "config": config,
            "config_toml": config_toml, "run": run, "history": history, "metrics": metrics,
            "predictions": predictions}


def _unique_names(summaries: Sequence[dict]) -> list[str]:
    """run.json names, with the folder added where two runs share one (and the path if still equal)."""
    given = [s["name"] for s in summaries]
    names = []
    for s in summaries:
        folder = Path(s["dir"]).name
        names.append(s["name"] if given.count(s["name"]) == 1 or folder == s["name"] else f"{s['name']} ({folder})")
    return [s["dir"] if names.count(name) > 1 else name for s, name in zip(summaries, names)]


def _check_same_data(summaries: Sequence[dict], names: Sequence[str]) -> None:
    def identity(s):
        data = s["run"].get("data") or {}
        return data.get("val_sha256"), s["metrics"]["n"], tuple(s["metrics"]["labels"])

    first = summaries[0]["predictions"]
    same = len({identity(s) for s in summaries}) == 1 and all(
        s["predictions"]["label"].equals(first["label"]) and s["predictions"]["text"].equals(first["text"])
        for s in summaries[1:])
    if same:
        return
    lines = []
    for s, name in zip(summaries, names):
        sha, n, labels = identity(s)
        val = (s["run"].get("data") or {}).get("val") or "an unknown file"
        lines.append(f"{name} ({s['dir']}) used {val} (sha256 {str(sha)[:12]}, {n} tweets, "
                     f"classes {', '.join(labels)})")
    raise DataError("these runs were evaluated on different validation data, so their scores cannot be "
                    "compared: " + "; ".join(lines) + ". Train them with the same --val file")


def _row(key: str, label: str, better: str | None, values: dict) -> dict:
    best: list[str] = []
    known = {k: v for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if better and len(known) > 1 and len(set(known.values())) > 1:  # a tie of all runs marks none
        target = (max if better == "higher" else min)(known.values())
        best = [k for k, v in known.items() if v == target]
    return {"key": key, "label": label, "better": better, "values": values, "best": best}


def _table(summaries: Sequence[dict], names: Sequence[str], verdicts: dict) -> list[dict]:
    by_name = dict(zip(names, summaries))
    rows = [_row(key, label, better, {n: s["metrics"].get(key) for n, s in by_name.items()})
            for key, label, better in METRIC_ROWS]
    label_names = summaries[0]["metrics"].get("label_names")
    for cls in summaries[0]["metrics"]["labels"]:
        for part in ("f1", "precision", "recall"):
            rows.append(_row(f"per_class.{cls}.{part}", f"{part} class {class_text(cls, label_names)}", "higher",
                             {n: s["metrics"]["per_class"][cls][part] for n, s in by_name.items()}))
    if any("train" in s["metrics"] for s in summaries):
        for key in ("accuracy", "f1_macro", "loss"):
            rows.append(_row(f"train.{key}", f"train {key.replace('_', ' ')}", None,
                             {n: (s["metrics"].get("train") or {}).get(key) for n, s in by_name.items()}))
    rows.append(_row("seconds", "training seconds", "lower", {n: s["run"].get("seconds") for n, s in by_name.items()}))
    rows.append(_row("best_epoch", "best epoch (kept model)", None,
                     {n: s["run"].get("best_epoch") for n, s in by_name.items()}))
    rows.append(_row("lowest_val_loss_epoch", "epoch of lowest validation loss", None,
                     {n: verdicts[n]["best_epoch"] for n in names}))
    rows.append(_row("epochs_run", "epochs run", None, {n: s["run"].get("epochs_run") for n, s in by_name.items()}))
    rows.append(_row("overfit", "overfitting verdict", None, {n: verdicts[n]["verdict"] for n in names}))
    return rows


def _verdict(summary: dict) -> dict:
    """The verdict run.json recorded when the run was made; worked out the same way for older runs."""
    stored = summary["run"].get("overfit")
    if isinstance(stored, dict) and "verdict" in stored:
        return stored
    return overfit_verdict(summary["history"], summary["metrics"].get("train"), summary["metrics"])


def compare_summaries(summaries: Sequence[dict], n_resamples: int = 2000, seed: int = 0) -> dict:
    """`compare_runs` on runs already read with `load_run_summary`."""
    if not summaries:
        raise DataError("no run directories to compare")
    dirs = [str(Path(s["dir"]).resolve()) for s in summaries]
    if len(set(dirs)) < len(dirs):
        raise DataError("the same run directory is given twice: " + ", ".join(s["dir"] for s in summaries))
    names = _unique_names(summaries)
    _check_same_data(summaries, names)
    verdicts = {n: _verdict(s) for n, s in zip(names, summaries)}
    labels = summaries[0]["metrics"]["labels"]
    y_true = summaries[0]["predictions"]["label"].to_numpy()
    pairs = [compare_pair(y_true, sa["predictions"]["predicted"].to_numpy(), sb["predictions"]["predicted"].to_numpy(),
                          na, nb, n_resamples=n_resamples, seed=seed, labels=labels)
             for (na, sa), (nb, sb) in itertools.combinations(zip(names, summaries), 2)]
    data = summaries[0]["run"].get("data") or {}
    return {
        "runs": [{"name": n, "dir": s["dir"], "config": s["config"], "run": s["run"], "history": s["history"],
                  "metrics": s["metrics"]} for n, s in zip(names, summaries)],
        "names": names, "labels": labels, "label_names": summaries[0]["metrics"].get("label_names") or {},
        "n": summaries[0]["metrics"]["n"],
        "val": data.get("val"), "val_sha256": data.get("val_sha256"),
        "table": _table(summaries, names, verdicts), "overfit": verdicts, "pairs": pairs,
    }


def compare_runs(run_dirs: Sequence[str | Path], n_resamples: int = 2000, seed: int = 0) -> dict:
    """Every metric of several runs side by side, and paired tests for each pair of runs.

    Parameters
    ----------
    run_dirs : sequence of path
        Run directories scored on the same validation file (one is allowed: no pairs then).
    n_resamples, seed : int
        Bootstrap settings for the pairwise tests.

    Returns
    -------
    dict
        ``names`` (one per run: run.json's name, plus the folder when two share it), ``runs``
        (name, dir, config, run, history, metrics per run), ``labels``, ``label_names`` (the first
        run's ``{class: name}``, ``{}`` when unnamed), ``n``, ``val``,
        ``val_sha256``, ``table`` (rows of {key, label, better, values: {name: value}, best:
        [names]}: every scalar metric, per-class F1/precision/recall, train scores when
        recorded, training seconds, best epoch, epoch of lowest validation loss, epochs run,
        overfitting verdict), ``overfit``
        ({name: `overfit_verdict` dict}) and ``pairs`` (`tweetsent.evaluation.stats.compare_pair` per pair,
        A before B in the order given).

    Raises
    ------
    DataError
        The runs were scored on different validation data, or a directory is given twice.
    ModelError
        A run directory is missing a file or holds a corrupt one.
    """
    return compare_summaries([load_run_summary(d) for d in run_dirs], n_resamples, seed)
