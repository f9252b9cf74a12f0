"""Learning curves: how a model's scores grow with the size of its training set.

    rows = learning_curve(resolve_config("seed-softmax"), "train.csv", "val.csv")
    # [{"fraction": 0.1, "n_train": 1597, "train_f1_macro": ..., "val_f1_macro": ..., ...}, ...]
    write_learning_curve(resolve_config("seed-softmax"), "train.csv", "val.csv", "lc")["csv"]  # lc/learning_curve.csv

For each fraction a stratified, seeded sample of the training file is drawn (nested: the
10% sample is inside the 20% one), the configured model is trained on it, and scored on that
sample and on the validation file. The study drew these "score curves" for its softmax
regression; here they work for every model kind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from tweetsent.config.settings import RunConfig
from tweetsent.data.tables import check_compatible, read_dataset
from tweetsent.errors import ConfigError
from tweetsent.models.classifier import TweetClassifier
from tweetsent.runs.outputs import check_can_create

__all__ = [
    "CURVE_METRICS",
    "DEFAULT_FRACTIONS",
    "learning_curve",
    "nested_samples",
    "save_curve_figure",
    "write_learning_curve",
]

DEFAULT_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
CURVE_METRICS = ("f1_macro", "f1_weighted", "accuracy", "loss")  # the scores a curve can plot


def nested_samples(labels: np.ndarray, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Row indices for each fraction: stratified by class, each sample inside the next larger one."""
    rng = np.random.default_rng(seed)
    # One random order per class; a fraction takes the first share of every class.
    orders = {c: rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)}
    out = []
    for frac in fractions:
        take = [order[:max(1, round(frac * len(order)))] for order in orders.values()]
        out.append(np.sort(np.concatenate(take)))
    return out


def learning_curve(cfg: RunConfig, train_path: str | Path, val_path: str | Path,
                   fractions: Sequence[float] = DEFAULT_FRACTIONS,
                   on_step: Callable[[dict], None] | None = None) -> list[dict]:
    """Train on growing stratified samples and score each model on its sample and the validation file.

    Parameters
    ----------
    cfg : RunConfig
        The model to train at every size (``train.seed`` also seeds the samples).
    train_path, val_path : path
        Labelled tables.
    fractions : sequence of float
        Shares of the training file, in (0, 1].
    on_step : callable, optional
        Called with each row as it is finished (progress display).

    Returns
    -------
    list of dict
        One row per fraction: fraction, n_train, seconds, and accuracy, f1_macro, f1_weighted
        and loss on the training sample (``train_*``) and on the validation file (``val_*``).
    """
    import time

    from tweetsent.evaluation.metrics import compute_metrics

    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise ConfigError(f"--fractions {list(fractions)}: every fraction must be in (0, 1]")
    train = read_dataset(train_path, cfg.data.text_column, cfg.data.label_column, empty=cfg.data.empty)
    val = read_dataset(val_path, cfg.data.text_column, cfg.data.label_column, empty=cfg.data.empty)
    check_compatible(train, val)
    rows = []
    for frac, idx in zip(fractions, nested_samples(train.labels, sorted(fractions), cfg.train.seed)):
        started = time.perf_counter()
        texts, labels = [train.texts[i] for i in idx], train.labels[idx]
        clf = TweetClassifier(cfg).fit(texts, labels)
        row = {"fraction": frac, "n_train": len(idx)}
        for prefix, (x, y) in (("train", (texts, labels)), ("val", (val.texts, val.labels))):
            m = compute_metrics(y, clf.predict_proba(x), clf.classes_)
            row.update({f"{prefix}_{k}": m[k] for k in ("accuracy", "f1_macro", "f1_weighted", "loss")})
        row["seconds"] = time.perf_counter() - started
        rows.append(row)
        if on_step:
            on_step(row)
    return rows


def save_curve_figure(rows: Sequence[dict], metric: str, title: str, path: Path) -> Path:
    """Draw the curve of ``metric`` (training sample and validation) into the PNG ``path``, atomically."""
    from tweetsent.reporting.plots import learning_curve_figure
    from tweetsent.util.files import atomic_path

    with atomic_path(path) as tmp:
        learning_curve_figure(rows, metric, title).savefig(tmp, dpi=110, format="png")
    return path


def write_learning_curve(cfg: RunConfig, train_path: str | Path, val_path: str | Path, out: str | Path,
                         fractions: Sequence[float] = DEFAULT_FRACTIONS, metric: str = "f1_macro",
                         on_step: Callable[[dict], None] | None = None) -> dict:
    """Compute a learning curve and write ``learning_curve.csv``, ``.json`` and ``.png`` into ``out``.

    The metric and the output folder are checked before anything is trained.

    Parameters
    ----------
    cfg : RunConfig
        The model to train at every size.
    train_path, val_path : path
        Labelled tables.
    out : path
        Folder to write (created if missing).
    fractions : sequence of float
        Shares of the training file, in (0, 1].
    metric : str
        The score the figure plots: one of `CURVE_METRICS`.
    on_step : callable, optional
        Called with each row as it is finished (progress display).

    Returns
    -------
    dict
        ``rows`` (as `learning_curve` returns them) and the paths ``csv``, ``json`` and ``png``.
    """
    import pandas as pd

    from tweetsent.util.files import atomic_path, atomic_write_json

    if metric not in CURVE_METRICS:
        raise ConfigError(f"--metric {metric!r} is not one of: {', '.join(CURVE_METRICS)}")
    out = Path(out)
    check_can_create(out, "--out")
    rows = learning_curve(cfg, train_path, val_path, fractions, on_step=on_step)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "learning_curve.csv", "json": out / "learning_curve.json", "png": out / "learning_curve.png"}
    with atomic_path(paths["csv"]) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    atomic_write_json(paths["json"], {"config": cfg.to_dict(), "rows": rows})
    save_curve_figure(rows, metric, f"Learning curve: {cfg.name or 'run'}", paths["png"])
    return {"rows": rows, **paths}
