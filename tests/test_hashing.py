"""The Arrow/NumPy n-gram hasher gives scikit-learn's HashingVectorizer buckets and counts, exactly."""

from __future__ import annotations

import re
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.utils import murmurhash3_32 as sklearn_murmurhash

from conftest import vaccine_files
from tweetsent.data.tables import read_dataset
from tweetsent.data.text import tokenize_arrow
from tweetsent.features import hashing
from tweetsent.features.hashing import _buckets, hashed_char_ngrams, hashed_word_ngrams, murmurhash3_32

# Any character Arrow can hold (no lone surrogates), weighted towards the short and the multi-byte.
CHARS = st.characters(blacklist_categories=("Cs",))
WORD = st.text(CHARS.filter(lambda c: not c.isspace()), max_size=12)  # empty words too: they are dropped


@pytest.fixture(autouse=True, scope="module")
def _fast_path_for_any_batch():
    """The NumPy path even for the few rows these tests give (a small batch goes to scikit-learn)."""
    saved = hashing.SMALL_WORD_BATCH, hashing.SMALL_CHAR_BATCH
    hashing.SMALL_WORD_BATCH = hashing.SMALL_CHAR_BATCH = 0
    yield
    hashing.SMALL_WORD_BATCH, hashing.SMALL_CHAR_BATCH = saved


def sklearn_counts(rows: list[list[str]], ngram_range, n_features, analyzer="word"):
    vectorizer = HashingVectorizer(ngram_range=ngram_range, token_pattern=r"\S+", lowercase=False, n_features=n_features,
                                   alternate_sign=False, norm=None, dtype=np.float32, analyzer=analyzer)
    return vectorizer.transform([" ".join(row) for row in rows])


def assert_same_csr(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(CHARS, max_size=40), max_size=30))
def test_murmurhash_is_sklearns_on_any_text(strings):
    expected = np.array([sklearn_murmurhash(s, seed=0) for s in strings], np.int32)
    np.testing.assert_array_equal(murmurhash3_32(pa.array(strings, pa.string())), expected)


def test_murmurhash_of_every_length_and_of_a_sliced_array():
    strings = ["", *("ab\u00e9\U0001F600xyz"[:k] * 7 for k in range(1, 8))] + [f"{i}" * (i % 23) for i in range(500)]
    expected = np.array([sklearn_murmurhash(s, seed=0) for s in strings], np.int32)
    np.testing.assert_array_equal(murmurhash3_32(pa.array(strings)), expected)
    np.testing.assert_array_equal(murmurhash3_32(pa.array(strings).slice(3, 100)), expected[3:103])


def test_the_most_negative_hash_takes_sklearns_bucket():
    # abs(-2**31) overflows an int32; scikit-learn defines its bucket as 2**31 % n_features.
    hashes = np.array([-2**31, -1, 0, 2**31 - 1, -7], np.int32)
    for n in (2**18, 1000, 3):
        assert _buckets(hashes, n).tolist() == [2**31 % n, 1 % n, 0, (2**31 - 1) % n, 7 % n]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(WORD, max_size=8), min_size=1, max_size=12),
       st.sampled_from([(1, 1), (1, 2), (2, 2), (1, 3), (2, 3)]), st.sampled_from([2**3, 2**18]))
def test_word_ngram_counts_are_hashingvectorizers(rows, ngram_range, n_features):
    # 8 buckets force collisions: duplicates are summed as scikit-learn sums them.
    tokens = pa.array(rows, pa.list_(pa.large_string()))
    assert_same_csr(hashed_word_ngrams(tokens, ngram_range, n_features), sklearn_counts(rows, ngram_range, n_features))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(WORD, max_size=8), min_size=1, max_size=12),
       st.sampled_from([(2, 5), (1, 1), (3, 3), (1, 4), (4, 6)]), st.sampled_from([2**3, 2**18]))
def test_char_ngram_counts_are_hashingvectorizers(rows, ngram_range, n_features):
    # Words shorter than n (padded) count once whole, as scikit-learn counts them; n is in characters.
    tokens = pa.array(rows, pa.list_(pa.large_string()))
    assert_same_csr(hashed_char_ngrams(tokens, ngram_range, n_features),
                    sklearn_counts(rows, ngram_range, n_features, analyzer="char_wb"))


def test_a_slice_of_tokens_and_a_chunked_array_count_their_own_rows():
    rows = [["a", "b", "c"], [], ["b", "c"], [""], ["c", "a", "b", "c"]]
    tokens = pa.array(rows, pa.list_(pa.large_string()))
    assert_same_csr(hashed_word_ngrams(tokens.slice(1, 3), (1, 2), 64), sklearn_counts(rows[1:4], (1, 2), 64))
    chunked = pa.chunked_array([tokens.slice(0, 2), tokens.slice(2)])
    assert_same_csr(hashed_word_ngrams(chunked, (1, 2), 64), sklearn_counts(rows, (1, 2), 64))
    assert_same_csr(hashed_char_ngrams(tokens.slice(1, 3), (2, 4), 64),
                    sklearn_counts(rows[1:4], (2, 4), 64, analyzer="char_wb"))
    for hashed in (hashed_word_ngrams, hashed_char_ngrams):
        none = hashed(tokens.slice(0, 0), (1, 2), 64)
        assert none.shape == (0, 64) and none.nnz == 0


def test_arrows_whitespace_is_pythons():
    # The hasher trusts tokens split on Arrow's whitespace to be what `\S+` finds: the two sets must agree.
    code_points = [c for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    split = pc.utf8_split_whitespace(pa.array([f"a{chr(c)}b" for c in code_points]))
    arrow = {c for c, n in zip(code_points, pc.list_value_length(split).to_numpy()) if n == 2}
    assert arrow == {c for c in code_points if re.fullmatch(r"\s", chr(c))}


def test_a_small_batch_takes_scikit_learns_path_to_the_same_counts(monkeypatch):
    rows = [["vaccines", "save", "lives"], [], ["get", "the", "shot", "é", "😀"]]
    tokens = pa.array(rows, pa.list_(pa.large_string()))
    fast = hashed_word_ngrams(tokens, (1, 2), 64), hashed_char_ngrams(tokens, (2, 5), 64)
    monkeypatch.setattr(hashing, "SMALL_WORD_BATCH", 48)
    monkeypatch.setattr(hashing, "SMALL_CHAR_BATCH", 20)
    monkeypatch.setattr(hashing, "_words", None)  # the NumPy path would fail: it is not taken
    assert_same_csr(hashed_word_ngrams(tokens, (1, 2), 64), fast[0])
    assert_same_csr(hashed_char_ngrams(tokens, (2, 5), 64), fast[1])


@pytest.mark.slow
def test_vaccine_tweets_hash_as_in_scikit_learn():
    train, _ = vaccine_files()
    texts = read_dataset(train).texts
    tokens = tokenize_arrow(texts, "tweet")
    rows = tokens.to_pylist()
    assert_same_csr(hashed_word_ngrams(tokens, (1, 2), 2**18), sklearn_counts(rows, (1, 2), 2**18))
    assert_same_csr(hashed_char_ngrams(tokens, (2, 5), 2**18), sklearn_counts(rows, (2, 5), 2**18, analyzer="char_wb"))
