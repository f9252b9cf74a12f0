"""Run directories and model folders written by tweetsent 0.1.0 (before the subpackage layout) still load."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tweetsent import TweetClassifier
from tweetsent.runs.workflow import evaluate_run

FIXTURES = Path(__file__).parent / "fixtures" / "v0.1"


@pytest.mark.parametrize("run", ["old-run", "old-run-b", "old-ensemble"])
def test_a_run_of_the_previous_version_predicts_the_same_probabilities(run, tmp_path):
    folder = tmp_path / "v0.1"
    shutil.copytree(FIXTURES, folder)  # the ensemble finds its members by relative path
    expected = json.loads((folder / run / "expected.json").read_text(encoding="utf-8"))
    clf = TweetClassifier.load(folder / run)
    assert isinstance(clf, TweetClassifier)
    assert list(clf.classes_) == expected["classes"]
    np.testing.assert_allclose(clf.predict_proba(expected["texts"]), expected["proba"], atol=1e-6)


def test_an_old_run_is_evaluated_like_a_new_one(tmp_path):
    folder = tmp_path / "v0.1"
    shutil.copytree(FIXTURES, folder)
    metrics = evaluate_run(folder / "old-run", folder / "val.csv")
    old = json.loads((folder / "old-run" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["accuracy"] == pytest.approx(old["accuracy"])
    assert metrics["loss"] == pytest.approx(old["loss"], abs=1e-6)
