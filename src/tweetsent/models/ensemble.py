"""``model.kind = "ensemble"``: several trained classifiers as one, the weighted mean of their probabilities.

    clf = TweetClassifier("best").fit(texts, labels)          # trains each member config in turn
    clf = TweetClassifier.from_runs(["runs/a", "runs/b"], weights=[2, 1])   # or combines trained runs
    clf.predict_proba(["..."])                                 # (2 * p_a + p_b) / 3

Members are estimators of their own (each keeps its temperature and thresholds); the ensemble
never imports the estimator class, it is handed it (``estimator``). Saved, a ``model.json``
names the members (paths relative to its folder, or absolute) and their weights; an ensemble
trained in one run keeps its members inside its model folder (``members/<i>-<name>/``, each with
its ``history.json``). Members whose classes differ, a member that is the ensemble itself, and
member folders that do not exist are refused with a `ModelError`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from tweetsent.config.resolve import member_configs
from tweetsent.config.settings import RunConfig
from tweetsent.errors import ModelError
from tweetsent.models.base import Model, TrainingData, register
from tweetsent.training.loop import Callback, Renumbered
from tweetsent.util.files import atomic_write_json

__all__ = ["EnsembleModel", "ensemble_config"]

_LOADING: list[Path] = []  # folders of ensembles being loaded, outermost first: a member naming one is a cycle


@register("ensemble")
class EnsembleModel(Model):
    """Member estimators and their weights; attributes ``members_``, ``weights_`` (summing to 1) and
    ``paths_`` (where the members live on disk, None until saved or when trained in memory)."""

    composite = True

    def fit(self, data: TrainingData, callbacks: Sequence[Callback]) -> None:
        """Fit every member config on the same tweets, one after the other.

        Callbacks see the members' epochs numbered on from the previous member's last, with the
        member's name in the record (progress, the run log)."""
        members, offset = [], 0
        for member_cfg in member_configs(self.cfg):
            renumbered = [Renumbered(cb, offset, member_cfg.name) for cb in callbacks]
            members.append(self.estimator(member_cfg).fit(data.texts, data.labels, data.val_texts, data.val_labels,
                                                          callbacks=renumbered))
            offset += members[-1].epochs_done()
        self._set_members(members, self.cfg.ensemble.weights or None, None)

    def _set_members(self, members: Sequence, weights: Sequence[float] | None, paths: Sequence[Path] | None) -> None:
        if len(members) < 2:
            raise ModelError(f"an ensemble needs at least two runs; got {len(members)}")
        weights = [1.0] * len(members) if weights is None else [float(w) for w in weights]
        if len(weights) != len(members):
            raise ModelError(f"{len(weights)} weights for {len(members)} runs; give one weight per run")
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ModelError(f"weights {weights}: give non-negative weights with a positive sum")
        names = [str(p) for p in paths] if paths is not None else [f"member {i + 1}" for i in range(len(members))]
        for name, member in zip(names[1:], members[1:]):
            if list(member.classes_) != list(members[0].classes_):
                raise ModelError(f"{name} predicts classes {list(member.classes_)} but {names[0]} predicts "
                                 f"{list(members[0].classes_)}; an ensemble needs runs trained on the same classes")
        self.members_, self.paths_ = list(members), None if paths is None else [Path(p) for p in paths]
        self.weights_ = [w / sum(weights) for w in weights]

    @classmethod
    def from_members(cls, cfg: RunConfig, members: Sequence, weights: Sequence[float] | None = None,
                     paths: Sequence[Path] | None = None, estimator: type | None = None) -> EnsembleModel:
        """An ensemble of trained estimators (``paths``: where each was loaded from, needed to save it)."""
        model = cls(cfg, len(members[0].classes_) if members else 0, estimator)
        model._set_members(members, weights, paths)
        return model

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, n_classes) float64: the weighted mean of the members' probabilities (thresholds applied)."""
        out = np.zeros((len(texts), self.n_classes), np.float64)
        for w, member in zip(self.weights_, self.members_):
            if w:
                out += w * member.predict_proba(texts)
        return out

    def scores(self, texts: Sequence[str]) -> torch.Tensor:
        with np.errstate(divide="ignore"):
            return torch.from_numpy(np.log(self.proba(texts)))  # softmax of these is the mean itself

    def epochs_done(self) -> int:
        return sum(m.epochs_done() for m in self.members_)

    def parts(self) -> list[Model]:
        return [part for member in self.members_ for part in member.model_.parts()]

    def to(self, device: torch.device) -> EnsembleModel:
        self.device = device
        for part in self.parts():
            part.to(device)
        return self

    def schedule(self) -> dict | None:
        members = [getattr(m, "schedule_", None) for m in self.members_]
        if not any(members):
            return None
        return {"cut": any(m["cut"] for m in members if m), "members": members}

    def decision(self) -> dict:
        """Thresholds are the members': ``applied`` when any member applies tuned thresholds."""
        members = [m.decision() for m in self.members_]
        return {"applied": any(m["applied"] for m in members), "weights": None, "temperature": None,
                "fitted_on": None, "members": members}

    def identity(self) -> dict:
        return {"dense_dim": 0, "sparse_dim": 0, "members": [m.identity() for m in self.members_]}

    def embeddings_fingerprint(self) -> str | None:
        return None  # each member records its own

    def save(self, folder: Path) -> dict:
        if self.paths_ is None:  # trained in this process: the members go inside the ensemble's folder
            self.paths_ = []
            for i, member in enumerate(self.members_):
                path = member.save(folder / "members" / f"{i}-{member.config_.name or 'member'}")
                atomic_write_json(path / "history.json", member.history_)
                self.paths_.append(path)
        members = []
        for path in self.paths_:
            try:
                members.append(os.path.relpath(path.resolve(), folder.resolve()))
            except ValueError:  # another drive (Windows)
                members.append(str(path.resolve()))
        return {"members": members, "weights": self.weights_}

    @classmethod
    def load(cls, cfg: RunConfig, n_classes: int, folder: Path, meta: dict, estimator: type | None = None) -> EnsembleModel:
        names = meta.get("members")
        if not isinstance(names, list) or not names or not all(isinstance(p, str) for p in names):
            raise ModelError(f"{folder / 'model.json'}: an ensemble without members; rebuild it with `tweetsent ensemble`")
        paths = [Path(p) if Path(p).is_absolute() else folder / p for p in names]
        here = folder.resolve()
        _LOADING.append(here)
        try:
            members = []
            for path in paths:
                target = path.resolve()
                target = target / "model" if (target / "model").is_dir() else target
                if target in _LOADING:
                    raise ModelError(f"{folder / 'model.json'}: member {path} is this ensemble (or one that contains "
                                     f"it); an ensemble cannot be its own member")
                if not path.exists():
                    raise ModelError(f"{folder / 'model.json'}: member {path} does not exist; restore it or rebuild "
                                     f"the ensemble with `tweetsent ensemble`")
                members.append(estimator.load(path, device=cfg.train.device, engine="torch"))  # the engine: parts()
        finally:
            _LOADING.pop()
        model = cls.from_members(cfg, members, meta.get("weights"), paths, estimator)
        if meta.get("classes") is not None and list(meta["classes"]) != list(members[0].classes_):
            raise ModelError(f"{folder / 'model.json'}: records classes {meta['classes']} but its members predict "
                             f"{list(members[0].classes_)}; a member run was replaced")
        return model


def ensemble_config(members: Sequence) -> RunConfig:
    """The config an ensemble of trained runs reports: its first member's, named "ensemble"."""
    return dataclasses.replace(members[0].config_, name="ensemble")
