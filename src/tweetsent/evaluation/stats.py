"""Is model B really better than model A on these tweets? Paired bootstrap and McNemar's test.

    compare_pair(y_true, pred_a, pred_b, "A", "B")["accuracy"]["statement"]
    # 'B is more accurate than A by 2.1 points (95% CI 0.8 to 3.4; McNemar p = 0.002): ...'

Both models are scored on the same tweets, so the comparison is paired: the bootstrap
resamples tweets (not each model's scores separately) and McNemar's test looks only at the
tweets on which the two models disagree. Everything returned is plain data (floats, ints,
strings), ready for JSON, tables and reports.
"""

from __future__ import annotations

import numpy as np

from tweetsent.evaluation.confusion import class_f1

__all__ = ["paired_bootstrap", "mcnemar", "compare_pair", "METRICS"]

METRICS = ("accuracy", "f1_macro")

# Below this many discordant tweets the chi-square approximation is poor: use the exact test.
_EXACT_BELOW = 25
# Resampled index matrices are built in blocks of about this many cells to bound memory.
_BLOCK_CELLS = 2_000_000


def _encode(y_true, pred_a, pred_b, labels=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray]:
    """Labels of any type (compared as strings) as integer codes 0..k-1 shared by the three vectors.

    Returns the three (n,) code vectors, k, and the codes macro F1 averages over: ``labels``
    when given (as `compute_metrics` does with the model's classes), else every label seen.
    """
    arrays = [np.asarray(v).astype(str) for v in (y_true, pred_a, pred_b)]
    n = len(arrays[0])
    if n == 0 or any(len(a) != n for a in arrays):
        raise ValueError(f"need three non-empty vectors of one length, got {[len(a) for a in arrays]}")
    extra = np.asarray([] if labels is None else list(labels)).astype(str)
    classes, codes = np.unique(np.concatenate(arrays + [extra]), return_inverse=True)
    codes = codes[:3 * n].reshape(3, n)
    present = np.arange(len(classes)) if labels is None else np.searchsorted(classes, np.unique(extra))
    return codes[0], codes[1], codes[2], len(classes), present


def _score(metric: str, truth: np.ndarray, pred: np.ndarray, k: int, present: np.ndarray) -> np.ndarray:
    if metric == "accuracy":
        return (truth == pred).mean(axis=1)
    f1, _ = class_f1(truth, pred, k)  # (r, k); averaged over the classes present in the data
    return f1[:, present].mean(axis=1)


def paired_bootstrap(y_true, pred_a, pred_b, metric: str = "accuracy", n_resamples: int = 2000, seed: int = 0,
                     confidence: float = 0.95, labels=None) -> dict:
    """Difference ``metric(b) - metric(a)`` with a percentile bootstrap CI over resampled tweets.

    Parameters
    ----------
    y_true, pred_a, pred_b : array-like
        (n,) true labels and the two models' predicted labels for the same tweets.
    metric : {"accuracy", "f1_macro"}
        The score to compare.
    n_resamples : int
        Bootstrap resamples; each draws n tweets with replacement, the same tweets for both models.
    seed : int
        Seed of the resampling; the same seed gives the same interval.
    confidence : float
        Coverage of the interval, default 0.95.
    labels : sequence, optional
        The classes macro F1 averages over (default: every label seen); pass the model's
        classes to match ``metrics.json``.

    Returns
    -------
    dict
        ``metric``, ``a`` and ``b`` (scores on all tweets), ``difference`` (b - a), ``ci_low``,
        ``ci_high``, ``confidence``, ``n_resamples``, ``seed``, ``n``, ``p_b_better`` (share of
        resamples where b scores higher) and ``significant`` (the interval excludes 0).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    truth, a, b, k, present = _encode(y_true, pred_a, pred_b, labels)
    n = len(truth)
    full_a = float(_score(metric, truth[None], a[None], k, present)[0])
    full_b = float(_score(metric, truth[None], b[None], k, present)[0])

    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_CELLS // n)
    diffs = []
    for start in range(0, n_resamples, block):
        idx = rng.integers(0, n, size=(min(block, n_resamples - start), n))  # (r, n) tweets drawn
        diffs.append(_score(metric, truth[idx], b[idx], k, present) - _score(metric, truth[idx], a[idx], k, present))
    diffs = np.concatenate(diffs)
    tail = (1 - confidence) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    return {"metric": metric, "a": full_a, "b": full_b, "difference": full_b - full_a,
            "ci_low": float(low), "ci_high": float(high), "confidence": confidence,
            "n_resamples": int(n_resamples), "seed": seed, "n": int(n),
            "p_b_better": float((diffs > 0).mean()), "significant": bool(low > 0 or high < 0)}


def mcnemar(y_true, pred_a, pred_b) -> dict:
    """McNemar's test of equal accuracy on paired predictions.

    Only the discordant tweets count: ``b01`` (A right, B wrong) and ``b10`` (A wrong, B right).
    With fewer than 25 of them the p-value is the exact two-sided binomial test of
    ``b10 ~ Binomial(b01 + b10, 1/2)``; otherwise the chi-square statistic with continuity
    correction, ``(|b01 - b10| - 1)**2 / (b01 + b10)``, on one degree of freedom.

    Parameters
    ----------
    y_true, pred_a, pred_b : array-like
        (n,) true labels and the two models' predictions.

    Returns
    -------
    dict
        ``b01``, ``b10``, ``both_right``, ``both_wrong``, ``n``, ``method`` ("exact" or
        "chi2"), ``statistic`` (chi-square value, or None for the exact test) and ``p_value``.
    """
    from scipy import stats

    truth, a, b, _, _ = _encode(y_true, pred_a, pred_b)
    right_a, right_b = a == truth, b == truth
    b01, b10 = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
    discordant = b01 + b10
    if discordant == 0:
        method, statistic, p = "exact", None, 1.0
    elif discordant < _EXACT_BELOW:
        method, statistic = "exact", None
        p = float(stats.binomtest(b10, discordant, 0.5).pvalue)
    else:
        method = "chi2"
        statistic = (abs(b01 - b10) - 1) ** 2 / discordant
        p = float(stats.chi2.sf(statistic, df=1))
    return {"b01": b01, "b10": b10, "both_right": int((right_a & right_b).sum()),
            "both_wrong": int((~right_a & ~right_b).sum()), "n": int(len(truth)), "method": method,
            "statistic": None if statistic is None else float(statistic), "p_value": min(p, 1.0)}


def _points(x: float) -> str:
    return f"{round(100 * x, 1) + 0.0:.1f}"  # + 0.0 turns a rounded -0.0 into 0.0


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _statement(metric: str, boot: dict, name_a: str, name_b: str, p_value: float | None, alpha: float) -> tuple[str, bool]:
    """One sentence on the difference, and whether it is statistically meaningful."""
    diff, low, high = boot["difference"], boot["ci_low"], boot["ci_high"]
    if diff < 0:  # say it the way round that makes the difference positive
        name_a, name_b, diff, low, high = name_b, name_a, -diff, -high, -low
    ci = f"{boot['confidence']:.0%} CI {_points(low)} to {_points(high)}"
    if p_value is not None:
        ci += f"; McNemar {_p(p_value)}"
    what = "accuracy" if metric == "accuracy" else "macro F1"
    if diff == 0:
        head = f"{name_a} and {name_b} have the same {what}"
    elif metric == "accuracy":
        head = f"{name_b} is more accurate than {name_a} by {_points(diff)} points"
    else:
        head = f"{name_b} has a higher macro F1 than {name_a} by {_points(diff)} points"
    ci_clear = boot["significant"]
    test_clear = p_value is None or p_value < alpha
    on = f"on these {boot['n']} tweets"
    if ci_clear and test_clear:
        return f"{head} ({ci}): a real difference {on}.", True
    if ci_clear or (p_value is not None and test_clear):
        why = "the CI excludes 0 but McNemar's test does not reach 5%" if ci_clear else \
            "McNemar's test is below 5% but the CI includes 0"
        return f"{head} ({ci}): borderline {on}; {why}.", False
    return f"{head} ({ci}): the CI includes 0: no evidence of a difference {on}.", False


def compare_pair(y_true, pred_a, pred_b, name_a: str = "A", name_b: str = "B", n_resamples: int = 2000,
                 seed: int = 0, alpha: float = 0.05, labels=None) -> dict:
    """Accuracy and macro F1 of two models on the same tweets, with tests and plain-words verdicts.

    A difference in accuracy counts as real when the bootstrap CI excludes 0 and McNemar's
    p < ``alpha``; one in macro F1 when its bootstrap CI excludes 0.

    Parameters
    ----------
    y_true, pred_a, pred_b : array-like
        (n,) true labels and the predictions of models A and B.
    name_a, name_b : str
        Names used in the sentences.
    n_resamples, seed : int
        Bootstrap settings (see `paired_bootstrap`).
    labels : sequence, optional
        The model's classes, for macro F1 (see `paired_bootstrap`).
    alpha : float
        Significance level; the interval's confidence is ``1 - alpha``.

    Returns
    -------
    dict
        ``a``, ``b`` (names), ``n``, ``mcnemar`` and, for ``accuracy`` and ``f1_macro``, a dict
        with ``bootstrap``, ``significant`` and ``statement``.
    """
    test = mcnemar(y_true, pred_a, pred_b)
    out: dict = {"a": name_a, "b": name_b, "n": test["n"], "mcnemar": test}
    for metric in METRICS:
        boot = paired_bootstrap(y_true, pred_a, pred_b, metric, n_resamples, seed, 1 - alpha, labels)
        p_value = test["p_value"] if metric == "accuracy" else None
        statement, significant = _statement(metric, boot, name_a, name_b, p_value, alpha)
        out[metric] = {"bootstrap": boot, "significant": significant, "statement": statement}
    return out
