"""``tweetsent ensemble``: average the probabilities of several runs into one model directory.

    tweetsent ensemble runs/minilm runs/tfidf --out runs/ens --weights 1,1 --val val.csv

The directory holds ``model/model.json`` (members and weights), so `evaluate` and `predict`
accept it; with ``--val`` it also gets ``metrics.json``, ``predictions.csv``, ``run.json``,
``history.json`` (empty), ``config.toml`` and figures, so `compare` and `report` work on it.
Registered in `tweetsent.cli.main` as ``app.command("ensemble")(ensemble)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tweetsent.errors import TweetsentError

__all__ = ["ensemble", "build_ensemble_run"]


def _weights(text: Optional[str]) -> Optional[list[float]]:
    from tweetsent.errors import ConfigError

    if not text:
        return None
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise ConfigError(f"--weights {text!r}: give comma-separated numbers, e.g. 2,1") from exc


def build_ensemble_run(run_dirs: list[Path], out: Path, weights: Optional[list[float]] = None,
                       val: Optional[Path] = None, figures: bool = True) -> dict | None:
    """Write the ensemble directory ``out``; return its metrics on ``val`` (None without ``val``)."""
    import time

    import numpy as np
    import tomli_w

    from tweetsent.models.classifier import package_version
    from tweetsent.data.tables import Dataset, check_compatible, read_dataset
    from tweetsent.models.ensemble import EnsembleClassifier
    from tweetsent.errors import DataError
    from tweetsent.util.files import atomic_dir, atomic_write_json, sha256_file
    from tweetsent.runs.workflow import write_predictions

    if out.exists():
        raise DataError(f"{out}: already exists; choose another --out or remove it")
    clock = time.perf_counter()
    ens = EnsembleClassifier.from_runs(run_dirs, weights)
    metrics = None
    info = {"name": out.name, "kind": "ensemble", "package_version": package_version(),
            "members": [str(p) for p in ens.paths], "weights": ens.weights, "classes": ens.classes_,
            "features": ens.featurizer_.identity(), "best_epoch": None, "epochs_run": 0}
    with atomic_dir(out) as tmp:
        ens.save(tmp / "model")
        (tmp / "config.toml").write_text(tomli_w.dumps(ens.config_.to_dict()), encoding="utf-8")
        atomic_write_json(tmp / "history.json", [])
        if val is not None:
            from tweetsent.evaluation.metrics import compute_metrics

            data = read_dataset(val, ens.config_.data.text_column, ens.config_.data.label_column)
            check_compatible(Dataset([], np.asarray(ens.classes_), "the members' training data", "", ""), data)
            proba = ens.predict_proba(data.texts)
            metrics = compute_metrics(data.labels, proba, ens.classes_, thresholds=ens.decision())
            atomic_write_json(tmp / "metrics.json", metrics)
            write_predictions(tmp / "predictions.csv", data.texts, proba, ens.classes_, data.labels)
            info["data"] = {"train": None, "val": str(Path(val).resolve()), "train_sha256": None,
                            "val_sha256": sha256_file(val), "n_train": 0, "n_val": len(data.texts),
                            "text_column": data.text_column, "label_column": data.label_column}
            if figures:
                from tweetsent.reporting.plots import save_run_figures

                save_run_figures(tmp / "figures", [], metrics, data.labels, proba, ens.classes_)
        info["seconds"] = round(time.perf_counter() - clock, 3)
        atomic_write_json(tmp / "run.json", info)
    return metrics


def ensemble(
    run_dirs: Annotated[list[Path], typer.Argument(help="Two or more run directories (same classes).")],
    out: Annotated[Path, typer.Option("--out", help="The ensemble directory to write.")],
    weights: Annotated[Optional[str], typer.Option("--weights", help="Comma-separated weight per run (default: equal).")] = None,
    val: Annotated[Optional[Path], typer.Option("--val", help="Labelled table: also write metrics, predictions and figures.")] = None,
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="Write PNG figures (with --val).")] = True,
) -> None:
    """Average (optionally weighted) the probabilities of several runs into one model that evaluate/predict accept."""
    try:
        metrics = build_ensemble_run(run_dirs, out, _weights(weights), val, figures)
    except TweetsentError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    if metrics:
        typer.echo(f"accuracy {metrics['accuracy']:.4f}  macro F1 {metrics['f1_macro']:.4f}  on {val.name}")
    typer.echo(f"ensemble directory: {out}")
