"""Post-hoc decisions fitted on held-out training tweets: temperature scaling and per-class thresholds.

    fit_idx, hold_idx = holdout_split(labels, share=0.1, seed=0)
    T = fit_temperature(holdout_logits, holdout_y)             # softmax(logits / T) is calibrated
    w = fit_thresholds(softmax(holdout_logits / T), holdout_y) # (n_classes,) weights, max macro F1
    proba = apply_thresholds(proba, w)                         # p * w, renormalised

Both are learned on a stratified share of the *training* file, never on the file that is
reported. Thresholds are multiplicative weights per class: ``argmax(p * w)`` is the decision,
and ``p * w`` renormalised is the probability reported (a shift of the class priors), so every
consumer of the probabilities sees the same decision.
"""

from __future__ import annotations

import numpy as np

from tweetsent.evaluation.confusion import macro_f1

__all__ = ["holdout_split", "fit_temperature", "fit_thresholds", "apply_thresholds", "softmax"]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def holdout_split(y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit indices, holdout indices): a stratified, seeded split with at least one tweet per class held out
    where the class has two or more."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    fit, hold = [], []
    for cls in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == cls))
        k = min(max(1, int(round(share * len(rows)))), len(rows) - 1)
        hold.append(rows[:k])
        fit.append(rows[k:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(hold))


def _nll(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    p = softmax(logits / temperature)
    return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-15, None)).mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature T > 0 minimising the log loss of ``softmax(logits / T)``.

    Parameters
    ----------
    logits : np.ndarray
        (n, n_classes) raw scores on held-out tweets.
    y : np.ndarray
        (n,) class indices.

    Returns
    -------
    float
        T in [0.05, 20]; 1 leaves the model as it is, T > 1 softens an over-confident one.
    """
    from scipy.optimize import minimize_scalar

    logits, y = np.asarray(logits, np.float64), np.asarray(y)
    result = minimize_scalar(lambda log_t: _nll(logits, y, float(np.exp(log_t))), bounds=(np.log(0.05), np.log(20.0)),
                             method="bounded", options={"xatol": 1e-4})
    t = float(np.exp(result.x))
    return t if _nll(logits, y, t) <= _nll(logits, y, 1.0) else 1.0


def fit_thresholds(proba: np.ndarray, y: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Per-class weights on the probabilities that maximise macro F1, by coordinate search.

    Each round tries, for one class at a time, weights on a log grid from 1/4 to 4 (the others
    fixed) and keeps the best; ties keep the weight nearest 1. Weights are scaled so the
    smallest is 1.

    Parameters
    ----------
    proba : np.ndarray
        (n, n_classes) probabilities on held-out tweets.
    y : np.ndarray
        (n,) class indices.

    Returns
    -------
    np.ndarray
        (n_classes,) float64 weights.
    """
    proba, y = np.asarray(proba, np.float64), np.asarray(y)
    n_classes = proba.shape[1]
    weights = np.ones(n_classes)
    grid = np.exp(np.linspace(np.log(0.25), np.log(4.0), 41))
    best = macro_f1(y, proba.argmax(axis=1), n_classes)
    for _ in range(rounds):
        improved = False
        for k in range(n_classes):
            for g in sorted(grid, key=lambda v: abs(np.log(v))):  # nearest 1 first: ties keep it
                trial = weights.copy()
                trial[k] = g
                score = macro_f1(y, (proba * trial).argmax(axis=1), n_classes)
                if score > best + 1e-12:
                    best, weights, improved = score, trial, True
        if not improved:
            break
    return weights / weights.min()


def apply_thresholds(proba: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """``proba * weights`` renormalised per row (unchanged when ``weights`` is None)."""
    if weights is None:
        return proba
    scaled = proba * np.asarray(weights, dtype=proba.dtype)[None, :]
    return scaled / np.maximum(scaled.sum(axis=1, keepdims=True), 1e-30)
