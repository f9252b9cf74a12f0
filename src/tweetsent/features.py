"""Tweets to fixed-size vectors: the average of their words' GloVe vectors.

    featurizer = EmbeddingAverager(load_embeddings("glove-6b-50d"), tokenizer="tweet")
    X = featurizer.transform(["vaccines save lives"])     # (1, 50) float32

The averager takes its table as input and learns nothing (``fit`` does nothing). The study's
behaviour is the default: the mean of the known words' vectors, and a zero vector for a tweet
with no known word. The whole batch is tokenised in Arrow, looked up with one hash join and
pooled with one ``embedding_bag`` call, which is what makes it fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tweetsent.embeddings import Embeddings
from tweetsent.text import tokenize_arrow

__all__ = ["EmbeddingAverager", "TokenIds", "POOLINGS", "UNKNOWN", "SKIPPED"]

POOLINGS = ("mean",)
UNKNOWN, SKIPPED = -1, -2


@dataclass
class TokenIds:
    """The tokens of a batch as row ids into the table, flattened.

    ``doc[i]`` is the tweet of token ``i``; ``ids[i]`` its row in the table, -1 if unknown,
    or -2 if skipped (a punctuation-only token when punctuation is left out of the average).
    """

    ids: np.ndarray
    doc: np.ndarray
    n_docs: int

    def oov_rate(self) -> float:
        """Share of the (not skipped) tokens that are not in the table."""
        counted = int((self.ids != SKIPPED).sum())
        return float((self.ids == UNKNOWN).sum() / counted) if counted else 0.0

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
    punctuation : bool
        Average punctuation- and symbol-only tokens (``.``, ``!``, ``#``, emoji) too. Off by
        default: their GloVe vectors are among the most frequent and drown a short tweet's
        words (+1 point of accuracy for seed-tanh on the vaccine data, BENCHMARKS.md).
    """

    def __init__(self, embeddings: Embeddings, tokenizer: str = "tweet", pooling: str = "mean",
                 punctuation: bool = False) -> None:
        self.embeddings = embeddings
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.punctuation = punctuation
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
        flat = tokens.flatten()
        ids = pc.index_in(flat, value_set=self._vocab).fill_null(UNKNOWN).to_numpy(zero_copy_only=False)
        if not self.punctuation and len(flat):
            symbol_only = pc.match_substring_regex(flat, r"^[^\pL\pN]+$").to_numpy(zero_copy_only=False)
            ids = np.where(symbol_only, SKIPPED, ids)
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
        import torch

        known = tok.ids >= 0
        counts = np.bincount(tok.doc[known], minlength=tok.n_docs)
        offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
        # One embedding_bag call: the mean over each tweet's known rows; an empty bag gives the
        # zero vector, which is the study's policy for tweets with no known word.
        pooled = torch.nn.functional.embedding_bag(
            torch.from_numpy(tok.ids[known]), torch.from_numpy(self.embeddings.vectors),
            torch.from_numpy(offsets), mode="mean")
        return pooled.numpy()

    def settings(self) -> dict:
        return {"tokenizer": self.tokenizer, "pooling": self.pooling, "punctuation": self.punctuation,
                "embeddings": self.embeddings.identity()}
