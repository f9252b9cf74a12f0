"""Classification scores as plain data, computed once with scikit-learn and rendered anywhere.

    m = compute_metrics(y_true, proba, classes=[0, 1, 2])
    m["f1_macro"], m["per_class"]["1"]["f1"], m["confusion_matrix"], m["ece"]
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

__all__ = ["compute_metrics", "calibration_bins", "expected_calibration_error", "SCALAR_METRICS"]

SCALAR_METRICS = ("accuracy", "precision_weighted", "recall_weighted", "f1_weighted",
                  "precision_macro", "recall_macro", "f1_macro", "f1_micro", "loss", "roc_auc_macro")


def calibration_bins(y_true, proba: np.ndarray, classes: list, n_bins: int = 15) -> dict:
    """Confidence (top probability) against accuracy in ``n_bins`` equal-width bins ((i/M, (i+1)/M]).

    Returns
    -------
    dict
        ``count``, ``confidence`` (mean top probability), ``accuracy`` per bin (lists of
        ``n_bins``; None for an empty bin) and ``edges`` (``n_bins + 1``).
    """
    y_true = np.asarray(y_true)
    confidence = proba.max(axis=1)
    correct = np.asarray(classes, dtype=object)[proba.argmax(axis=1)].astype(y_true.dtype) == y_true
    index = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    count = np.bincount(index, minlength=n_bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        conf = np.bincount(index, weights=confidence, minlength=n_bins) / count
        acc = np.bincount(index, weights=correct.astype(float), minlength=n_bins) / count
    empty = count == 0
    return {"edges": np.linspace(0, 1, n_bins + 1).tolist(), "count": count.tolist(),
            "confidence": [None if e else float(v) for v, e in zip(conf, empty)],
            "accuracy": [None if e else float(v) for v, e in zip(acc, empty)]}


def expected_calibration_error(y_true, proba: np.ndarray, classes: list, n_bins: int = 15) -> float:
    """ECE: the count-weighted mean gap between accuracy and confidence over ``n_bins`` bins (Guo et al. 2017)."""
    bins = calibration_bins(y_true, proba, classes, n_bins)
    n = max(sum(bins["count"]), 1)
    return float(sum(c / n * abs(a - f) for c, a, f in zip(bins["count"], bins["accuracy"], bins["confidence"]) if c))


def compute_metrics(y_true, proba: np.ndarray, classes: list, thresholds: dict | None = None,
                    names: list[str] | None = None) -> dict:
    """Every score tweetsent reports, for one labelled set.

    Parameters
    ----------
    y_true : array-like
        (n,) true labels, values from ``classes``.
    proba : np.ndarray
        (n, n_classes) predicted probabilities, columns in the order of ``classes``.
    classes : list
        The model's classes.
    thresholds : dict, optional
        How the decisions were made (`TweetClassifier.decision`); copied under ``thresholds``
        so the numbers say whether tuned thresholds were applied.
    names : list of str, optional
        One name per class (`TweetClassifier.class_names_`), copied under ``label_names``.

    Returns
    -------
    dict
        Scalars (accuracy, precision/recall/F1 in weighted, macro and micro form, ``loss`` =
        cross-entropy of ``proba``, ``roc_auc_macro`` one-vs-rest), ``per_class`` (keyed by
        ``str(class)``: precision, recall, f1, support, roc_auc), ``confusion_matrix`` (rows:
        true, columns: predicted), ``labels``, ``n``, ``ece`` (expected calibration error,
        15 bins) and, when given, ``thresholds`` and ``label_names`` (``{str(class): name}``).
    """
    y_true = np.asarray(y_true)
    classes = list(classes)
    y_pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)].astype(y_true.dtype)
    out: dict = {"n": int(len(y_true)), "labels": [str(c) for c in classes],
                 "accuracy": float(skm.accuracy_score(y_true, y_pred))}
    for avg in ("weighted", "macro", "micro"):
        p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, labels=classes, average=avg, zero_division=0)
        if avg != "micro":
            out[f"precision_{avg}"], out[f"recall_{avg}"] = float(p), float(r)
        out[f"f1_{avg}"] = float(f)
    clipped = np.clip(proba, 1e-15, 1.0)
    out["loss"] = float(skm.log_loss(y_true, clipped / clipped.sum(axis=1, keepdims=True), labels=classes))
    onehot = (y_true[:, None] == np.asarray(classes, dtype=y_true.dtype)[None, :])
    aucs = [float(skm.roc_auc_score(onehot[:, k], proba[:, k])) if 0 < onehot[:, k].sum() < len(y_true) else None
            for k in range(len(classes))]
    known = [a for a in aucs if a is not None]
    out["roc_auc_macro"] = float(np.mean(known)) if known else None
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=classes, average=None, zero_division=0)
    out["per_class"] = {str(c): {"precision": float(p[k]), "recall": float(r[k]), "f1": float(f[k]),
                                 "support": int(s[k]), "roc_auc": aucs[k]} for k, c in enumerate(classes)}
    out["confusion_matrix"] = skm.confusion_matrix(y_true, y_pred, labels=classes).tolist()
    out["ece"] = expected_calibration_error(y_true, proba, classes) if len(y_true) else None
    if thresholds is not None:
        out["thresholds"] = thresholds
    if names is not None:
        if len(names) != len(classes):
            raise ValueError(f"{len(names)} class names for {len(classes)} classes; give one name per class")
        out["label_names"] = {str(c): str(name) for c, name in zip(classes, names)}
    return out
