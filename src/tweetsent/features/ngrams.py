"""Hashed word and character n-grams: the sparse features of the study's softmax regression.

    hasher = NgramHasher(word_ngrams=(1, 2), char_ngrams=(2, 5), tfidf=True).fit(train_texts)
    X = hasher.transform(["vaccines save lives"])     # scipy CSR, (1, n_features)

Tweets go through the same tokenizer as the embeddings (`tweetsent.data.text`); word n-grams of
the tokens and, optionally, character n-grams within word boundaries are hashed as
scikit-learn's `HashingVectorizer` hashes them, bucket for bucket, but in Arrow and NumPy
(`tweetsent.features.hashing`). Hashing is stateless; the optional TF-IDF
weighting learns one inverse document frequency per hashed feature on the training tweets
(``idf_``, saved with the model). Rows are L2-normalised.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from tweetsent.data.text import tokenize_arrow
from tweetsent.features.hashing import hashed_char_ngrams, hashed_word_ngrams

__all__ = ["NgramHasher"]


class NgramHasher:
    """Hashed (and optionally TF-IDF weighted) n-gram counts, L2-normalised per tweet.

    Parameters
    ----------
    word_ngrams : tuple of int
        (min_n, max_n) word n-grams; ``(0, 0)`` for none.
    char_ngrams : tuple of int
        (min_n, max_n) character n-grams inside word boundaries; ``(0, 0)`` for none.
    n_features : int
        Hash buckets, shared by words and characters.
    tfidf : bool
        Weight counts by smoothed inverse document frequency learned in `fit`, with sublinear tf.
    tokenizer : str
        See `tweetsent.data.text`.
    """

    def __init__(self, word_ngrams=(1, 2), char_ngrams=(0, 0), n_features: int = 2**18, tfidf: bool = False,
                 tokenizer: str = "tweet") -> None:
        self.word_ngrams = tuple(word_ngrams)
        self.char_ngrams = tuple(char_ngrams)
        self.n_features = n_features
        self.tfidf = tfidf
        self.tokenizer = tokenizer
        self.idf_: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return self.n_features

    def counts(self, texts: Sequence[str], tokens: pa.ListArray | None = None) -> sp.csr_matrix:
        """Raw hashed counts, (n_tweets, n_features); ``tokens``: ``texts`` already tokenised by ``self.tokenizer``."""
        if tokens is None:
            tokens = tokenize_arrow(texts, self.tokenizer)
        X = sp.csr_matrix((len(tokens), self.n_features), dtype=np.float32)
        if self.word_ngrams[1] > 0:
            X = hashed_word_ngrams(tokens, self.word_ngrams, self.n_features)
        if self.char_ngrams[1] > 0:
            X = (X + hashed_char_ngrams(tokens, self.char_ngrams, self.n_features)).tocsr()
        return X

    def fit(self, texts: Sequence[str], y=None) -> NgramHasher:
        """Learn the inverse document frequencies (only when ``tfidf``); hashing itself is stateless."""
        if self.tfidf:
            counts = self.counts(texts)
            df = np.bincount(counts.indices, minlength=self.n_features)
            n = counts.shape[0]
            self.idf_ = (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)  # scikit-learn's smooth idf
        return self

    def transform(self, texts: Sequence[str], tokens: pa.ListArray | None = None) -> sp.csr_matrix:
        """(n_tweets, n_features) float32 CSR, rows L2-normalised (``tokens`` as in `counts`)."""
        from sklearn.preprocessing import normalize

        X = self.counts(texts, tokens)
        if self.tfidf:
            if self.idf_ is None:
                raise RuntimeError("NgramHasher.fit must run before transform when tfidf is on")
            X.data = 1.0 + np.log(X.data)  # sublinear tf
            X.data *= self.idf_[X.indices]  # each column times its IDF: X @ diag(idf), without building the diagonal
        return normalize(X.astype(np.float32), copy=False).tocsr()

    def settings(self) -> dict:
        return {"word_ngrams": list(self.word_ngrams), "char_ngrams": list(self.char_ngrams),
                "n_features": self.n_features, "tfidf": self.tfidf, "tokenizer": self.tokenizer}
