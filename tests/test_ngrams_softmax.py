"""Hashed n-gram inputs, the softmax model kind, mixed inputs, learning curves."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tweetsent.cli.main import app
from tweetsent.config.resolve import resolve_config
from tweetsent.data.tables import read_dataset
from tweetsent.errors import ConfigError
from tweetsent.features.ngrams import NgramHasher
from tweetsent.models.classifier import TweetClassifier
from tweetsent.runs.curves import learning_curve, nested_samples

runner = CliRunner()


def test_hasher_is_stateless_without_tfidf_and_rows_are_unit_length():
    a = NgramHasher(word_ngrams=(1, 2), n_features=2**10)
    X = a.transform(["vaccines save lives", "vaccines save lives", "poison"])
    np.testing.assert_allclose(np.sqrt(X.multiply(X).sum(axis=1)).A.ravel(), 1.0, rtol=1e-6)
    assert (X[0] != X[1]).nnz == 0 and X[0].nnz == 5  # 3 words + 2 bigrams
    assert NgramHasher(n_features=2**10).fit(["other text"]).idf_ is None


def test_tfidf_weights_rare_ngrams_higher():
    hasher = NgramHasher(word_ngrams=(1, 1), n_features=2**12, tfidf=True).fit(["the a", "the b", "the c"])
    row = hasher.transform(["the a"]).toarray()[0]
    weights = sorted(row[row > 0])
    assert len(weights) == 2 and weights[0] < weights[1]  # "the" is everywhere, "a" is not


def test_tfidf_rows_equal_scikit_learns_on_the_same_tokens():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from tweetsent.data.text import tokenize_batch

    train = ["vaccines save lives", "the flu shot", "the vaccine is poison", "poison poison the shot"]
    hasher = NgramHasher(word_ngrams=(1, 2), n_features=2**16, tfidf=True).fit(train)
    ours = hasher.transform(train)
    ref = TfidfVectorizer(ngram_range=(1, 2), token_pattern=r"\S+", lowercase=False, sublinear_tf=True)
    theirs = ref.fit_transform([" ".join(t) for t in tokenize_batch(train)])
    # Same n-grams (hashing without collisions here), so the sorted non-zero weights of each row agree.
    for i in range(len(train)):
        np.testing.assert_allclose(np.sort(ours[i].data), np.sort(theirs[i].data), rtol=1e-6)


def test_char_ngrams_add_features():
    words = NgramHasher(word_ngrams=(1, 1), n_features=2**12).transform(["vaccine"])
    both = NgramHasher(word_ngrams=(1, 1), char_ngrams=(2, 3), n_features=2**12).transform(["vaccine"])
    assert both.nnz > words.nnz


@pytest.mark.parametrize("overrides", [
    ["model.kind=softmax", "features.input=ngrams"],
    ["model.kind=softmax", "features.input=ngrams", "features.tfidf=true", "features.char_ngrams=[2, 4]"],
    ["features.input=embeddings+ngrams", "features.n_features=4096"],
    ["features.input=ngrams", "features.n_features=4096", "model.batch_norm=true"],
])
def test_ngram_models_learn_and_survive_save_load(tmp_path, corpus, tiny_overrides, overrides):
    train, val = (read_dataset(p) for p in corpus)
    cfg = resolve_config(None, [*tiny_overrides, *overrides, "train.lr=0.05"])
    clf = TweetClassifier(cfg).fit(train.texts, train.labels, val.texts, val.labels)
    assert (clf.predict(val.texts) == val.labels).mean() >= 0.9
    clf.save(tmp_path / "m")
    loaded = TweetClassifier.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(val.texts), clf.predict_proba(val.texts), rtol=1e-5, atol=1e-7)
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["features"]["sparse_dim"] == cfg.features.n_features


def test_softmax_has_no_hidden_layer(corpus, tiny_overrides):
    train, _ = (read_dataset(p) for p in corpus)
    cfg = resolve_config(None, [*tiny_overrides, "model.kind=softmax", "features.input=ngrams", "train.epochs=1"])
    clf = TweetClassifier(cfg).fit(train.texts, train.labels)
    shapes = {k: tuple(v.shape) for k, v in clf.model_.net_.state_dict().items()}
    assert shapes == {"input.bias": (3,), "input.sparse.weight": (2**18, 3)}


@pytest.mark.parametrize("override, message", [
    ("features.input=bag", "features.input = 'bag' is not one of: embeddings, ngrams, embeddings+ngrams"),
    ("features.word_ngrams=[2, 1]", "features.word_ngrams = [2, 1]: give [min, max]"),
])
def test_bad_feature_settings(override, message):
    with pytest.raises(ConfigError) as err:
        resolve_config("seed-softmax", [override])
    assert message in str(err.value)


def test_an_unknown_model_kind_names_the_registered_ones(corpus):
    train, _ = (read_dataset(p) for p in corpus)
    with pytest.raises(ConfigError, match="model.kind = 'svm' is not one of: ensemble, finetune, network, softmax"):
        TweetClassifier("seed-softmax", model__kind="svm").fit(train.texts, train.labels)


def test_nested_stratified_samples():
    labels = np.array([0] * 60 + [1] * 30 + [2] * 10)
    small, large = nested_samples(labels, [0.5, 1.0], seed=0)
    assert set(small) <= set(large) and len(large) == 100
    assert np.bincount(labels[small]).tolist() == [30, 15, 5]


def test_learning_curve_rows(corpus, tiny_overrides):
    cfg = resolve_config(None, [*tiny_overrides, "train.epochs=5"])
    rows = learning_curve(cfg, *corpus, fractions=[0.5, 1.0])
    assert [r["n_train"] for r in rows] == [15, 30]
    assert {"train_f1_macro", "val_f1_macro", "val_accuracy", "train_loss"} <= set(rows[0])


def test_learning_curve_command(tmp_path, corpus, tiny_overrides):
    args = ["learning-curve", "--train", str(corpus[0]), "--val", str(corpus[1]), "--out", str(tmp_path / "lc"),
            "--fractions", "0.5,1", "--json"] + [a for o in tiny_overrides for a in ("--set", o)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["rows"]) == 2
    assert {p.name for p in (tmp_path / "lc").iterdir()} == {"learning_curve.csv", "learning_curve.json", "learning_curve.png"}
    bad = runner.invoke(app, args[:-len(tiny_overrides) * 2 - 1] + ["--fractions", "0,2"])
    assert bad.exit_code == 2 and "every fraction must be in (0, 1]" in bad.stderr
