"""``model.kind = "network"`` and ``"softmax"``: the study's feed-forward network over the configured features.

    model = FeedForwardModel(cfg, n_classes=3)
    model.fit(data, callbacks)       # featuriser fitted on the training tweets, then the network
    model.scores(texts)              # (n, 3)

The featuriser (pooled word vectors, MiniLM sentence vectors, hashed n-grams; see
`tweetsent.features.featurizer`) turns tweets into `Inputs`; `FeedForward` maps them to scores
(softmax regression is the same network with no hidden layer); `train_network` is the loop.
Saved as one ``model.safetensors`` holding the network's weights and the featuriser's learned
state (``features.*``: n-gram IDF, pooling weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from tweetsent.config.settings import RunConfig
from tweetsent.errors import EmbeddingError
from tweetsent.features.featurizer import Featurizer, build_featurizer
from tweetsent.models.base import Model, TrainingData, register, stopping_callbacks
from tweetsent.models.network import FeedForward
from tweetsent.models.weights import read_weights, weights_mismatch, write_weights
from tweetsent.training.loop import Callback, class_weights, make_criterion, predict_scores, train_network

__all__ = ["FeedForwardModel"]


@register("network", "softmax")
class FeedForwardModel(Model):
    """A featuriser and a `FeedForward` network; attributes ``featurizer_`` and ``net_`` once fitted."""

    featurizer_: Featurizer
    net_: FeedForward

    def _build_net(self) -> FeedForward:
        return FeedForward(self.featurizer_.dense_dim, self.featurizer_.sparse_dim, self.n_classes, self.cfg.model,
                           log_softmax=self.cfg.train.loss == "nll")

    def fit(self, data: TrainingData, callbacks: Sequence[Callback]) -> None:
        cfg = self.cfg
        self.featurizer_ = build_featurizer(cfg.features, device=self.device).fit(data.texts)
        X = self.featurizer_.transform(data.texts, record_oov=True)
        self.train_oov_ = self.featurizer_.oov_
        X_val = self.featurizer_.transform(data.val_texts) if data.val_y is not None else None
        X_hold = self.featurizer_.transform(data.hold_texts) if data.hold_y is not None else None
        self.net_ = self._build_net().to(self.device)  # initialised in host memory (same weights anywhere), then moved
        criterion = make_criterion(cfg.train, class_weights(cfg.train.class_weight, data.y.numpy(), self.n_classes))
        stopping = stopping_callbacks(cfg, data, lambda net: predict_scores(net, X_hold), criterion)
        self.history_ = train_network(self.net_, X, data.y, X_val, data.val_y, cfg.train, [*stopping, *callbacks],
                                      data.targets)
        self.best_epoch_ = stopping[-1].best_epoch if stopping else len(self.history_)

    def scores(self, texts: Sequence[str]) -> torch.Tensor:
        # A batch of features at a time, so memory stays bounded however many tweets come.
        out = [predict_scores(self.net_, X) for X in self.featurizer_.batches(texts)]
        return torch.cat(out) if out else torch.zeros((0, self.n_classes))

    def to(self, device: torch.device) -> FeedForwardModel:
        self.device = device
        self.net_.to(device)
        if self.featurizer_.sentence is not None:
            self.featurizer_.sentence.device = device
        return self

    def identity(self) -> dict:
        return self.featurizer_.identity()

    def save(self, folder: Path) -> dict:
        tensors = {**self.net_.state_dict(), **{f"features.{k}": v for k, v in self.featurizer_.state().items()}}
        write_weights(folder / "model.safetensors", tensors)
        return {"features": self.identity()}

    @classmethod
    def load(cls, cfg: RunConfig, n_classes: int, folder: Path, meta: dict, estimator: type | None = None) -> FeedForwardModel:
        model = cls(cfg, n_classes, estimator)
        model.featurizer_ = build_featurizer(cfg.features, device=model.device)
        emb, was = model.featurizer_.embeddings, meta.get("features", {}).get("embeddings", {})
        if emb is not None and (emb.dim != was.get("dim") or emb.fingerprint != was.get("fingerprint")):
            raise EmbeddingError(f"{folder / 'model.json'}: the model was trained on embeddings {was.get('spec')} "
                                 f"(dim {was.get('dim')}, sha256 {was.get('fingerprint')}) but {emb.spec} now gives "
                                 f"dim {emb.dim}, sha256 {emb.fingerprint}; give the word vectors it was trained on")
        model.net_ = model._build_net()
        tensors = read_weights(folder / "model.safetensors")
        try:
            model.featurizer_.load_state({k[9:]: v for k, v in tensors.items() if k.startswith("features.")})
            model.net_.load_state_dict({k: v for k, v in tensors.items() if not k.startswith("features.")})
        except (RuntimeError, ValueError, KeyError) as exc:
            raise weights_mismatch(folder / "model.safetensors", exc) from exc
        model.net_.to(model.device).eval()  # read into host memory, then moved: a GPU's weights load anywhere
        return model
