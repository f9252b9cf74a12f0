"""Ensemble run directories: several runs' probabilities averaged into one model that evaluate and predict accept.

    metrics = build_ensemble_run(["runs/minilm", "runs/tfidf"], Path("runs/ens"), weights=[1, 1], val="val.csv")

The directory holds ``model/model.json`` (members and weights), ``config.toml``, ``run.json`` and
an empty ``history.json``; with a validation file also ``metrics.json``, ``predictions.csv`` and
figures, so that `compare` and `report` work on it as on a trained run. It is written through the
same atomic directory as a trained run: a folder that appears at ``out`` meanwhile is left as it is,
and the ensemble is kept beside it (an error says where).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from tweetsent.errors import DataError
from tweetsent.runs.outputs import check_can_create, run_owner
from tweetsent.runs.workflow import class_names, write_predictions
from tweetsent.util.files import DestinationTaken, atomic_dir, atomic_write_json, sha256_file
from tweetsent.util.meta import package_version

__all__ = ["build_ensemble_run"]


def build_ensemble_run(run_dirs: Sequence[str | Path], out: str | Path, weights: Sequence[float] | None = None,
                       val: str | Path | None = None, figures: bool = True) -> dict | None:
    """Write the ensemble directory ``out`` from trained runs.

    Parameters
    ----------
    run_dirs : sequence of path
        Two or more run directories with the same classes.
    out : path
        The directory to write; must not exist.
    weights : sequence of float, optional
        One weight per run (normalised to sum to 1); default equal.
    val : path, optional
        Labelled table: also write metrics, predictions and (with ``figures``) PNG figures.
    figures : bool
        Write the figures (with ``val``).

    Returns
    -------
    dict or None
        The ensemble's metrics on ``val``; None without ``val``.
    """
    import numpy as np
    import tomli_w

    from tweetsent.data.tables import Dataset, check_compatible, read_dataset
    from tweetsent.models.classifier import TweetClassifier

    out = Path(out)
    if out.exists():
        raise DataError(f"{out}: already exists; choose another --out or remove it")
    check_can_create(out, "--out")
    clock = time.perf_counter()
    ens = TweetClassifier.from_runs(run_dirs, weights)
    metrics = None
    info = {"name": out.name, "kind": "ensemble", "package_version": package_version(),
            "members": [str(p) for p in ens.model_.paths_], "weights": ens.model_.weights_, "classes": ens.classes_,
            "features": ens.identity(), "best_epoch": None, "epochs_run": 0}
    try:
        with atomic_dir(out, owner=run_owner()) as tmp:
            ens.save(tmp / "model")
            (tmp / "config.toml").write_text(tomli_w.dumps(ens.config_.to_dict()), encoding="utf-8")
            atomic_write_json(tmp / "history.json", [])
            if val is not None:
                from tweetsent.evaluation.metrics import compute_metrics

                data = read_dataset(val, ens.config_.data.text_column, ens.config_.data.label_column,
                                    empty=ens.config_.data.empty)
                check_compatible(Dataset([], np.asarray(ens.classes_), "the members' training data", "", ""), data)
                proba = ens.predict_proba(data.texts)
                metrics = compute_metrics(data.labels, proba, ens.classes_, thresholds=ens.decision(),
                                          names=class_names(ens))
                atomic_write_json(tmp / "metrics.json", metrics)
                write_predictions(tmp / "predictions.csv", data.texts, proba, ens.classes_, data.labels,
                                  class_names(ens))
                info["data"] = {"train": None, "val": str(Path(val).resolve()), "train_sha256": None,
                                "val_sha256": sha256_file(val), "n_train": 0, "n_val": len(data.texts),
                                "text_column": data.text_column, "label_column": data.label_column}
                if figures:
                    from tweetsent.reporting.plots import save_run_figures

                    save_run_figures(tmp / "figures", [], metrics, data.labels, proba, ens.classes_)
            info["seconds"] = round(time.perf_counter() - clock, 3)
            atomic_write_json(tmp / "run.json", info)
    except DestinationTaken as taken:
        raise DataError(f"--out {out}: a folder appeared there while the ensemble was written and is left as it "
                        f"is; the ensemble is kept as {taken.kept}") from None
    return metrics
