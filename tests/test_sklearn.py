"""TweetClassifier is a scikit-learn estimator: clone, cross_val_score, GridSearchCV and Pipeline work on it."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from tweetsent import TweetClassifier
from tweetsent.errors import ConfigError

FAST = {"train__epochs": 3, "features__n_features": 1024}


@pytest.fixture
def tweets(corpus_frames):
    train, _ = corpus_frames
    return train["tweet"], train["label"]  # pandas Series, as a notebook has them


def test_settings_are_parameters_and_clone_keeps_them():
    clf = TweetClassifier("seed-softmax", seed=3, train__lr=0.01)
    assert clf.get_params() == {"config": "seed-softmax", "seed": 3, "train__lr": 0.01}
    twin = clone(clf)
    assert twin is not clf and twin.get_params() == clf.get_params()
    assert clf.set_params(train__lr=0.02) is clf and clf.get_params()["train__lr"] == 0.02
    with pytest.raises(ValueError, match="section__key"):
        clf.set_params(lr=0.1)


def test_settings_reach_the_resolved_config(tweets):
    texts, labels = tweets
    clf = TweetClassifier("seed-softmax", seed=2, **FAST, train__lr=0.02).fit(texts, labels)
    assert clf.config_.train.lr == 0.02 and clf.config_.train.seed == 2 and clf.config_.features.n_features == 1024
    with pytest.raises(ConfigError, match="train.speed"):
        TweetClassifier("seed-softmax", train__speed=1).fit(texts, labels)


def test_cross_val_score_on_a_series_and_on_a_list(tweets):
    texts, labels = tweets
    scores = cross_val_score(TweetClassifier("seed-softmax", **FAST), texts, labels, cv=3)
    again = cross_val_score(TweetClassifier("seed-softmax", **FAST), texts.tolist(), labels.tolist(), cv=3)
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    np.testing.assert_allclose(scores, again)  # same folds, same seed: same scores
    assert scores.mean() > 0.5  # the class words make the tiny corpus learnable


def test_grid_search_over_a_setting(tweets):
    texts, labels = tweets
    search = GridSearchCV(TweetClassifier("seed-softmax", **FAST), {"train__lr": [1e-4, 3e-2]}, cv=2,
                          scoring="f1_macro").fit(texts, labels)
    assert search.best_params_ == {"train__lr": 3e-2}  # 3 epochs at 1e-4 barely move the weights
    assert search.best_estimator_.predict(["safe effective science"]).shape == (1,)


def test_pipeline_with_a_text_step(tweets):
    texts, labels = tweets
    pipe = Pipeline([("lower", FunctionTransformer(lambda xs: [x.lower() for x in xs])),
                     ("clf", TweetClassifier("seed-softmax", **FAST))])
    pipe.set_params(clf__train__lr=0.02)
    pipe.fit(texts, labels)
    assert pipe.named_steps["clf"].config_.train.lr == 0.02
    assert set(pipe.predict(texts[:5])) <= set(labels)
    assert 0 <= pipe.score(texts, labels) <= 1


def test_fit_leaves_the_callers_random_state_and_threads_alone(tweets):
    texts, labels = tweets
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    expected = torch.rand(3)
    torch.manual_seed(123)
    TweetClassifier("seed-softmax", **FAST, train__threads=1).fit(texts, labels)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_same_seed_same_model(tweets):
    texts, labels = tweets
    a = TweetClassifier("seed-prelu", **FAST, features__input="ngrams").fit(texts, labels).predict_proba(texts[:8])
    b = TweetClassifier("seed-prelu", **FAST, features__input="ngrams").fit(texts, labels).predict_proba(texts[:8])
    np.testing.assert_array_equal(a, b)


def test_load_always_returns_a_tweet_classifier(tmp_path, tweets):
    texts, labels = tweets
    a = TweetClassifier("seed-softmax", **FAST).fit(texts, labels).save(tmp_path / "a")
    b = TweetClassifier("seed-softmax", seed=1, **FAST).fit(texts, labels).save(tmp_path / "b")
    ens = TweetClassifier.from_runs([a, b])
    ens.save(tmp_path / "ens")
    for folder in (a, tmp_path / "ens"):
        back = TweetClassifier.load(folder)
        assert type(back) is TweetClassifier
        assert back.predict_proba(pd.Series(["safe lives"])).shape == (1, 3)
