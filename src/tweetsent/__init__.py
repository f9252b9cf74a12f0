"""tweetsent: train, tune, evaluate, compare and explain tweet classifiers.

    from tweetsent import TweetClassifier, read_dataset
    train = read_dataset("vaccine_train_set.csv")
    clf = TweetClassifier("seed-prelu").fit(train.texts, train.labels)

The public names load lazily, so importing the package (and ``tweetsent --help``) stays fast.
"""

from __future__ import annotations

import importlib

__all__ = [
    "TweetClassifier", "read_dataset", "resolve_config", "RunConfig", "load_embeddings", "compute_metrics",
    "train_run", "evaluate_run", "predict_file", "load_run", "tokenize", "plots",
]

_WHERE = {
    "TweetClassifier": "tweetsent.models.classifier", "read_dataset": "tweetsent.data.tables",
    "resolve_config": "tweetsent.config.resolve", "RunConfig": "tweetsent.config.settings",
    "load_embeddings": "tweetsent.features.embeddings", "compute_metrics": "tweetsent.evaluation.metrics",
    "train_run": "tweetsent.runs.workflow", "evaluate_run": "tweetsent.runs.workflow", "predict_file": "tweetsent.runs.workflow",
    "load_run": "tweetsent.runs.workflow", "tokenize": "tweetsent.data.text",
}


def __getattr__(name: str):
    if name == "plots":
        return importlib.import_module("tweetsent.reporting.plots")
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'tweetsent' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
