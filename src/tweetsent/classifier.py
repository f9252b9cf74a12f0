"""The estimator a notebook uses: featuriser + network + training, in the scikit-learn manner.

    clf = TweetClassifier("seed-prelu").fit(train.texts, train.labels, val.texts, val.labels)
    clf.predict(["vaccines cause autism"]), clf.predict_proba(["..."])   # labels via classes_
    clf.save("model/"); clf = TweetClassifier.load("model/")

A saved model is two files: ``model.safetensors`` (weights) and ``model.json`` (format and
version, resolved config, classes, embedding identity, package version). Loading never
unpickles anything.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from tweetsent.config import RunConfig, config_from_dict, resolve_config
from tweetsent.errors import EmbeddingError, ModelError
from tweetsent.inputs import Inputs, build_featurizer
from tweetsent.network import FeedForward
from tweetsent.training import Callback, EarlyStopping, predict_scores, train_network

__all__ = ["TweetClassifier", "FORMAT", "FORMAT_VERSION", "package_version"]

FORMAT = "tweetsent-model"
FORMAT_VERSION = 1


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tweetsent")
    except PackageNotFoundError:
        return "unknown"


class TweetClassifier:
    """A tweet classifier configured by a `RunConfig` (or a preset name / TOML path).

    Attributes set by `fit`: ``classes_``, ``featurizer_``, ``net_``, ``history_``, ``best_epoch_``.
    """

    def __init__(self, config: RunConfig | str | None = None) -> None:
        self.config = config

    # -- learning -------------------------------------------------------------------------

    def _resolved(self) -> RunConfig:
        if isinstance(self.config, RunConfig):
            return self.config
        return resolve_config(self.config)

    def _features(self, texts: Sequence[str]) -> Inputs:
        return self.featurizer_.transform(texts)

    def _indices(self, labels) -> torch.Tensor:
        lookup = {c: i for i, c in enumerate(self.classes_)}
        return torch.tensor([lookup[v.item() if hasattr(v, "item") else v] for v in labels], dtype=torch.int64)

    def fit(self, texts: Sequence[str], labels, val_texts: Sequence[str] | None = None, val_labels=None,
            callbacks: Sequence[Callback] = ()) -> "TweetClassifier":
        """Train on labelled tweets; validation data (optional) is scored after every epoch."""
        cfg = self.config_ = self._resolved()
        labels = np.asarray(labels)
        self.classes_ = [v.item() if hasattr(v, "item") else v for v in np.unique(labels)]
        torch.manual_seed(cfg.train.seed)
        np.random.seed(cfg.train.seed)
        if cfg.train.threads > 0:
            torch.set_num_threads(cfg.train.threads)
        self.featurizer_ = build_featurizer(cfg.features).fit(texts)
        X, y = self.featurizer_.transform(texts, record_oov=True), self._indices(labels)
        self.train_oov_ = self.featurizer_.oov_
        X_val = y_val = None
        if val_texts is not None and val_labels is not None:
            X_val, y_val = self._features(val_texts), self._indices(np.asarray(val_labels))
        self.net_ = self._build_net(self.featurizer_.dense_dim, self.featurizer_.sparse_dim, len(self.classes_))
        callbacks = list(callbacks)
        stopper = None
        if cfg.train.early_stopping and X_val is not None:
            stopper = EarlyStopping(cfg.train.patience)
            callbacks.insert(0, stopper)
        self.history_ = train_network(self.net_, X, y, X_val, y_val, cfg.train, callbacks)
        self.best_epoch_ = stopper.best_epoch if stopper else len(self.history_)
        return self

    def _build_net(self, dense_dim: int, sparse_dim: int, n_classes: int) -> FeedForward:
        return FeedForward(dense_dim, sparse_dim, n_classes, self.config_.model,
                           log_softmax=self.config_.train.loss == "nll")

    # -- predicting ------------------------------------------------------------------------

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, n_classes) probabilities, columns in the order of ``classes_``."""
        scores = predict_scores(self.net_, self._features(texts))
        return torch.softmax(scores, dim=1).numpy() if len(texts) else np.zeros((0, len(self.classes_)), np.float32)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The most probable class of each tweet (values from ``classes_``)."""
        return np.asarray(self.classes_)[self.predict_proba(texts).argmax(axis=1)]

    # -- persistence ----------------------------------------------------------------------

    def metadata(self) -> dict:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "package_version": package_version(),
            "model_kind": self.config_.model.kind, "config": self.config_.to_dict(),
            "classes": self.classes_, "features": self.featurizer_.identity(), "best_epoch": self.best_epoch_,
        }

    def save(self, folder: str | Path) -> Path:
        """Write ``model.safetensors`` and ``model.json`` into ``folder`` (atomically)."""
        from safetensors.torch import save_file

        from tweetsent.fileio import atomic_path, atomic_write_json

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "model.safetensors") as tmp:
            tensors = {**self.net_.state_dict(), **{f"features.{k}": v for k, v in self.featurizer_.state().items()}}
            save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
        atomic_write_json(folder / "model.json", self.metadata())
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "TweetClassifier":
        """Load a saved model (a model folder, or a run directory holding ``model/``)."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        folder = Path(folder)
        if (folder / "model").is_dir():
            folder = folder / "model"
        meta_path = folder / "model.json"
        if not meta_path.exists():
            raise ModelError(f"{folder}: no model.json here; give a run directory made by `tweetsent train`")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ModelError(f"{meta_path}: corrupt model metadata ({exc}); retrain or restore the run") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ModelError(f"{meta_path}: not a tweetsent model (no format {FORMAT!r})")
        if meta.get("format_version", 0) > FORMAT_VERSION:
            raise ModelError(f"{meta_path}: model format {meta['format_version']} is newer than this tweetsent "
                             f"({package_version()}) reads; upgrade tweetsent")
        clf = cls(config_from_dict(meta["config"], str(meta_path)))
        clf.config_ = clf.config
        clf.classes_ = meta["classes"]
        clf.best_epoch_ = meta.get("best_epoch")
        clf.history_ = []
        clf.featurizer_ = build_featurizer(clf.config_.features)
        saved = meta.get("features", {})
        if clf.featurizer_.embeddings is not None:
            emb, was = clf.featurizer_.embeddings, saved.get("embeddings", {})
            if emb.dim != was.get("dim") or emb.fingerprint != was.get("fingerprint"):
                raise EmbeddingError(f"{meta_path}: the model was trained on embeddings {was.get('spec')} "
                                     f"(dim {was.get('dim')}, sha256 {str(was.get('fingerprint'))[:12]}) but "
                                     f"{emb.spec} now gives dim {emb.dim}, {emb.fingerprint[:12]}")
        clf.net_ = clf._build_net(clf.featurizer_.dense_dim, clf.featurizer_.sparse_dim, len(clf.classes_))
        try:
            tensors = load_file(str(folder / "model.safetensors"))
            clf.featurizer_.load_state({k[9:]: v for k, v in tensors.items() if k.startswith("features.")})
            clf.net_.load_state_dict({k: v for k, v in tensors.items() if not k.startswith("features.")})
        except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
            raise ModelError(f"{folder / 'model.safetensors'}: corrupt or mismatched weights "
                             f"({str(exc).splitlines()[0]}); retrain or restore the run") from exc
        clf.net_.eval()
        return clf
