"""Learning curves: how a model's scores grow with the size of its training set.

    rows = learning_curve(resolve_config("seed-softmax"), "train.csv", "val.csv")
    # [{"fraction": 0.1, "n_train": 1597, "train_f1_macro": ..., "val_f1_macro": ..., ...}, ...]

For each fraction a stratified, seeded sample of the training file is drawn (nested: the
10% sample is inside the 20% one), the configured model is trained on it, and scored on that
sample and on the validation file. The study drew these "score curves" for its softmax
regression; here they work for every model kind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from tweetsent.models.classifier import TweetClassifier
from tweetsent.config.settings import RunConfig
from tweetsent.data.tables import check_compatible, read_dataset
from tweetsent.errors import ConfigError

__all__ = ["learning_curve", "DEFAULT_FRACTIONS", "nested_samples"]

DEFAULT_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def nested_samples(labels: np.ndarray, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Row indices for each fraction: stratified by class, each sample inside the next larger one."""
    rng = np.random.default_rng(seed)
    # One random order per class; a fraction takes the first share of every class.
    orders = {c: rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)}
    out = []
    for frac in fractions:
        take = [order[:max(1, int(round(frac * len(order))))] for order in orders.values()]
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
    train = read_dataset(train_path, cfg.data.text_column, cfg.data.label_column)
    val = read_dataset(val_path, cfg.data.text_column, cfg.data.label_column)
    check_compatible(train, val)
    rows = []
    for frac, idx in zip(fractions, nested_samples(train.labels, sorted(fractions), cfg.train.seed)):
        started = time.perf_counter()
        texts, labels = [train.texts[i] for i in idx], train.labels[idx]
        clf = TweetClassifier(cfg).fit(texts, labels)
        row = {"fraction": frac, "n_train": int(len(idx))}
        for prefix, (x, y) in (("train", (texts, labels)), ("val", (val.texts, val.labels))):
            m = compute_metrics(y, clf.predict_proba(x), clf.classes_)
            row.update({f"{prefix}_{k}": m[k] for k in ("accuracy", "f1_macro", "f1_weighted", "loss")})
        row["seconds"] = time.perf_counter() - started
        rows.append(row)
        if on_step:
            on_step(row)
    return rows
