"""Temperature scaling, tuned per-class thresholds, the holdout they are fitted on, and ECE."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tweetsent.config.resolve import resolve_config
from tweetsent.evaluation.metrics import compute_metrics, expected_calibration_error
from tweetsent.models.calibration import apply_thresholds, fit_temperature, fit_thresholds, holdout_split, softmax


def test_holdout_is_stratified_seeded_and_disjoint():
    y = np.array([0] * 50 + [1] * 10 + [2] * 40)
    fit, hold = holdout_split(y, 0.1, seed=3)
    assert len(np.intersect1d(fit, hold)) == 0 and len(fit) + len(hold) == 100
    assert np.bincount(y[hold]).tolist() == [5, 1, 4]
    np.testing.assert_array_equal(hold, holdout_split(y, 0.1, seed=3)[1])
    assert not np.array_equal(hold, holdout_split(y, 0.1, seed=4)[1])


def test_temperature_lowers_the_log_loss_of_an_overconfident_model():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 2000)
    logits = rng.normal(0, 1, (2000, 3))
    logits[np.arange(2000), y] += 1.0
    hot = logits * 6  # the same ranking, six times too confident

    def nll(z):
        return -np.log(softmax(z)[np.arange(len(y)), y]).mean()

    t = fit_temperature(hot, y)
    assert 4 < t < 8
    assert nll(hot / t) < nll(hot) - 0.5
    assert fit_temperature(logits, y) == pytest.approx(1.0, abs=0.2)


def test_thresholds_raise_minority_recall_on_an_imbalanced_set():
    rng = np.random.default_rng(1)
    y = np.array([0] * 900 + [1] * 100)
    # the minority class is under-scored: its true tweets get p(1) around 0.4 only
    p1 = np.where(y == 1, rng.uniform(0.25, 0.55, len(y)), rng.uniform(0.0, 0.4, len(y)))
    proba = np.column_stack([1 - p1, p1])
    w = fit_thresholds(proba, y)
    before = ((proba.argmax(1) == 1) & (y == 1)).sum() / 100
    after = ((apply_thresholds(proba, w).argmax(1) == 1) & (y == 1)).sum() / 100
    assert after > before + 0.3
    f1 = [compute_metrics(y, p, [0, 1])["f1_macro"] for p in (proba, apply_thresholds(proba, w))]
    assert f1[1] > f1[0]
    np.testing.assert_allclose(apply_thresholds(proba, w).sum(1), 1.0)


def test_ece_against_a_hand_computed_case():
    # four tweets: confidences 0.9, 0.9 (bin 14), 0.6 (bin 9), 0.3... top prob of [0.3,0.3,0.4] is 0.4 (bin 5)
    proba = np.array([[0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.6, 0.4, 0.0], [0.3, 0.3, 0.4]])
    y = np.array([0, 0, 0, 2])  # correct, wrong, correct, correct
    # bin (13/15, 14/15]: conf 0.9, acc 0.5 -> 2/4 * 0.4; bin (8/15, 9/15]: 1/4 * |1 - 0.6|; bin (5/15, 6/15]: 1/4 * 0.6
    expected = 0.5 * 0.4 + 0.25 * 0.4 + 0.25 * 0.6
    assert expected_calibration_error(y, proba, [0, 1, 2]) == pytest.approx(expected)
    m = compute_metrics(y, proba, [0, 1, 2], thresholds={"applied": False})
    assert m["ece"] == pytest.approx(expected) and m["thresholds"] == {"applied": False}


def test_reliability_figure(tmp_path):
    from tweetsent.reporting.plots import reliability_figure

    rng = np.random.default_rng(0)
    proba = rng.dirichlet([1, 1, 1], 50)
    fig = reliability_figure(rng.integers(0, 3, 50), proba, [0, 1, 2])
    fig.savefig(tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000


def test_classifier_fits_decisions_on_the_holdout_and_saves_them(corpus, tiny_overrides, tmp_path):
    from tweetsent.models.classifier import TweetClassifier

    train, val = pd.read_csv(corpus[0]), pd.read_csv(corpus[1])
    cfg = resolve_config(None, [*tiny_overrides, "train.calibration=temperature", "train.thresholds=tuned",
                                "train.holdout=0.2", "train.early_stopping=true", "train.patience=3"])
    clf = TweetClassifier(cfg).fit(train.tweet.tolist(), train.label.to_numpy(), val.tweet.tolist(), val.label.to_numpy())
    assert clf.holdout_n_ == 6 and clf.temperature_ is not None and len(clf.thresholds_) == 3
    assert all("holdout_loss" in r for r in clf.history_)
    decision = clf.decision()
    assert decision["applied"] and "6 held-out training tweets" in decision["fitted_on"]
    raw = clf.predict_proba(val.tweet.tolist(), thresholds=False)
    np.testing.assert_allclose(clf.predict_proba(val.tweet.tolist()),
                               apply_thresholds(raw, np.asarray(clf.thresholds_)), atol=1e-6)
    clf.save(tmp_path / "m")
    back = TweetClassifier.load(tmp_path / "m")
    assert back.temperature_ == clf.temperature_ and back.thresholds_ == clf.thresholds_
    np.testing.assert_allclose(back.predict_proba(val.tweet.tolist()), clf.predict_proba(val.tweet.tolist()), atol=1e-6)


def test_without_decisions_nothing_is_held_out(corpus, tiny_overrides):
    from tweetsent.models.classifier import TweetClassifier

    train = pd.read_csv(corpus[0])
    clf = TweetClassifier(resolve_config(None, tiny_overrides)).fit(train.tweet.tolist(), train.label.to_numpy())
    assert clf.holdout_n_ == 0 and clf.temperature_ is None and not clf.decision()["applied"]
