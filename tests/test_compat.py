"""Run directories and model folders written by tweetsent 0.1.0 (before the subpackage layout) still load."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tweetsent import TweetClassifier
from tweetsent.errors import ModelError
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


def _tamper(folder: Path, **changes) -> None:
    meta_path = folder / "model" / "model.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    meta_path.write_text(json.dumps(meta), encoding="utf-8")


@pytest.mark.parametrize("changes, words", [
    ({"format_version": "2"}, "format_version '2' is not a whole number"),
    ({"format_version": 99}, "model format 99 is newer than this tweetsent"),
    ({"config": None}, "no config in the model metadata"),
    ({"classes": None}, "no classes in the model metadata"),
    ({"format": "pickle"}, "not a tweetsent model"),
])
def test_a_tampered_model_json_is_one_error(tmp_path, changes, words):
    from typer.testing import CliRunner

    from tweetsent.cli.main import app

    folder = tmp_path / "v0.1"
    shutil.copytree(FIXTURES, folder)
    _tamper(folder / "old-run", **changes)
    result = CliRunner().invoke(app, ["predict", str(folder / "old-run"), "--data", str(folder / "val.csv"),
                                      "--out", str(tmp_path / "out.csv")])
    assert result.exit_code == 2 and words in result.stderr, result.output
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_an_ensemble_that_names_itself_as_a_member_is_refused(tmp_path):
    folder = tmp_path / "v0.1"
    shutil.copytree(FIXTURES, folder)
    _tamper(folder / "old-ensemble", members=[".", "../../old-run"])
    with pytest.raises(ModelError, match="cannot be its own member"):
        TweetClassifier.load(folder / "old-ensemble")
    _tamper(folder / "old-ensemble", members=["../../old-ensemble", "../../old-run"])  # the run directory itself
    with pytest.raises(ModelError, match="cannot be its own member"):
        TweetClassifier.load(folder / "old-ensemble")
