"""What a model reads: pooled word vectors, MiniLM sentence vectors, hashed n-grams, built from the config.

    featurizer = build_featurizer(cfg.features).fit(train_texts)
    X = featurizer.transform(texts)        # Inputs: X.dense (n, d) tensor, X.sparse (n, 2**18) CSR
    X[0:64], len(X)                        # batches slice like tensors

``features.input`` joins parts with "+": the dense part is the pooled word vectors and the
MiniLM vectors side by side (in that order), the sparse part the hashed n-grams.

`Inputs` lets the training loop shuffle and slice dense and sparse features alike; the
network's first layer reads the sparse part as an ``EmbeddingBag`` (a sparse linear map).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
import torch

from tweetsent.config.settings import INPUT_PARTS, FeaturesConfig, input_parts
from tweetsent.data.text import tokenize_arrow
from tweetsent.features.embeddings import load_embeddings
from tweetsent.features.ngrams import NgramHasher
from tweetsent.features.pooling import EmbeddingAverager

__all__ = ["Inputs", "Featurizer", "build_featurizer", "INPUTS", "FEATURE_BATCH"]

INPUTS = INPUT_PARTS  # the parts; features.input joins them with "+"
# Tweets featurised at once when scoring (`Featurizer.batches`): for seed-softmax on 1,000,000 tweets,
# 4,096 was 7% slower than 8,192 (per-call costs) and saved 8-27 MB of a 480 MB peak.
FEATURE_BATCH = 8192


@dataclass
class Inputs:
    """A batch of features: ``dense`` (n, d) float32 tensor and/or ``sparse`` (n, m) CSR.

    ``device`` is where `bag` puts the sparse part's tensors (the CSR itself stays in host memory);
    `to` sets it and moves the dense part, as a tensor's ``to`` does.
    """

    dense: torch.Tensor | None = None
    sparse: sp.csr_matrix | None = None
    device: torch.device | None = None

    def __len__(self) -> int:
        return len(self.dense) if self.dense is not None else self.sparse.shape[0]

    def __getitem__(self, index) -> Inputs:
        rows = index.numpy() if isinstance(index, torch.Tensor) else index
        return Inputs(self.dense[index] if self.dense is not None else None,
                      self.sparse[rows] if self.sparse is not None else None, self.device)

    def to(self, device: torch.device) -> Inputs:
        """The same features with the dense part on ``device`` and the sparse part's `bag` made there."""
        return Inputs(self.dense.to(device) if self.dense is not None else None, self.sparse, device)

    def bag(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The sparse part as ``EmbeddingBag`` arguments: (indices, offsets, per-sample weights), on ``device``."""
        csr = self.sparse
        out = (torch.from_numpy(csr.indices.astype(np.int64)), torch.from_numpy(csr.indptr[:-1].astype(np.int64)),
               torch.from_numpy(csr.data.astype(np.float32)))
        return out if self.device is None else tuple(t.to(self.device) for t in out)


class Featurizer:
    """Pooled word vectors, MiniLM sentence vectors and/or hashed n-grams for a list of tweets, as `Inputs`."""

    def __init__(self, averager: EmbeddingAverager | None, hasher: NgramHasher | None, sentence=None) -> None:
        self.averager, self.hasher, self.sentence = averager, hasher, sentence
        self.oov_: dict | None = None

    @property
    def dense_dim(self) -> int:
        return (self.averager.dim if self.averager else 0) + (self.sentence.dim if self.sentence else 0)

    @property
    def sparse_dim(self) -> int:
        return self.hasher.dim if self.hasher else 0

    @property
    def embeddings(self):
        return self.averager.embeddings if self.averager else None

    def fit(self, texts: Sequence[str]) -> Featurizer:
        """Learn what the parts learn: pooling weights (tfidf/sif) and n-gram IDF; MiniLM is frozen."""
        if self.averager:
            self.averager.fit(texts)
        if self.hasher:
            self.hasher.fit(texts)
        return self

    def tokens(self, texts: Sequence[str]) -> pa.ListArray | None:
        """The tokens of ``texts`` for every part that reads tokens, when they share one tokenizer; else None."""
        tokenizers = {part.tokenizer for part in (self.averager, self.hasher) if part}
        return tokenize_arrow(texts, tokenizers.pop()) if len(tokenizers) == 1 else None

    def batches(self, texts: Sequence[str], size: int | None = None) -> Iterator[Inputs]:
        """`transform` ``size`` (default `FEATURE_BATCH`) tweets at a time, all of them tokenised at once.

        Features (hashed n-grams above all) take memory in proportion to the tweets featurised at
        once, so this bounds it; tokenising costs a fixed time per call (the tokenizer's patterns
        are compiled each time), so the whole input is tokenised in one go.
        """
        size = size or FEATURE_BATCH
        tokens = self.tokens(texts)
        for start in range(0, len(texts), size):
            yield self.transform(texts[start:start + size], tokens=None if tokens is None else tokens.slice(start, size))

    def transform(self, texts: Sequence[str], record_oov: bool = False, tokens: pa.ListArray | None = None) -> Inputs:
        """Features of ``texts``; ``tokens``, when given, are `tokens`' answer for them."""
        dense, sparse = [], None
        shared = tokens if tokens is not None else self.tokens(texts)  # the parts read the same tokens: tokenise once
        if self.averager:
            ids = self.averager.token_ids(texts, shared)
            if record_oov:
                self.oov_ = {"token_rate": ids.oov_rate(), "tweets_without_known_word": ids.empty_docs()}
            dense.append(self.averager.pool(ids))
        if self.sentence:
            dense.append(self.sentence.encode(texts))
        if self.hasher:
            sparse = self.hasher.transform(texts, shared)
        joined = torch.from_numpy(np.ascontiguousarray(np.hstack(dense) if len(dense) > 1 else dense[0])) if dense else None
        return Inputs(joined, sparse)

    def state(self) -> dict[str, torch.Tensor]:
        """Learned feature state to save with the weights: n-gram ``idf``, ``pool.weights`` / ``pool.component``."""
        out = {}
        if self.hasher and self.hasher.idf_ is not None:
            out["idf"] = torch.from_numpy(self.hasher.idf_)
        if self.averager:
            out.update({f"pool.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.averager.state().items()})
        return out

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        if "idf" in tensors and self.hasher:
            self.hasher.idf_ = tensors["idf"].numpy()
        if self.averager:
            self.averager.load_state({k[5:]: v.numpy() for k, v in tensors.items() if k.startswith("pool.")})

    def identity(self) -> dict:
        out: dict = {"dense_dim": self.dense_dim, "sparse_dim": self.sparse_dim}
        if self.averager:
            out["embeddings"] = self.averager.embeddings.identity()
            if self.averager.pooling != "mean":
                out["pooling"] = self.averager.pooling
        if self.sentence:
            out["minilm"] = self.sentence.settings()
        if self.hasher:
            out["ngrams"] = self.hasher.settings()
        return out


def build_featurizer(cfg: FeaturesConfig, progress: bool = True, device: torch.device | None = None) -> Featurizer:
    """The featurizer a `FeaturesConfig` describes (loads the embeddings when they are used); ``device``
    is where MiniLM encodes sentence vectors (None: the CPU)."""
    averager = hasher = sentence = None
    parts = input_parts(cfg.input)
    if "embeddings" in parts:
        averager = EmbeddingAverager(load_embeddings(cfg.embeddings), cfg.tokenizer, cfg.pooling, cfg.punctuation,
                                     cfg.sif_a, cfg.sif_remove_pc)
    if "minilm" in parts:
        from tweetsent.features.minilm import MiniLMEncoder

        sentence = MiniLMEncoder(cfg.minilm_max_length, progress=progress, device=device)
    if "ngrams" in parts:
        hasher = NgramHasher(tuple(cfg.word_ngrams), tuple(cfg.char_ngrams), cfg.n_features, cfg.tfidf, cfg.tokenizer)
    return Featurizer(averager, hasher, sentence)
