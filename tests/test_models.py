"""The model interface: every kind registered by name, and a new kind is one class with a decorator."""

from pathlib import Path

import numpy as np
import pytest
import torch

from tweetsent import TweetClassifier
from tweetsent.models import base
from tweetsent.models.base import Model, model_class, register, registered_kinds


def test_every_shipped_kind_is_registered():
    assert registered_kinds() == ["ensemble", "finetune", "network", "softmax"]
    assert model_class("softmax") is model_class("network")


class _Majority(Model):
    """Scores every tweet with the training set's class frequencies: a kind in a dozen lines."""

    def fit(self, data, callbacks):
        self.prior_ = torch.bincount(data.y, minlength=self.n_classes).float() / len(data.y)
        self.history_ = [{"epoch": 1, "train_loss": 0.0}]

    def scores(self, texts):
        return torch.log(self.prior_).expand(len(texts), -1)

    def identity(self):
        return {"dense_dim": 0, "sparse_dim": 0}

    def save(self, folder: Path) -> dict:
        return {"prior": self.prior_.tolist()}

    @classmethod
    def load(cls, cfg, n_classes, folder, meta, estimator=None):
        model = cls(cfg, n_classes, estimator)
        model.prior_ = torch.tensor(meta["prior"])
        return model


@pytest.fixture
def majority_kind():
    register("majority")(_Majority)
    yield
    del base._REGISTRY["majority"]  # other tests list the shipped kinds


def test_a_new_kind_is_one_registered_class(tmp_path, corpus_frames, majority_kind):
    train, _ = corpus_frames
    texts, labels = train["tweet"].tolist(), np.array([0] * 20 + [1] * 5 + [2] * 5)
    clf = TweetClassifier("seed-softmax", model__kind="majority").fit(texts, labels)
    assert list(clf.predict(["anything at all"])) == [0]
    np.testing.assert_allclose(clf.predict_proba(["x"])[0], [20 / 30, 5 / 30, 5 / 30], rtol=1e-6)
    back = TweetClassifier.load(clf.save(tmp_path / "m"))
    assert type(back.model_) is _Majority and back.epochs_done() == 0  # epochs are not saved with the model
    np.testing.assert_allclose(back.predict_proba(["x"]), clf.predict_proba(["x"]))
