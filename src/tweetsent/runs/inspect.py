"""What a table of tweets holds, seen through a config: rows, classes, and the out-of-vocabulary rate.

    facts = inspect_table("train.csv", resolve_config("seed-prelu"))
    facts["oov_rate"]       # share of tokens without a word vector
"""

from __future__ import annotations

from pathlib import Path

from tweetsent.config.settings import RunConfig

__all__ = ["inspect_table"]


def inspect_table(path: str | Path, cfg: RunConfig) -> dict:
    """Count the rows and classes of a table and tokenise it with the config's tokenizer and word vectors.

    Parameters
    ----------
    path : path
        A table of tweets (labels optional).
    cfg : RunConfig
        Gives the text and label columns, the tokenizer and the word vectors.

    Returns
    -------
    dict
        ``path``, ``n`` (tweets), ``text_column``, ``classes`` (list of (label, count) pairs, or None
        without labels), ``tokenizer``, ``embeddings``, ``tokens_per_tweet``, ``oov_rate`` (share of
        tokens) and ``empty_docs`` (tweets with no known word).
    """
    import numpy as np

    from tweetsent.data.tables import read_dataset
    from tweetsent.features.embeddings import load_embeddings
    from tweetsent.features.pooling import EmbeddingAverager

    ds = read_dataset(path, cfg.data.text_column, cfg.data.label_column, require_labels=False, empty=cfg.data.empty)
    classes = None
    if ds.labels is not None:
        values, counts = np.unique(ds.labels, return_counts=True)
        classes = list(zip(values.tolist(), counts.tolist()))
    emb = load_embeddings(cfg.features.embeddings)
    tokens = EmbeddingAverager(emb, cfg.features.tokenizer).token_ids(ds.texts)
    return {"path": str(path), "n": len(ds), "text_column": ds.text_column, "classes": classes,
            "tokenizer": cfg.features.tokenizer, "embeddings": cfg.features.embeddings,
            "tokens_per_tweet": len(tokens.ids) / max(len(ds), 1), "oov_rate": tokens.oov_rate(),
            "empty_docs": tokens.empty_docs()}
