"""Tweets to fixed-size vectors: their words' GloVe vectors, pooled.

    featurizer = EmbeddingAverager(load_embeddings("glove-6b-50d"), tokenizer="tweet", pooling="sif")
    X = featurizer.fit(train_texts).transform(["vaccines save lives"])     # (1, 50) float32

The averager takes its table as input. The study's behaviour is the default: the mean of the
known words' vectors, and a zero vector for a tweet with no known word. Other poolings:

- ``max``: the element-wise maximum; ``mean+max``: both, concatenated (2 * dim).
- ``tfidf``: the IDF-weighted mean, IDF learned on the training tweets (smoothed, as scikit-learn).
- ``sif``: smooth inverse frequency (Arora et al. 2017): weights ``a / (a + p(w))`` with ``p``
  the word's frequency in the training tweets, summed and divided by the number of known words,
  then (optionally) the first principal component of the training vectors is removed.

Only ``tfidf`` and ``sif`` learn anything in `fit` (one weight per table row, and the component);
that is the `state` saved with a model. The whole batch is tokenised in Arrow, its distinct words
looked up once each and pooled with one ``embedding_bag`` call, which is what makes it fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import regex

from tweetsent.data.text import tokenize_arrow
from tweetsent.features.embeddings import Embeddings

__all__ = ["EmbeddingAverager", "TokenIds", "UNKNOWN", "SKIPPED"]

_LEARNED = ("tfidf", "sif")
UNKNOWN, SKIPPED = -1, -2
_SYMBOL_ONLY = regex.compile(r"[^\pL\pN]+")  # a token of punctuation or symbols alone (fullmatch)


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
    """Pooled vectors of the known words per tweet; zeros when no word is known.

    Parameters
    ----------
    embeddings : Embeddings
        The word-vector table.
    tokenizer : {"tweet", "whitespace"}
        See `tweetsent.data.text`.
    pooling : {"mean", "max", "mean+max", "tfidf", "sif"}
        How word vectors are combined (see the module docstring).
    punctuation : bool
        Average punctuation- and symbol-only tokens (``.``, ``!``, ``#``, emoji) too. Off by
        default: their GloVe vectors are among the most frequent and drown a short tweet's
        words (+1 point of accuracy for seed-tanh on the vaccine data, BENCHMARKS.md).
    sif_a : float
        The ``a`` of the SIF weights ``a / (a + p(w))``.
    sif_remove_pc : bool
        Remove the first principal component of the training tweets' SIF vectors.

    Attributes set by `fit` (``tfidf`` and ``sif`` only): ``weights_`` (n_words,) float32, one
    weight per table row; ``component_`` (dim,) float32 unit vector, or None.
    """

    def __init__(self, embeddings: Embeddings, tokenizer: str = "tweet", pooling: str = "mean",
                 punctuation: bool = False, sif_a: float = 1e-3, sif_remove_pc: bool = True) -> None:
        self.embeddings = embeddings
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.punctuation = punctuation
        self.sif_a = sif_a
        self.sif_remove_pc = sif_remove_pc
        self.weights_: np.ndarray | None = None
        self.component_: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return 2 * self.embeddings.dim if self.pooling == "mean+max" else self.embeddings.dim

    def fit(self, texts: Sequence[str], y=None) -> EmbeddingAverager:
        """Learn the word weights of ``tfidf`` / ``sif`` pooling from the training tweets (else nothing)."""
        if self.pooling in _LEARNED:
            self.fit_tokens(self.token_ids(texts))
        return self

    def fit_tokens(self, tok: TokenIds) -> EmbeddingAverager:
        """`fit` from already looked-up tokens."""
        if self.pooling not in _LEARNED:
            return self
        n_words = len(self.embeddings.vectors)
        known = tok.ids >= 0
        if self.pooling == "tfidf":
            # document frequency: each (tweet, word) pair once
            pairs = np.unique(tok.doc[known] * n_words + tok.ids[known])
            df = np.bincount(pairs % n_words, minlength=n_words)
            self.weights_ = (np.log((1 + tok.n_docs) / (1 + df)) + 1).astype(np.float32)  # smooth idf
        else:
            counts = np.bincount(tok.ids[known], minlength=n_words).astype(np.float64)
            p = counts / max(counts.sum(), 1.0)
            self.weights_ = (self.sif_a / (self.sif_a + p)).astype(np.float32)
            self.component_ = None
            if self.sif_remove_pc:
                X = self._pool(tok)  # (n_tweets, dim), before removal
                # first right singular vector, uncentred, as the SIF paper's TruncatedSVD
                _, _, vt = np.linalg.svd(X.astype(np.float64), full_matrices=False)
                self.component_ = vt[0].astype(np.float32) if len(vt) else None
        return self

    def token_ids(self, texts: Sequence[str] | pa.Array, tokens: pa.ListArray | None = None) -> TokenIds:
        """Tokenise a batch (unless ``tokens`` holds it, tokenised by ``self.tokenizer``) and look every token up in the table.

        The batch's tokens are dictionary-encoded in Arrow (one hash pass), and only its distinct
        words are looked up in the table's dict: a hash join against the table would hash all of
        GloVe's 400,000 words again on every call, which cost more than the rest of featurisation.
        """
        if tokens is None:
            tokens = tokenize_arrow(texts, self.tokenizer)
        flat = tokens.flatten()
        lengths = np.diff(tokens.offsets.to_numpy())
        doc = np.repeat(np.arange(len(tokens)), lengths)
        encoded = pc.dictionary_encode(flat)
        words = encoded.dictionary.to_pylist()
        index = self.embeddings.index
        known = np.fromiter((index.get(w, UNKNOWN) for w in words), np.int64, len(words))
        if not self.punctuation:
            symbol_only = np.fromiter((_SYMBOL_ONLY.fullmatch(w) is not None for w in words), bool, len(words))
            known = np.where(symbol_only, SKIPPED, known)
        return TokenIds(known[encoded.indices.to_numpy(zero_copy_only=False)], doc, len(tokens))

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
        pooled = self._pool(tok)
        if self.pooling == "sif" and self.component_ is not None:
            pooled = pooled - np.outer(pooled @ self.component_, self.component_)
        return np.ascontiguousarray(pooled, dtype=np.float32)

    def _pool(self, tok: TokenIds) -> np.ndarray:
        """Pooling before SIF's component removal; tokens are in tweet order (``doc`` sorted)."""
        import torch

        known = tok.ids >= 0
        ids = tok.ids[known]
        counts = np.bincount(tok.doc[known], minlength=tok.n_docs)
        offsets = torch.from_numpy(np.cumsum(counts) - counts)  # where each tweet's words start
        table, index = torch.from_numpy(self.embeddings.vectors), torch.from_numpy(ids)
        bag = torch.nn.functional.embedding_bag
        # An empty bag gives the zero vector in every mode: the study's policy for tweets with
        # no known word.
        if self.pooling in ("mean", "max"):
            return bag(index, table, offsets, mode=self.pooling).numpy()
        if self.pooling == "mean+max":
            return torch.cat([bag(index, table, offsets, mode="mean"), bag(index, table, offsets, mode="max")], 1).numpy()
        if self.weights_ is None:
            raise RuntimeError(f"EmbeddingAverager.fit must run before pooling={self.pooling!r} transforms")
        w = self.weights_[ids]
        summed = bag(index, table, offsets, mode="sum", per_sample_weights=torch.from_numpy(w)).numpy()
        # tfidf: a weighted mean (divide by the weights); sif: divide by the number of words
        norm = np.bincount(tok.doc[known], weights=w, minlength=tok.n_docs) if self.pooling == "tfidf" else counts
        return summed / np.maximum(norm, 1e-12)[:, None]

    def state(self) -> dict[str, np.ndarray]:
        """What `fit` learned: ``weights`` and ``component`` arrays (empty for mean/max pooling)."""
        out = {}
        if self.weights_ is not None:
            out["weights"] = self.weights_
        if self.component_ is not None:
            out["component"] = self.component_
        return out

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        if self.pooling in _LEARNED and "weights" not in arrays:
            raise ValueError(f"no learned word weights for pooling={self.pooling!r}")
        self.weights_ = arrays.get("weights")
        self.component_ = arrays.get("component")

    def settings(self) -> dict:
        out = {"tokenizer": self.tokenizer, "pooling": self.pooling, "punctuation": self.punctuation,
               "embeddings": self.embeddings.identity()}
        if self.pooling == "sif":
            out.update(sif_a=self.sif_a, sif_remove_pc=self.sif_remove_pc)
        return out
