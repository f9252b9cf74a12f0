"""The one confusion-count F1 helper equals scikit-learn's, for one set of predictions and for many rows."""

import numpy as np
from sklearn.metrics import f1_score

from tweetsent.evaluation.confusion import class_f1, macro_f1


def test_class_f1_equals_scikit_learn_including_absent_classes():
    rng = np.random.default_rng(0)
    truth, pred = rng.integers(0, 3, 200), rng.integers(0, 4, 200)  # class 3 is predicted, never true
    f1, support = class_f1(truth, pred, 4)
    np.testing.assert_allclose(f1, f1_score(truth, pred, labels=[0, 1, 2, 3], average=None, zero_division=0))
    np.testing.assert_array_equal(support, np.bincount(truth, minlength=4))
    assert macro_f1(truth, pred, 4) == f1_score(truth, pred, labels=[0, 1, 2, 3], average="macro", zero_division=0)


def test_rows_are_scored_one_by_one():
    rng = np.random.default_rng(1)
    truth, pred = rng.integers(0, 3, (5, 60)), rng.integers(0, 3, (5, 60))
    f1, _ = class_f1(truth, pred, 3)
    assert f1.shape == (5, 3)
    for row in range(5):
        np.testing.assert_allclose(f1[row], class_f1(truth[row], pred[row], 3)[0])
