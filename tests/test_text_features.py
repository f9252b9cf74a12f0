"""Tokenizers and the embedding averager."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tweetsent.data.text as text_module
from tweetsent.data.text import tokenize, tokenize_batch
from tweetsent.features.embeddings import Embeddings
from tweetsent.features.pooling import SKIPPED, UNKNOWN, EmbeddingAverager


@pytest.mark.parametrize("text, tokens", [
    ("I don't like it", ["i", "do", "n't", "like", "it"]),
    ("It's the #FluShot season", ["it", "'s", "the", "#", "flu", "shot", "season"]),
    ("@CDCgov says https://t.co/abc www.x.org", ["@", "says", "url", "url"]),
    ("#Covid19 vaccine...", ["#", "covid", "19", "vaccine", ".", ".", "."]),
    ("Kids' shots aren\u2019t bad &amp; fine!!", ["kids", "'", "shots", "are", "n't", "bad", "&", "fine", "!", "!"]),
    ("\"null\" 'quoted' \U0001f64c\U0001f64c", ['"', "null", '"', "'", "quoted", "'", "\U0001f64c", "\U0001f64c"]),
    ("   ", []),
])
@pytest.mark.parametrize("engine", ["regex", "arrow"])
def test_tweet_tokenizer(monkeypatch, engine, text, tokens):
    if engine == "arrow":
        monkeypatch.setattr(text_module, "SMALL_BATCH", 0)
    assert tokenize(text, "tweet") == tokens


# Tweet-like text: ASCII, the characters the RE2 -> regex rewrites are about (whitespace kinds,
# apostrophes, newlines), accented and Greek letters in both cases, other digits, emoji, symbols.
_ALPHABET = st.sampled_from(
    list("abcXYZ019 _'\"#@.:/!?-&;\t\n\r\f\v\u00a0\u2003") + ["http://", "https://t.co/", "www.", "&amp;", "n't", "'s", "'ll"]
    + list("\u00e9\u00c9\u00df\u03c3\u03a3\u0130\u00b2\u0663\u2019\u201c\u2026\u00bd\U0001f64c\u2764\u00ae\u02bc"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_ALPHABET, max_size=30).map("".join), min_size=1, max_size=8))
def test_the_small_batch_engine_tokenizes_as_arrow_does(tweets):
    assert text_module._tokens_small(text_module._as_arrow(tweets)).to_pylist() \
        == text_module._tokens_arrow(text_module._as_arrow(tweets), "tweet").to_pylist()


def test_whitespace_tokenizer_is_the_studys():
    assert tokenize("I don't like #FluShot!", "whitespace") == ["i", "don't", "like", "#flushot!"]


def test_batch_keeps_tweet_boundaries_and_empty_tweets():
    assert tokenize_batch(["a b", "", "c"]) == [["a", "b"], [], ["c"]]


def test_unknown_tokenizer_is_refused():
    with pytest.raises(ValueError, match="unknown tokenizer"):
        tokenize("x", "bpe")


def _table() -> Embeddings:
    words = ["the", "vaccine", "safe", "n't", "do"]
    vectors = np.arange(len(words) * 3, dtype=np.float32).reshape(len(words), 3)
    return Embeddings(vectors, words, "test", "fp")


def test_average_is_mean_of_known_words_and_zero_when_none_known():
    emb = _table()
    X = EmbeddingAverager(emb).transform(["The vaccine is SAFE", "zzz qqq", "I don't"])
    np.testing.assert_allclose(X[0], emb.vectors[[0, 1, 2]].mean(axis=0))
    np.testing.assert_array_equal(X[1], np.zeros(3))
    np.testing.assert_allclose(X[2], emb.vectors[[4, 3]].mean(axis=0))
    assert X.dtype == np.float32 and X.shape == (3, 3)


def test_repeated_words_count_every_time():
    emb = _table()
    X = EmbeddingAverager(emb).transform(["safe safe the"])
    np.testing.assert_allclose(X[0], (2 * emb.vectors[2] + emb.vectors[0]) / 3)


def test_oov_statistics():
    tok = EmbeddingAverager(_table()).token_ids(["the vaccine xyz", "abc"])
    assert tok.oov_rate() == pytest.approx(2 / 4)
    assert tok.empty_docs() == 1


def test_punctuation_only_tokens_are_left_out_of_the_average_unless_asked():
    emb = Embeddings(np.eye(4, dtype=np.float32), ["safe", ".", "!", "#"], "test", "fp")
    skip = EmbeddingAverager(emb).transform(["safe . ! #"])
    np.testing.assert_allclose(skip[0], [1, 0, 0, 0])
    keep = EmbeddingAverager(emb, punctuation=True).transform(["safe . ! #"])
    np.testing.assert_allclose(keep[0], [0.25, 0.25, 0.25, 0.25])
    tok = EmbeddingAverager(emb).token_ids(["safe . zzz \U0001f64c"])
    assert tok.oov_rate() == pytest.approx(1 / 2)  # skipped tokens count neither way


def test_parallel_tokenization_equals_serial(monkeypatch):
    import tweetsent.data.text as text

    tweets = [f"Tweet {i}: I don't trust #BigPharma https://t.co/{i} @user{i} \u2019s" for i in range(300)]
    serial = text.tokenize_arrow(tweets).to_pylist()
    monkeypatch.setattr(text, "_PARALLEL_MIN", 10)
    monkeypatch.setattr(text, "usable_cpus", lambda: 3)
    assert text.tokenize_arrow(tweets).to_pylist() == serial


def test_token_ids_first_row_unknown_and_skipped():
    words = ["safe", "vaccine", "safe", ".", "n't", "flu", "#"]  # "safe" twice: the first row wins
    emb = Embeddings(np.arange(len(words) * 2, dtype=np.float32).reshape(-1, 2), words, "t", "t")
    tweets = ["Safe vaccine . zzz", "I don't get the #flu shot!!", "\U0001f64c \U0001f64c", "", "safe safe"]
    u, s = UNKNOWN, SKIPPED
    expected = {False: [0, 1, s, u] + [u, u, 4, u, u, s, 5, u, s, s] + [s, s] + [u] + [0, 0],
                True: [0, 1, 3, u] + [u, u, 4, u, u, 6, 5, u, u, u] + [u, u] + [u] + [0, 0]}
    for punctuation, ids in expected.items():
        tok = EmbeddingAverager(emb, punctuation=punctuation).token_ids(tweets)
        assert tok.ids.tolist() == ids
        assert tok.doc.tolist() == [0] * 4 + [1] * 10 + [2] * 2 + [3] + [4] * 2 and tok.n_docs == 5  # "" is one empty token
    empty = EmbeddingAverager(emb).token_ids(["", "  "])
    assert empty.ids.tolist() == [u, u] and np.array_equal(EmbeddingAverager(emb).pool(empty), np.zeros((2, 2)))
    nothing = EmbeddingAverager(emb).token_ids([])
    assert nothing.n_docs == 0 and EmbeddingAverager(emb).pool(nothing).shape == (0, 2)


def test_usable_cpus_follow_affinity_and_omp_num_threads(monkeypatch):
    from tweetsent.util import meta

    monkeypatch.setattr(meta.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert meta.usable_cpus() == 3  # the affinity, not os.cpu_count()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # Dask's workers, `serve --workers 2` on 2 cores
    assert meta.usable_cpus() == 1
    for ignored in ("8", "0", "four"):  # more than the affinity allows, or not a count
        monkeypatch.setenv("OMP_NUM_THREADS", ignored)
        assert meta.usable_cpus() == 3
