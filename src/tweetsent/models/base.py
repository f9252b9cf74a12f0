"""The one interface every ``model.kind`` implements, and the registry that finds a kind's class.

    @register("network", "softmax")
    class FeedForwardModel(Model): ...

    model = model_class(cfg.model.kind)(cfg, n_classes=3, estimator=TweetClassifier)
    model.fit(data, callbacks)            # sets history_, best_epoch_, train_oov_
    model.scores(["a tweet"])             # (1, 3) raw scores; softmax(scores / T) are the probabilities

A `Model` maps tweets to scores and knows how to keep itself: `save` writes its files into a
model folder and returns what ``model.json`` should say about it, `load` reads them back, and
`identity` says what it reads (word vectors and their fingerprint, n-gram settings, MiniLM).
`tweetsent.models.classifier.TweetClassifier` drives it: labels to indices, the held-out share,
temperature, thresholds, distillation, seeding, saving ``model.json``. Adding a kind means adding
one module under ``tweetsent/models/`` whose class is decorated with `register`: the registry
imports every module of the package on the first lookup.
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from tweetsent.config.settings import RunConfig
from tweetsent.errors import ConfigError, ModelError
from tweetsent.training.device import resolve_device
from tweetsent.training.loop import Callback, EarlyStopping, HoldoutLoss

__all__ = ["Model", "TrainingData", "register", "model_class", "registered_kinds", "stopping_callbacks"]


@dataclass
class TrainingData:
    """The tweets a model learns from, as `TweetClassifier` prepared them.

    ``y``, ``val_y`` and ``hold_y`` are (n,) int64 class indices into the estimator's ``classes_``;
    ``labels`` and ``val_labels`` are the original label values (an ensemble hands them to its
    members). ``hold_*`` is the held-out share of the training file (early stopping, calibration),
    ``targets`` the (n, n_classes) soft targets of distillation.
    """

    texts: Sequence[str]
    y: torch.Tensor
    labels: np.ndarray
    val_texts: Sequence[str] | None = None
    val_y: torch.Tensor | None = None
    val_labels: np.ndarray | None = None
    hold_texts: Sequence[str] | None = None
    hold_y: torch.Tensor | None = None
    targets: torch.Tensor | None = None


class Model(ABC):
    """What maps tweets to scores for one ``model.kind``.

    Parameters
    ----------
    cfg : RunConfig
        The resolved configuration.
    n_classes : int
        Number of classes (columns of `scores`).
    estimator : type, optional
        The estimator class that owns this model (`TweetClassifier`); a kind made of other
        models (the ensemble) builds and loads its members with it.

    Attributes set by `fit` (and `load`): ``history_`` (one record per epoch), ``best_epoch_``
    (None when not applicable), ``train_oov_`` (out-of-vocabulary rates of the training tweets,
    or None). ``device`` is the torch.device that ``cfg.train.device`` names (`resolve_device`):
    where the model trains and predicts; `to` moves it.
    """

    kinds: ClassVar[tuple[str, ...]] = ()
    composite: ClassVar[bool] = False  # True: made of estimators that each hold out, distil and calibrate themselves

    def __init__(self, cfg: RunConfig, n_classes: int, estimator: type | None = None) -> None:
        self.cfg, self.n_classes, self.estimator = cfg, n_classes, estimator
        self.device = resolve_device(cfg.train.device)  # a ConfigError here, before any work, for cuda without a GPU
        self.history_: list[dict] = []
        self.best_epoch_: int | None = None
        self.train_oov_: dict | None = None

    @abstractmethod
    def fit(self, data: TrainingData, callbacks: Sequence[Callback]) -> None:
        """Learn from ``data``; validation scores after every epoch reach ``callbacks``."""

    @abstractmethod
    def scores(self, texts: Sequence[str]) -> torch.Tensor:
        """(n, n_classes) raw scores: the probabilities are ``softmax(scores / temperature)``."""

    @abstractmethod
    def identity(self) -> dict:
        """What the model reads, for ``run.json`` and ``model.json``: ``dense_dim``, ``sparse_dim`` and parts."""

    @abstractmethod
    def save(self, folder: Path) -> dict:
        """Write the model's files into ``folder``; return the fields ``model.json`` adds for it."""

    @classmethod
    @abstractmethod
    def load(cls, cfg: RunConfig, n_classes: int, folder: Path, meta: dict, estimator: type | None = None) -> Model:
        """The model saved in ``folder`` (``meta`` is its ``model.json``)."""

    def to(self, device: torch.device) -> Model:
        """Move what the model computes with to ``device`` (what it predicts next runs there); returns itself."""
        self.device = device
        return self

    def parts(self) -> list[Model]:
        """The models that compute scores: this one, or an ensemble's members' (recursively)."""
        return [self]

    def set_engine(self, engine: str) -> bool:
        """Predict with ``engine`` ("auto", "torch", "onnx", "onnx-int8"; `tweetsent.models.onnx`); True when
        the model now runs on ONNX Runtime. Only the fine-tuned encoder has an ONNX copy: other kinds stay on torch."""
        return False

    def schedule(self) -> dict | None:
        """What time budgets did to the schedule when the kind trains other estimators (an ensemble); else None."""
        return None

    def epochs_done(self) -> int:
        """Epochs trained (an ensemble counts its members')."""
        return len(self.history_)

    def decision(self) -> dict | None:
        """How probabilities become decisions when the kind decides that itself (None: the estimator's
        temperature and thresholds apply); see `TweetClassifier.decision`."""
        return None

    def embeddings_fingerprint(self) -> str | None:
        """The sha256 of the word vectors the model reads, or None when it reads none."""
        return (self.identity().get("embeddings") or {}).get("fingerprint")


def stopping_callbacks(cfg: RunConfig, data: TrainingData, hold_score, criterion: torch.nn.Module) -> list[Callback]:
    """Early stopping on the held-out training tweets when there are some, else on validation loss.

    ``hold_score(module)`` gives the held-out tweets' scores; ``criterion`` is the training loss.
    Returns [] when ``train.early_stopping`` is off or there is nothing to watch; else the last
    callback is the `EarlyStopping` (its ``best_epoch`` is the model's).
    """
    t = cfg.train
    if not t.early_stopping or (data.val_y is None and data.hold_y is None):
        return []
    if data.hold_y is None:
        return [EarlyStopping(t.patience)]
    return [HoldoutLoss(hold_score, data.hold_y, criterion), EarlyStopping(t.patience, monitor="holdout_loss")]


_REGISTRY: dict[str, type[Model]] = {}


def register(*kinds: str):
    """Class decorator: the model class for these ``model.kind`` values."""

    def decorate(cls: type[Model]) -> type[Model]:
        for kind in kinds:
            if kind in _REGISTRY and _REGISTRY[kind] is not cls:
                raise ModelError(f"model.kind {kind!r} is registered twice: {_REGISTRY[kind].__name__} and {cls.__name__}")
            _REGISTRY[kind] = cls
        cls.kinds = tuple(kinds)
        return cls

    return decorate


def _discover() -> None:
    """Import every module of tweetsent.models once, so each kind's `register` has run."""
    package = importlib.import_module(__name__.rpartition(".")[0])
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")


def registered_kinds() -> list[str]:
    """Every ``model.kind`` a module has registered."""
    _discover()
    return sorted(_REGISTRY)


def model_class(kind: str) -> type[Model]:
    """The class registered for ``kind``; ModelError naming the known kinds otherwise."""
    if kind not in _REGISTRY:
        _discover()
    if kind not in _REGISTRY:
        raise ConfigError(f"model.kind = {kind!r} is not one of: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[kind]
