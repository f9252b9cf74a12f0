"""Word and character n-gram hashing in Arrow and NumPy, bucket for bucket what scikit-learn's `HashingVectorizer` gives.

    counts = hashed_word_ngrams(tokens, (1, 2), 2**18)   # scipy CSR float32, (n_tweets, 2**18)
    chars = hashed_char_ngrams(tokens, (2, 5), 2**18)    # analyzer="char_wb"

`HashingVectorizer` on the tokens joined by spaces splits them again on whitespace, builds every
n-gram as a Python string and hashes it with MurmurHash3 (x86, 32 bit, seed 0) of its UTF-8
bytes, one at a time. Here the n-grams are Arrow arrays or byte ranges, each distinct word or
n-gram of a batch is hashed once, and the hash runs over all of them at a time in NumPy: the same
buckets and counts (tests compare the two on generated text and on every vaccine tweet), 2x faster
for word n-grams and several times faster for character n-grams.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

__all__ = ["hashed_char_ngrams", "hashed_word_ngrams", "murmurhash3_32"]

_C1, _C2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)
# Below these many rows scikit-learn's own HashingVectorizer is the quicker (NumPy's and Arrow's cost
# per call, about 0.5 ms for word and 1.6 ms for character n-grams, outweighs the per-tweet saving:
# bench/bench_hashing.py's crossovers were ~48 and ~20 tweets), so it hashes them: the same counts.
SMALL_WORD_BATCH = 48
SMALL_CHAR_BATCH = 20


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _fmix(h: np.ndarray) -> np.ndarray:
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def _bytes_of(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes, offsets): string i is ``data[offsets[i]:offsets[i + 1]]`` (no copy)."""
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    strings = strings.cast(pa.large_string())
    if strings.null_count:
        raise ValueError("murmurhash3_32: null strings have no bytes to hash")
    offsets_buf, data_buf = strings.buffers()[1:3]
    offsets = np.frombuffer(offsets_buf, np.int64)[strings.offset:strings.offset + len(strings) + 1]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data, offsets


def murmurhash3_32(strings: pa.Array) -> np.ndarray:
    """Signed 32-bit MurmurHash3 (x86, seed 0) of each string's UTF-8 bytes: `sklearn.utils.murmurhash3_32`'s value."""
    strings = strings if isinstance(strings, (pa.Array, pa.ChunkedArray)) else pa.array(strings, pa.large_string())
    data, offsets = _bytes_of(strings)
    return _murmur_ranges(data, offsets[:-1], np.diff(offsets))


def _murmur_ranges(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """`murmurhash3_32` of the byte ranges ``data[starts[i]:starts[i] + lengths[i]]``, as int32.

    The ranges are hashed together: step k mixes the k-th 4-byte block of every range that has
    one, so the work is the total length in blocks, whatever the number of ranges.
    """
    n = len(starts)
    if n == 0:
        return np.zeros(0, np.int32)
    data = np.concatenate([data, np.zeros(4, np.uint8)])  # so a 4-byte read never runs off the end
    # Every byte offset read as a little-endian uint32 (an unaligned, overlapping view: no copy).
    words = np.ndarray(shape=(len(data) - 3,), dtype="<u4", buffer=data, strides=(1,))
    blocks = lengths // 4
    # Longest first, so the ranges still in play at step k are a prefix.
    order = np.argsort(-blocks, kind="stable")
    starts_o, blocks_o, lengths_o = starts[order], blocks[order], lengths[order]
    h = np.zeros(n, np.uint32)
    # alive[k]: how many ranges have more than k blocks.
    alive = np.searchsorted(-blocks_o, -np.arange(int(blocks_o[0])), side="left")
    for k, m in enumerate(alive):
        k1 = words[starts_o[:m] + 4 * k]
        k1 *= _C1
        k1 = _rotl(k1, 15)
        k1 *= _C2
        hk = _rotl(h[:m] ^ k1, 13)
        h[:m] = hk * np.uint32(5) + np.uint32(0xE6546B64)
    tail = lengths_o - 4 * blocks_o
    has_tail = np.flatnonzero(tail)
    if len(has_tail):
        k1 = words[starts_o[has_tail] + 4 * blocks_o[has_tail]]
        k1 &= (np.uint32(1) << (8 * tail[has_tail]).astype(np.uint32)) - np.uint32(1)  # the tail's 1-3 bytes
        k1 *= _C1
        k1 = _rotl(k1, 15)
        k1 *= _C2
        h[has_tail] ^= k1
    h ^= lengths_o.astype(np.uint32)
    h = _fmix(h)
    out = np.empty(n, np.uint32)
    out[order] = h
    return out.view(np.int32)


def _buckets(hashes: np.ndarray, n_features: int) -> np.ndarray:
    """scikit-learn's column for a signed hash: ``abs(h) % n_features`` (with abs(-2**31) = 2**31)."""
    return (np.abs(hashes.astype(np.int64)) % n_features).astype(np.int32)


def _words(tokens: pa.ListArray | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray, np.ndarray, int]:
    """(the distinct non-empty tokens, each token's id among them, each token's row, the number of rows).

    The tokens are words without whitespace (`tokenize_arrow` splits on Arrow's whitespace, which
    is Python's ``\\s``: a test pins that), so what scikit-learn finds again in them joined by
    spaces (``\\S+``, or ``str.split()`` for character n-grams) is these, less the empty ones.
    """
    if isinstance(tokens, pa.ChunkedArray):
        tokens = tokens.combine_chunks() if tokens.num_chunks else pa.array([], pa.list_(pa.large_string()))
    words = tokens.flatten().cast(pa.large_string())
    rows = pc.list_parent_indices(tokens).to_numpy()
    keep = pc.greater(pc.binary_length(words), 0)
    if len(words) and not pc.all(keep).as_py():
        words, rows = words.filter(keep), rows[keep.to_numpy(zero_copy_only=False)]
    encoded = pc.dictionary_encode(words)
    return encoded.dictionary, encoded.indices.to_numpy().astype(np.int64), rows, len(tokens)


def _counts(rows: np.ndarray, columns: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """float32 CSR of how often each (row, column) occurs, indices sorted: scikit-learn's layout."""
    X = sp.csr_matrix((np.ones(len(columns), np.float32), (rows, columns)), shape=shape)
    X.sum_duplicates()
    return X


def hashed_word_ngrams(tokens: pa.ListArray | pa.ChunkedArray, ngram_range: tuple[int, int],
                       n_features: int) -> sp.csr_matrix:
    """Counts of the hashed word n-grams of each row of ``tokens``, (n_rows, n_features) float32 CSR.

    Equal to scikit-learn's ``HashingVectorizer(ngram_range=ngram_range, token_pattern=r"\\S+",
    lowercase=False, alternate_sign=False, norm=None, n_features=n_features, dtype=np.float32)``
    on each row's tokens joined by single spaces (sorted indices, duplicates summed). The tokens must
    hold no whitespace, as `tweetsent.data.text.tokenize_arrow` makes them; empty tokens are dropped.
    """
    if 0 < len(tokens) < SMALL_WORD_BATCH:
        return _sklearn_counts(tokens, ngram_range, n_features, "word")
    vocabulary, ids, word_row, n_rows = _words(tokens)
    if not len(ids):
        return sp.csr_matrix((n_rows, n_features), dtype=np.float32)
    # Each distinct word, then each distinct n-gram, is hashed once. An n-gram is known by the id of
    # its first n - 1 words' (n-1)-gram and the id of its last word; its string is built only once.
    row_end = np.cumsum(np.bincount(word_row, minlength=n_rows))[word_row]  # one past each word's row's last word
    pos = np.arange(len(ids))
    sep = pa.scalar(" ", pa.large_string())
    columns, rows = [], []
    gram_ids, gram_strings = ids, vocabulary  # (n-1)-grams, by their first word's position
    for n in range(1, ngram_range[1] + 1):
        if n > 1:
            starts = np.flatnonzero(pos + n <= row_end)
            key = gram_ids[starts] * len(vocabulary) + ids[starts + n - 1]
            pairs = pc.dictionary_encode(pa.array(key))
            distinct = pairs.dictionary.to_numpy()
            gram_strings = pc.binary_join_element_wise(gram_strings.take(distinct // len(vocabulary)),
                                                       vocabulary.take(distinct % len(vocabulary)), sep)
            gram_ids = np.full(len(ids), -1, np.int64)
            gram_ids[starts] = pairs.indices.to_numpy()
        else:
            starts = pos
        if n >= ngram_range[0]:
            buckets = _buckets(murmurhash3_32(gram_strings), n_features)
            columns.append(buckets[gram_ids[starts]])
            rows.append(word_row[starts])
    return _counts(np.concatenate(rows), np.concatenate(columns), (n_rows, n_features))


def hashed_char_ngrams(tokens: pa.ListArray | pa.ChunkedArray, ngram_range: tuple[int, int],
                       n_features: int) -> sp.csr_matrix:
    """Counts of the hashed character n-grams of each row's words, padded with a space each side.

    Equal to scikit-learn's ``HashingVectorizer(analyzer="char_wb", ngram_range=ngram_range,
    lowercase=False, alternate_sign=False, norm=None, n_features=n_features, dtype=np.float32)``
    on each row's tokens joined by single spaces, under the same conditions as `hashed_word_ngrams`.

    Each distinct word of the batch is cut into n-grams and hashed once, in NumPy on its UTF-8
    bytes (n counts characters, not bytes); a row's counts are then the sum of its words' counts.
    """
    if 0 < len(tokens) < SMALL_CHAR_BATCH:
        return _sklearn_counts(tokens, ngram_range, n_features, "char_wb")
    vocabulary, ids, word_row, n_rows = _words(tokens)
    if not len(ids):
        return sp.csr_matrix((n_rows, n_features), dtype=np.float32)
    occurs = _counts(word_row, ids, (n_rows, len(vocabulary)))  # how often each row has each distinct word
    X = (occurs @ _char_wb_counts(vocabulary, ngram_range, n_features)).tocsr()
    X.sum_duplicates()
    return X


def _sklearn_counts(tokens: pa.ListArray | pa.ChunkedArray, ngram_range: tuple[int, int], n_features: int,
                    analyzer: str) -> sp.csr_matrix:
    """What the functions above compute, by scikit-learn's `HashingVectorizer` (for a few rows)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vectorizer = HashingVectorizer(analyzer=analyzer, ngram_range=ngram_range, token_pattern=r"\S+", lowercase=False,
                                   n_features=n_features, alternate_sign=False, norm=None, dtype=np.float32)
    return vectorizer.transform(pc.binary_join(tokens, pa.scalar(" ", pa.large_string())).to_pylist())


def _char_wb_counts(words: pa.Array, ngram_range: tuple[int, int], n_features: int) -> sp.csr_matrix:
    """(n_words, n_features): scikit-learn's ``char_wb`` n-grams of each word, hashed and counted.

    scikit-learn pads a word w to " w " (L characters) and, for n from min_n up, takes its L - n + 1
    n-grams, or, once L <= n, the padded word itself once and no longer n-grams.
    """
    lo, hi = ngram_range
    space = pa.scalar(" ", pa.large_string())
    padded = pc.binary_join_element_wise(space, words, space, pa.scalar("", pa.large_string()))
    data, offsets = _bytes_of(padded)
    data, offsets = data[offsets[0]:offsets[-1]], offsets - offsets[0]
    # Byte position of every character (UTF-8 lead bytes), then the end of the data.
    chars = np.append(np.flatnonzero((data & 0xC0) != 0x80), len(data))
    first = np.searchsorted(chars, offsets[:-1])  # each word's first character
    length = np.searchsorted(chars, offsets[1:]) - first  # L, in characters
    ids = np.arange(len(words))
    starts, ends, owner = [], [], []
    for n in range(lo, hi + 1):
        cut = ids[length > n]
        per_word = length[cut] - n + 1
        who = np.repeat(cut, per_word)
        k = np.arange(len(who)) - np.repeat(np.cumsum(per_word) - per_word, per_word)  # offset in its word
        starts.append(chars[first[who] + k])
        ends.append(chars[first[who] + k + n])
        owner.append(who)
        whole = np.flatnonzero((length == n) | ((n == lo) & (length < n)))
        starts.append(offsets[whole])
        ends.append(offsets[whole + 1])
        owner.append(whole)
    starts, ends = np.concatenate(starts), np.concatenate(ends)
    columns = _buckets(_murmur_ranges(data, starts, ends - starts), n_features)
    return _counts(np.concatenate(owner), columns, (len(words), n_features))
