"""Explanations by occlusion: shapes and offsets, class words that push their class, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import CLASS_WORDS
from tweetsent.cli.main import app
from tweetsent.config.resolve import resolve_config
from tweetsent.data.tables import read_dataset
from tweetsent.data.text import tokenize
from tweetsent.models.classifier import TweetClassifier
from tweetsent.models.explain import WORDS, explain, segment, top_ngrams

runner = CliRunner()
POISON = "Poison autism the vaccine is toxic #Vaccine @someone http://t.co/x"
SAFE = "Safe effective the vaccine save lives #Vaccine @someone http://t.co/x"


@pytest.fixture
def data(corpus):
    return read_dataset(corpus[0]), read_dataset(corpus[1])


@pytest.fixture
def softmax(data):
    train, val = data
    cfg = resolve_config("seed-softmax", ["train.epochs=30", "train.lr=0.05"], 0)
    return TweetClassifier(cfg).fit(train.texts, train.labels)


@pytest.fixture
def run(corpus, tmp_path, softmax):
    return softmax.save(tmp_path / "run" / "model").parent


def test_segment_offsets_point_at_the_tokens_and_match_the_tokenizer():
    texts = ["Get your #FluShot now! https://t.co/x @bob it's &amp; don\u2019t covid19", POISON]
    for text, tokens in zip(texts, segment(texts, "tweet")):
        assert [t for t, _, _ in tokens] == tokenize(text)
        for token, start, end in tokens:
            piece = text[start:end].lower().replace("\u2019", "'")
            assert token in piece or token in ("url", "@", "&"), (token, piece)
        # Leaving a token out leaves the others as they were.
        token, start, end = tokens[1]
        assert tokenize(text[:start] + " " + text[end:]) == [t for t, _, _ in tokens[:1] + tokens[2:]]
    words = segment(["  Two  words "], WORDS)[0]
    assert words == [("Two", 2, 5), ("words", 7, 12)]


def test_contributions_have_one_value_per_class_and_token(softmax):
    out = explain(softmax, [POISON, SAFE])
    assert len(out) == 2
    for item, text in zip(out, [POISON, SAFE]):
        assert item["text"] == text and item["label"] in softmax.classes_
        assert set(item["proba"]) == {"0", "1", "2"} and abs(sum(item["proba"].values()) - 1) < 1e-5
        assert [t["token"] for t in item["tokens"]] == tokenize(text)
        for token in item["tokens"]:
            assert set(token["contributions"]) == {"0", "1", "2"}
            assert abs(sum(token["contributions"].values())) < 1e-5  # probabilities still sum to 1
            assert 0 <= token["start"] < token["end"] <= len(text)


def test_a_class_word_pushes_its_class(softmax):
    poison, safe = explain(softmax, [POISON, SAFE])
    assert poison["label"] == 1 and safe["label"] == 2
    by_token = {t["token"]: t["contributions"] for t in poison["tokens"]}
    assert by_token["poison"]["1"] > 0 and by_token["toxic"]["1"] > 0
    by_token = {t["token"]: t["contributions"] for t in safe["tokens"]}
    assert by_token["safe"]["2"] > 0 and by_token["lives"]["2"] > 0
    # The strongest class words of each class are its own words.
    for cls, words in top_ngrams(softmax, [POISON, SAFE, *CLASS_WORDS[0]], n=3).items():
        assert all(g.split()[0] in CLASS_WORDS[int(cls)] for g, _ in words), (cls, words)


def test_removing_the_top_token_lowers_the_predicted_class(softmax):
    item = explain(softmax, [POISON])[0]
    label = str(item["label"])
    top = max(item["tokens"], key=lambda t: t["contributions"][label])
    without = POISON[:top["start"]] + " " + POISON[top["end"]:]
    col = softmax.classes_.index(item["label"])
    after = softmax.predict_proba([without])[0, col]
    assert after < item["proba"][label]
    assert item["proba"][label] - after == pytest.approx(top["contributions"][label], abs=1e-6)


def test_k_keeps_the_strongest_tokens_in_text_order(softmax):
    full, = explain(softmax, [POISON])
    kept, = explain(softmax, [POISON], k=2)
    label = str(full["label"])
    strongest = sorted(full["tokens"], key=lambda t: -abs(t["contributions"][label]))[:2]
    assert kept["tokens"] == sorted(strongest, key=lambda t: t["start"])


def test_an_ensemble_explains_with_its_weights(data, softmax, tmp_path, tiny_overrides):
    train, _ = data
    network = TweetClassifier(resolve_config("seed-prelu", tiny_overrides, 0)).fit(train.texts, train.labels)
    a, b = softmax.save(tmp_path / "a"), network.save(tmp_path / "b")
    ensemble = TweetClassifier.from_runs([a, b], weights=[3, 1])
    both = explain(ensemble, [POISON])[0]
    parts = [explain(m, [POISON])[0] for m in (softmax, network)]
    for i, token in enumerate(both["tokens"]):
        mixed = 0.75 * np.array(list(parts[0]["tokens"][i]["contributions"].values())) \
            + 0.25 * np.array(list(parts[1]["tokens"][i]["contributions"].values()))
        assert np.allclose(list(token["contributions"].values()), mixed, atol=1e-5)


def test_cli_json_equals_clf_explain(run, softmax):
    result = runner.invoke(app, ["explain", str(run), POISON, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(json.dumps(softmax.explain([POISON])))


def test_cli_text_and_data(run, corpus):
    result = runner.invoke(app, ["explain", str(run), POISON])
    assert result.exit_code == 0, result.output
    assert "p(1) =" in result.stdout and "Poison autism" in result.stdout
    result = runner.invoke(app, ["explain", str(run), "--data", str(corpus[1]), "--limit", "5", "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 5


@pytest.mark.parametrize("args, words", [
    (["{tmp}/missing-run", "vaccines"], "missing-run"),
    (["{run}", "   "], "empty"),
    (["{run}"], "either"),
])
def test_cli_bad_input_is_one_error_line(run, tmp_path, args, words):
    result = runner.invoke(app, ["explain", *[a.format(tmp=tmp_path, run=run) for a in args]])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], result.stderr
