"""Several trained runs as one model: the (weighted) mean of their probabilities.

    ens = EnsembleClassifier.from_runs(["runs/a", "runs/b"], weights=[2, 1])
    ens.predict_proba(["..."])                  # (n, n_classes): (2 * p_a + p_b) / 3
    ens.save("runs/ens/model")                  # model.json only; TweetClassifier.load reads it back

The saved ``model.json`` has ``format = "tweetsent-model"``, ``model_kind = "ensemble"``,
``members`` (paths relative to the folder holding that model.json, or absolute), ``weights``
and ``classes``. Members keep their own temperature and thresholds; members whose classes
differ are refused. A config with ``model.kind = "ensemble"`` trains its members and saves them
beside its ``model.json`` (``members/<i>-<name>/``): `TweetClassifier` does that.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tweetsent.errors import ModelError

__all__ = ["EnsembleClassifier"]


class _MemberFeatures:
    """The featurizer slot of an ensemble: no table of its own; says what its members read."""

    embeddings = None
    dense_dim = sparse_dim = 0
    oov_ = None

    def __init__(self, members: Sequence) -> None:
        self.members = members

    def identity(self) -> dict:
        return {"dense_dim": 0, "sparse_dim": 0, "members": [m.featurizer_.identity() for m in self.members]}


class EnsembleClassifier:
    """The weighted mean of member classifiers' probabilities, with `TweetClassifier`'s predicting API.

    Parameters
    ----------
    members : sequence of TweetClassifier
        Trained models with the same ``classes_``.
    weights : sequence of float, optional
        One non-negative weight per member (default: equal); normalised to sum to 1.
    paths : sequence of path, optional
        Where the members were loaded from (needed to `save`).
    """

    def __init__(self, members: Sequence, weights: Sequence[float] | None = None,
                 paths: Sequence[str | Path] | None = None) -> None:
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
                raise ModelError(f"{name} predicts classes {member.classes_} but {names[0]} predicts "
                                 f"{members[0].classes_}; an ensemble needs runs trained on the same classes")
        self.members, self.paths = list(members), None if paths is None else [Path(p) for p in paths]
        self.weights = [w / sum(weights) for w in weights]
        self.classes_ = list(members[0].classes_)
        self.config_ = dataclasses.replace(members[0].config_, name="ensemble")
        self.featurizer_ = _MemberFeatures(self.members)
        self.history_, self.best_epoch_, self.train_oov_ = [], None, None

    @classmethod
    def from_runs(cls, run_dirs: Sequence[str | Path], weights: Sequence[float] | None = None) -> "EnsembleClassifier":
        """Load each run directory (or model folder, or saved ensemble) and combine them."""
        from tweetsent.models.classifier import TweetClassifier

        members = []
        for run_dir in run_dirs:
            if not Path(run_dir).exists():
                raise ModelError(f"{run_dir}: no such run directory; `tweetsent train` prints the one it writes")
            members.append(TweetClassifier.load(run_dir))
        return cls(members, weights, [Path(p).resolve() for p in run_dirs])

    @classmethod
    def from_metadata(cls, meta: dict, folder: Path) -> "EnsembleClassifier":
        """The ensemble a ``model.json`` describes; relative member paths start at ``folder``."""
        members = meta.get("members")
        if not isinstance(members, list) or not members:
            raise ModelError(f"{folder / 'model.json'}: an ensemble without members; rebuild it with `tweetsent ensemble`")
        paths = [Path(p) if Path(p).is_absolute() else folder / p for p in members]
        ens = cls.from_runs(paths, meta.get("weights"))
        saved = meta.get("config") or {}
        if saved.get("model", {}).get("kind") == "ensemble":  # trained as one (model.kind = "ensemble")
            from tweetsent.config.settings import config_from_dict

            ens.config_ = config_from_dict(saved, str(folder / "model.json"))
        if meta.get("classes") is not None and list(meta["classes"]) != ens.classes_:
            raise ModelError(f"{folder / 'model.json'}: records classes {meta['classes']} but its members predict "
                             f"{ens.classes_}; a member run was replaced")
        return ens

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, n_classes): the weighted mean of the members' probabilities."""
        out = np.zeros((len(texts), len(self.classes_)), np.float64)
        for w, member in zip(self.weights, self.members):
            if w:
                out += w * member.predict_proba(texts)
        return out.astype(np.float32)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.classes_)[self.predict_proba(texts).argmax(axis=1)]

    def decision(self) -> dict:
        """As `TweetClassifier.decision`: ``applied`` when any member applies tuned thresholds."""
        members = [m.decision() for m in self.members]
        return {"applied": any(m["applied"] for m in members), "weights": None, "temperature": None,
                "fitted_on": None, "members": members}

    def metadata(self, folder: Path) -> dict:
        from tweetsent.models.classifier import FORMAT, FORMAT_VERSION, package_version

        if self.paths is None:
            raise ModelError("this ensemble was built from classifiers in memory; build it with from_runs to save it")
        members = []
        for path in self.paths:
            try:
                members.append(os.path.relpath(path.resolve(), folder.resolve()))
            except ValueError:  # another drive (Windows)
                members.append(str(path.resolve()))
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "package_version": package_version(),
                "model_kind": "ensemble", "members": members, "weights": self.weights, "classes": self.classes_,
                "config": self.config_.to_dict()}

    def save(self, folder: str | Path) -> Path:
        """Write ``model.json`` into ``folder`` (the members stay where they are)."""
        from tweetsent.util.files import atomic_write_json

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / "model.json", self.metadata(folder))
        return folder
