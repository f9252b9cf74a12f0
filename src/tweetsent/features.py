"""Tweets to fixed-size vectors: the average of their words' GloVe vectors.

    featurizer = EmbeddingAverager(load_embeddings("glove-6b-50d"), tokenizer="tweet")
    X = featurizer.transform(["vaccines save lives"])     # (1, 50) float32

The averager takes its table as input and learns nothing (``fit`` does nothing). The study's
behaviour is the default: the mean of the known words' vectors, and a zero vector for a tweet
with no known word. The whole batch is tokenised as one string and pooled with one sparse
matrix product, which is what makes it fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from tweetsent.embeddings import Embeddings
from tweetsent.text import tokenize_arrow

__all__ = ["EmbeddingAverager", "TokenIds", "POOLINGS"]

POOLINGS = ("mean",)


@dataclass
class TokenIds:
    """The tokens of a batch as row ids into the table, flattened.

    ``doc[i]`` is the tweet of token ``i``, ``ids[i]`` its row in the table or -1 if unknown.
    """

    ids: np.ndarray
    doc: np.ndarray
    n_docs: int

    def oov_rate(self) -> float:
        """Share of tokens that are not in the table."""
        return float((self.ids < 0).mean()) if len(self.ids) else 0.0

    def empty_docs(self) -> int:
        """Number of tweets with no known token (they get the zero vector)."""
        known = np.bincount(self.doc[self.ids >= 0], minlength=self.n_docs)
        return int((known == 0).sum())


class EmbeddingAverager:
    """Mean of the known words' vectors per tweet; zeros when no word is known.

    Parameters
    ----------
    embeddings : Embeddings
        The word-vector table.
    tokenizer : {"tweet", "whitespace"}
        See `tweetsent.text`.
    pooling : {"mean"}
        How word vectors are combined.
    """

    def __init__(self, embeddings: Embeddings, tokenizer: str = "tweet", pooling: str = "mean") -> None:
        self.embeddings = embeddings
        self.tokenizer = tokenizer
        self.pooling = pooling
        self._vocab = pa.array(embeddings.words, type=pa.large_string())

    @property
    def dim(self) -> int:
        return self.embeddings.dim

    def fit(self, texts: Sequence[str], y=None) -> "EmbeddingAverager":
        """Does nothing: the table is given, not learned."""
        return self

    def token_ids(self, texts: Sequence[str] | pa.Array) -> TokenIds:
        """Tokenise a batch and look every token up in the table (one hash join in Arrow)."""
        tokens = tokenize_arrow(texts, self.tokenizer)
        ids = pc.index_in(tokens.flatten(), value_set=self._vocab).fill_null(-1).to_numpy()
        lengths = np.diff(tokens.offsets.to_numpy())
        doc = np.repeat(np.arange(len(tokens)), lengths)
        return TokenIds(ids.astype(np.int64), doc, len(tokens))

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Pool each tweet's word vectors.

        Returns
        -------
        np.ndarray
            (n_tweets, dim) float32.
        """
        return self.pool(self.token_ids(texts))

    def pool(self, tok: TokenIds) -> np.ndarray:
        """(n_tweets, dim) float32 vectors from looked-up tokens."""
        known = tok.ids >= 0
        rows, cols = tok.doc[known], tok.ids[known]
        counts = np.bincount(rows, minlength=tok.n_docs).astype(np.float32)
        weights = 1.0 / counts[rows]
        # (n_tweets, n_words) averaging matrix times (n_words, dim) table.
        pool = sp.csr_matrix((weights, (rows, cols)), shape=(tok.n_docs, len(self.embeddings.words)))
        return np.asarray(pool @ self.embeddings.vectors, dtype=np.float32)

    def settings(self) -> dict:
        return {"tokenizer": self.tokenizer, "pooling": self.pooling, "embeddings": self.embeddings.identity()}
