"""Per-class F1 from confusion counts, for the places that score many times (every epoch, every
threshold tried, every bootstrap resample), where scikit-learn's input checks cost more than the
arithmetic. Equal to ``sklearn.metrics.f1_score(..., zero_division=0)`` (tested).

    f1, support = class_f1(truth, pred, n_classes)              # (k,), (k,)
    f1, support = class_f1(truth_rows, pred_rows, n_classes)    # (r, n) codes -> (r, k), (r, k)
"""

from __future__ import annotations

import numpy as np

__all__ = ["class_f1", "macro_f1"]


def class_f1(truth: np.ndarray, pred: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """F1 and support of each class, from integer codes in [0, n_classes); a class with no true and no
    predicted tweet scores 0. One row (n,) gives (k,) arrays, a matrix (r, n) gives (r, k)."""
    rows = np.ndim(truth) == 2
    truth, pred = np.atleast_2d(truth), np.atleast_2d(pred)
    r, k = truth.shape[0], n_classes
    cells = (np.arange(r)[:, None] * k + truth) * k + pred  # (r, n) flat cell index
    confusion = np.bincount(cells.ravel(), minlength=r * k * k).reshape(r, k, k)  # rows true, columns predicted
    tp = np.diagonal(confusion, axis1=1, axis2=2)  # (r, k)
    support = confusion.sum(axis=2)
    denom = support + confusion.sum(axis=1)  # true + predicted = 2tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros(tp.shape), where=denom > 0)
    return (f1, support) if rows else (f1[0], support[0])


def macro_f1(truth: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """Macro F1 over all ``n_classes`` classes of one set of predictions."""
    f1, _ = class_f1(np.asarray(truth), np.asarray(pred), n_classes)
    return float(np.mean(f1))
