"""The estimator contract, run over every activation, loss and optimizer; save and load."""

import json

import numpy as np
import pytest
import torch

from tweetsent.config.resolve import resolve_config
from tweetsent.config.settings import ACTIVATIONS, LOSSES, OPTIMIZERS
from tweetsent.data.tables import read_dataset
from tweetsent.errors import ModelError
from tweetsent.models.classifier import TweetClassifier
from tweetsent.models.network import FeedForward


def _fit(corpus, overrides, extra=()):
    train, val = (read_dataset(p) for p in corpus)
    cfg = resolve_config(None, [*overrides, *extra])
    return TweetClassifier(cfg).fit(train.texts, train.labels, val.texts, val.labels), val


def _check_contract(clf, val):
    proba = clf.predict_proba(val.texts)
    assert proba.shape == (len(val), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    pred = clf.predict(val.texts)
    assert set(pred) <= set(clf.classes_) and clf.classes_ == [0, 1, 2]
    np.testing.assert_array_equal(pred, np.asarray(clf.classes_)[proba.argmax(axis=1)])
    assert len(clf.history_) >= 1 and {"train_loss", "val_loss", "val_f1_macro"} <= set(clf.history_[0])


@pytest.mark.parametrize("setting", [f"model.activation={a}" for a in ACTIVATIONS]
                         + [f"train.loss={loss}" for loss in LOSSES]
                         + [f"train.optimizer={o}" for o in OPTIMIZERS]
                         + ["model.batch_norm=true", "model.last_sigmoid=true", "train.class_weight=balanced",
                            "train.class_weight=[1.0, 2.0, 1.0]", "train.shuffle=false", "model.dropout=[0.3, 0.1]"])
def test_contract_for_every_knob(corpus, tiny_overrides, setting):
    clf, val = _fit(corpus, tiny_overrides, [setting, "train.epochs=3"])
    _check_contract(clf, val)


def test_learns_the_tiny_corpus(corpus, tiny_overrides):
    clf, val = _fit(corpus, tiny_overrides)
    assert (clf.predict(val.texts) == val.labels).mean() >= 0.9
    assert clf.history_[-1]["train_loss"] < clf.history_[0]["train_loss"]


def test_same_seed_same_numbers_other_seed_other_numbers(corpus, tiny_overrides):
    a, val = _fit(corpus, tiny_overrides, ["train.epochs=5"])
    b, _ = _fit(corpus, tiny_overrides, ["train.epochs=5"])
    c, _ = _fit(corpus, tiny_overrides, ["train.epochs=5", "train.seed=1"])
    assert a.history_ == [{**r, "seconds": a.history_[i]["seconds"]} for i, r in enumerate(b.history_)]
    np.testing.assert_array_equal(a.predict_proba(val.texts), b.predict_proba(val.texts))
    assert not np.array_equal(a.predict_proba(val.texts), c.predict_proba(val.texts))


def test_early_stopping_restores_the_best_epoch(corpus, tiny_overrides):
    clf, val = _fit(corpus, tiny_overrides, ["train.early_stopping=true", "train.patience=2", "train.epochs=200",
                                             "train.lr=0.05"])
    losses = [r["val_loss"] for r in clf.history_]
    assert len(clf.history_) < 200
    assert clf.best_epoch_ == int(np.argmin(losses)) + 1
    assert len(clf.history_) - clf.best_epoch_ == 2


def test_nll_network_outputs_log_probabilities():
    cfg = resolve_config(None, ["model.hidden=[4]"])
    net = FeedForward(6, 0, 3, cfg.model, log_softmax=True)
    out = net(torch.randn(5, 6))
    torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(5))


def test_save_load_round_trip(tmp_path, corpus, tiny_overrides):
    clf, val = _fit(corpus, tiny_overrides, ["train.epochs=3"])
    clf.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["format"] == "tweetsent-model" and meta["classes"] == [0, 1, 2]
    assert meta["config"]["model"]["hidden"] == [16, 8] and meta["features"]["embeddings"]["dim"] == 6
    loaded = TweetClassifier.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(val.texts), clf.predict_proba(val.texts), rtol=1e-6)


def test_corrupt_or_foreign_model_files(tmp_path, corpus, tiny_overrides):
    clf, _ = _fit(corpus, tiny_overrides, ["train.epochs=1"])
    folder = clf.save(tmp_path / "m")
    (folder / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match="model.safetensors: corrupt or mismatched weights"):
        TweetClassifier.load(folder)
    (folder / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="corrupt model metadata"):
        TweetClassifier.load(folder)
    (folder / "model.json").write_text(json.dumps({"format": "sklearn"}))
    with pytest.raises(ModelError, match="not a tweetsent model"):
        TweetClassifier.load(folder)
    with pytest.raises(ModelError, match="no model.json here"):
        TweetClassifier.load(tmp_path)


def test_epoch_scores_equal_scikit_learns():
    from sklearn.metrics import accuracy_score, f1_score

    from tweetsent.training.loop import epoch_scores

    rng = np.random.default_rng(0)
    truth, pred = rng.integers(0, 4, 300), rng.integers(0, 3, 300)  # class 3 never predicted
    got = epoch_scores(truth, pred, 4)
    assert got["val_accuracy"] == pytest.approx(accuracy_score(truth, pred))
    assert got["val_f1_macro"] == pytest.approx(f1_score(truth, pred, average="macro", zero_division=0))
    assert got["val_f1_weighted"] == pytest.approx(f1_score(truth, pred, average="weighted", zero_division=0))
