"""`TweetClassifier`: the one estimator, a scikit-learn classifier over every ``model.kind``.

    clf = TweetClassifier("tfidf-softmax", train__lr=1e-3).fit(train.texts, train.labels, val.texts, val.labels)
    clf.predict(["vaccines cause autism"]), clf.predict_proba(["..."])   # labels via classes_
    clf.save("model/"); clf = TweetClassifier.load("model/")        # device="auto", engine="auto"
    TweetClassifier("best", train__device="cuda")                       # trains on a CUDA GPU (train.device)
    cross_val_score(TweetClassifier("tfidf-softmax"), texts, labels, cv=5)  # clone, GridSearchCV, Pipeline too

Parameters are the config (a preset name, a TOML file, a `RunConfig`, or None for the default
preset), ``seed``, and any setting as ``section__key`` (``train__lr``, ``model__hidden``), so
`GridSearchCV` can search them. ``model.kind`` picks the `Model` that maps tweets to scores
(`tweetsent.models.base`: registered by kind); this class does what every kind shares: labels
to class indices, the held-out share of the training tweets (``train.holdout``) and the
temperature and per-class thresholds fitted on it (`tweetsent.models.calibration`),
distillation (`tweetsent.models.distill`), seeding, and the model folder.

`fit` seeds torch inside ``torch.random.fork_rng`` and puts the thread count back afterwards:
the caller's random state and threads are as they were. A saved model is ``model.json``
(format and version, resolved config, classes, what the model reads, temperature, thresholds,
package version) beside the kind's own files (``model.safetensors``; an ensemble's members).
Loading never unpickles anything. A model trains on ``train.device`` and loads onto the device
`load` is given, whichever it was trained on (`tweetsent.training.device`); a fine-tuned encoder
with an ONNX export predicts through ONNX Runtime (`load`'s ``engine``, `tweetsent.models.onnx`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin

from tweetsent.config.resolve import DEFAULT_PRESET, config_from_dict, resolve_config
from tweetsent.config.settings import RunConfig
from tweetsent.config.validate import check_named_labels
from tweetsent.errors import ModelError
from tweetsent.models.base import Model, TrainingData, model_class
from tweetsent.models.calibration import apply_thresholds, fit_temperature, fit_thresholds, holdout_split, softmax
from tweetsent.models.distill import check_teacher, fit_teacher, soft_targets
from tweetsent.models.ensemble import EnsembleModel, ensemble_config
from tweetsent.training.loop import Callback, TimeBudget
from tweetsent.util.files import atomic_write_json
from tweetsent.util.meta import package_version

__all__ = ["TweetClassifier", "FORMAT", "FORMAT_VERSION"]

FORMAT = "tweetsent-model"
FORMAT_VERSION = 1
_OWN = ("config", "seed")  # parameters that are not config settings


class TweetClassifier(ClassifierMixin, BaseEstimator):
    """A tweet classifier configured by a preset, a TOML file or a `RunConfig`, plus settings.

    Parameters
    ----------
    config : str or RunConfig, optional
        A preset name (``tweetsent presets``), a TOML file, or a resolved `RunConfig`; None is
        the default preset, ``tfidf-softmax`` (`tweetsent.config.resolve.DEFAULT_PRESET`).
    seed : int, optional
        ``train.seed``.
    **settings
        Any config setting as ``section__key=value`` (``train__lr=1e-3``, ``model__hidden=[64, 32]``),
        applied over ``config``; unknown ones fail at `fit` by name.

    Attributes
    ----------
    classes_ : list
        The labels, sorted; columns of `predict_proba`.
    class_names_ : list of str
        One per class: its name from ``data.label_names``, else the label as text.
    config_ : RunConfig
        The resolved configuration.
    model_ : Model
        The kind's model (`tweetsent.models.base.Model`).
    history_ : list of dict
        One record per epoch.
    best_epoch_ : int or None
        The epoch kept by early stopping.
    train_oov_ : dict or None
        Out-of-vocabulary rates of the training tweets.
    temperature_, thresholds_ : float, list of float or None
        Fitted on the held-out share; None when off.
    holdout_n_ : int
        Held-out training tweets (0 when none).
    distill_ : dict or None
        The teacher and alpha when distilled.
    schedule_ : dict or None
        Under ``train.time_budget``: the budget, planned and done steps, and whether it ``cut``
        the schedule (an ensemble: its members'); None without a budget.
    """

    def __init__(self, config: RunConfig | str | None = None, *, seed: int | None = None, **settings) -> None:
        self.config = config
        self.seed = seed
        self._settings = dict(settings)

    # -- scikit-learn parameters ----------------------------------------------------------

    def get_params(self, deep: bool = True) -> dict:
        """``config``, ``seed`` and every ``section__key`` setting given."""
        return {"config": self.config, "seed": self.seed, **self._settings}

    def set_params(self, **params) -> TweetClassifier:
        """Set ``config``, ``seed`` or ``section__key`` settings (as `GridSearchCV` does)."""
        for key, value in params.items():
            if key in _OWN:
                setattr(self, key, value)
            elif "__" in key:
                self._settings[key] = value
            else:
                raise ValueError(f"TweetClassifier has no parameter {key!r}; give config, seed or a setting as "
                                 f"section__key, e.g. train__lr")
        return self

    def _resolved(self) -> RunConfig:
        values = {key.replace("__", ".", 1): value for key, value in self._settings.items()}
        return resolve_config(DEFAULT_PRESET if self.config is None else self.config, seed=self.seed, values=values)

    # -- learning -------------------------------------------------------------------------

    def _indices(self, labels, where: str) -> torch.Tensor:
        lookup = {c: i for i, c in enumerate(self.classes_)}
        try:
            return torch.tensor([lookup[_plain(v)] for v in labels], dtype=torch.int64)
        except KeyError as exc:
            raise ModelError(f"{where} has label {exc.args[0]!r}, which the training labels lack "
                             f"({self.classes_}); train on data that has it or drop those tweets") from None

    def fit(self, texts: Sequence[str], labels, val_texts: Sequence[str] | None = None, val_labels=None,
            callbacks: Sequence[Callback] = (), teacher=None) -> TweetClassifier:
        """Train on labelled tweets; validation data (optional) is scored after every epoch.

        With ``train.calibration`` or ``train.thresholds`` on, ``train.holdout`` of the training
        tweets are held out (stratified, seeded): the temperature, the thresholds and early
        stopping are chosen on them, never on the validation data.

        With ``distill.teacher`` (or ``teacher``: a fitted classifier with the same classes), a
        network or softmax model learns ``distill.alpha`` x each tweet's label + (1 - alpha) x the
        teacher's probabilities. A preset or TOML teacher is trained first, on these tweets with
        the same seed and holdout; its epochs reach ``callbacks`` as member ``teacher``.
        """
        cfg = self.config_ = self._resolved()
        texts, labels = _texts(texts), np.asarray(labels)
        self.classes_ = [_plain(v) for v in np.unique(labels)]
        check_named_labels(cfg.data.label_names, self.classes_)
        self._name_classes()
        if val_texts is not None:
            val_texts = _texts(val_texts)
        model = model_class(cfg.model.kind)(cfg, len(self.classes_), type(self))
        with _seeded(cfg.train.seed, cfg.train.threads):
            data = TrainingData(texts, self._indices(labels, "the training data"), labels)
            if val_texts is not None and val_labels is not None:
                data.val_texts, data.val_labels = val_texts, np.asarray(val_labels)
                data.val_y = self._indices(data.val_labels, "the validation data")
            self.distill_, self._budget = None, None
            callbacks = list(callbacks)
            if not model.composite:  # an ensemble's members do these themselves
                callbacks = self._prepare(data, callbacks, teacher)
            model.fit(data, callbacks)
            self.model_ = model
            self._fit_decision(data.hold_texts, data.hold_y)
        self._take_model_state()
        return self

    def _prepare(self, data: TrainingData, callbacks: list[Callback], teacher) -> list[Callback]:
        """Distillation targets, the held-out share and the time budget: what every single model shares."""
        cfg = self.config_
        if teacher is None:
            teacher, callbacks = fit_teacher(cfg, type(self), data.texts, data.labels, data.val_texts,
                                             data.val_labels, callbacks)
        if teacher is not None:
            self.distill_ = check_teacher(cfg, teacher, self.classes_)
        if cfg.train.calibration != "none" or cfg.train.thresholds != "none":
            fit_rows, hold_rows = holdout_split(data.y.numpy(), cfg.train.holdout, cfg.train.seed)
            data.hold_texts, data.hold_y = _take(data.texts, hold_rows), data.y[torch.from_numpy(hold_rows)]
            data.texts, data.y, data.labels = _take(data.texts, fit_rows), data.y[torch.from_numpy(fit_rows)], data.labels[fit_rows]
        if teacher is not None:
            data.targets = soft_targets(teacher, data.texts, data.y, cfg.distill.alpha)
        budget = next((cb for cb in callbacks if isinstance(cb, TimeBudget)), None)
        if budget is None and cfg.train.time_budget > 0:
            budget = TimeBudget(cfg.train.time_budget)
            callbacks.insert(0, budget)
        self._budget = budget
        return callbacks

    def _fit_decision(self, hold_texts, hold_y) -> None:
        """Temperature and per-class thresholds on the held-out training tweets (None when off)."""
        t = self.config_.train
        self.temperature_ = self.thresholds_ = None
        self.holdout_n_ = 0 if hold_y is None else len(hold_y)
        if hold_y is None:
            return
        logits, y = self.model_.scores(hold_texts).numpy().astype(np.float64), hold_y.numpy()
        if t.calibration == "temperature":
            self.temperature_ = fit_temperature(logits, y)
        if t.thresholds == "tuned":
            self.thresholds_ = fit_thresholds(softmax(logits / (self.temperature_ or 1.0)), y).tolist()

    def _name_classes(self) -> None:
        names = self.config_.data.label_names
        self.class_names_ = [names.get(str(c), str(c)) for c in self.classes_]

    def _take_model_state(self) -> None:
        self.history_, self.best_epoch_, self.train_oov_ = self.model_.history_, self.model_.best_epoch_, self.model_.train_oov_
        budget = getattr(self, "_budget", None)
        self.schedule_ = budget.report() if budget is not None else self.model_.schedule()

    def epochs_done(self) -> int:
        """Epochs trained (an ensemble counts its members')."""
        return self.model_.epochs_done()

    def identity(self) -> dict:
        """What the model reads (word vectors and their fingerprint, n-grams, MiniLM), as ``run.json`` records it."""
        return self.model_.identity()

    def embeddings_fingerprint(self) -> str | None:
        """The sha256 of the word vectors the model reads, or None."""
        return self.model_.embeddings_fingerprint()

    # -- predicting ------------------------------------------------------------------------

    def predict_proba(self, texts: Sequence[str], thresholds: bool = True) -> np.ndarray:
        """(n, n_classes) float32 probabilities, columns in the order of ``classes_``.

        Scores are divided by ``temperature_`` (when calibrated); with ``thresholds`` (default)
        the per-class weights ``thresholds_`` (when tuned) multiply the probabilities, which are
        renormalised: their argmax is the thresholded decision.
        """
        texts = _texts(texts)
        if not len(texts):
            return np.zeros((0, len(self.classes_)), np.float32)
        scores = self.model_.scores(texts)
        proba = torch.softmax(scores / (self.temperature_ or 1.0), dim=1).numpy()
        if thresholds and self.thresholds_ is not None:
            proba = apply_thresholds(proba, np.asarray(self.thresholds_))
        return np.asarray(proba, np.float32)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The most probable class of each tweet (values from ``classes_``)."""
        return np.asarray(self.classes_)[self.predict_proba(texts).argmax(axis=1)]

    def explain(self, texts: Sequence[str], k: int | None = None, method: str = "auto",
                n_steps: int | None = None) -> list[dict]:
        """Each tweet's label, probabilities and per-token contributions (`tweetsent.models.explain.explain`:
        ``method`` "auto", "occlusion" or "integrated-gradients"; ``n_steps`` for the latter). Computed on
        the CPU: a model on a GPU is moved there for the call and back."""
        from tweetsent.models.explain import explain

        with _on_cpu(self.model_):
            return explain(self, texts, k, method, n_steps)

    def decision(self) -> dict:
        """How probabilities become decisions, for metrics.json: thresholds applied or not, temperature, holdout.

        ``{"applied": bool, "weights": {class: weight} | None, "temperature": float | None,
        "fitted_on": str | None}`` (an ensemble adds ``members``, each member's own).
        """
        own = self.model_.decision()
        if own is not None:
            return own
        weights, n = self.thresholds_, self.holdout_n_
        return {"applied": weights is not None,
                "weights": None if weights is None else {str(c): float(w) for c, w in zip(self.classes_, weights)},
                "temperature": self.temperature_,
                "fitted_on": f"{n} held-out training tweets (train.holdout = {self.config_.train.holdout})" if n else None}

    # -- persistence ----------------------------------------------------------------------

    def metadata(self) -> dict:
        """What ``model.json`` says apart from the kind's own fields."""
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "package_version": package_version(),
            "model_kind": _kind(self.model_), "config": self.config_.to_dict(), "classes": self.classes_,
            "best_epoch": self.best_epoch_, "temperature": self.temperature_, "thresholds": self.thresholds_,
            "holdout_n": self.holdout_n_, "distill": self.distill_,
        }

    def save(self, folder: str | Path) -> Path:
        """Write the model's files and ``model.json`` into ``folder`` (each atomically)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        own = self.model_.save(folder)
        atomic_write_json(folder / "model.json", {**self.metadata(), **own})
        return folder

    @classmethod
    def load(cls, folder: str | Path, device: str = "auto", engine: str = "auto") -> TweetClassifier:
        """Load a saved model (a model folder, or a run directory holding ``model/``).

        Parameters
        ----------
        folder : str or Path
            The model folder or run directory.
        device : str
            Where it predicts: "auto" (a CUDA GPU when torch sees one, else the CPU), "cpu", "cuda" or
            "cuda:N", whatever it was trained on; ``config_.train.device`` then says this.
        engine : str
            "auto" (a fine-tuned encoder's ONNX export when there is one and the device is the CPU),
            "torch", "onnx" or "onnx-int8" (`tweetsent.models.onnx`); "onnx" and "onnx-int8" need that
            export, and an encoder to export.
        """
        from tweetsent.models.onnx import check_engine

        check_engine(engine)
        folder = Path(folder)
        if (folder / "model").is_dir():
            folder = folder / "model"
        meta = _read_metadata(folder)
        meta_path = folder / "model.json"
        cfg = config_from_dict(meta["config"], str(meta_path))
        cfg.train.device = str(device)  # where it runs now, not where it was trained
        clf = cls(cfg)
        clf.config_, clf.classes_ = cfg, list(meta["classes"])
        clf._name_classes()
        clf.temperature_, clf.thresholds_ = meta.get("temperature"), meta.get("thresholds")
        clf.holdout_n_, clf.distill_ = meta.get("holdout_n", 0), meta.get("distill")
        clf.model_ = model_class(meta.get("model_kind") or cfg.model.kind).load(cfg, len(clf.classes_), folder, meta, cls)
        on_onnx = [part.set_engine(engine) for part in clf.model_.parts()]
        if engine in ("onnx", "onnx-int8") and not any(on_onnx):
            raise ModelError(f"{folder}: --engine {engine} runs a fine-tuned encoder's ONNX export, and this "
                             f"{clf.model_.cfg.model.kind} model has no encoder; use --engine auto or torch")
        clf._take_model_state()
        clf.best_epoch_ = meta.get("best_epoch")
        return clf

    @classmethod
    def from_runs(cls, run_dirs: Sequence[str | Path], weights: Sequence[float] | None = None) -> TweetClassifier:
        """An ensemble of trained runs (or model folders): the weighted mean of their probabilities."""
        members = []
        for run_dir in run_dirs:
            if not Path(run_dir).exists():
                raise ModelError(f"{run_dir}: no such run directory; `tweetsent train` prints the one it writes")
            members.append(cls.load(run_dir))
        cfg = ensemble_config(members)
        clf = cls(cfg)
        clf.config_, clf.classes_ = cfg, list(members[0].classes_)  # the first member's class names too
        clf._name_classes()
        clf.model_ = EnsembleModel.from_members(cfg, members, weights, [Path(p).resolve() for p in run_dirs], cls)
        clf.temperature_ = clf.thresholds_ = clf.distill_ = None
        clf.holdout_n_ = 0
        clf._take_model_state()
        return clf


def _read_metadata(folder: Path) -> dict:
    """``model.json`` of a model folder, checked: a tweetsent model, a format this version reads, a config and classes."""
    meta_path = folder / "model.json"
    if not meta_path.exists():
        raise ModelError(f"{folder}: no model.json here; give a run directory made by `tweetsent train`")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{meta_path}: corrupt model metadata ({exc}); retrain or restore the run") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{meta_path}: not a tweetsent model (no format {FORMAT!r})")
    version = meta.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelError(f"{meta_path}: format_version {version!r} is not a whole number; retrain or restore the run")
    if version > FORMAT_VERSION:
        raise ModelError(f"{meta_path}: model format {version} is newer than this tweetsent ({package_version()}) "
                         f"reads; upgrade tweetsent")
    if not isinstance(meta.get("config"), dict):
        raise ModelError(f"{meta_path}: no config in the model metadata; retrain or restore the run")
    if not isinstance(meta.get("classes"), list) or not meta["classes"]:
        raise ModelError(f"{meta_path}: no classes in the model metadata; retrain or restore the run")
    return meta


def _kind(model: Model) -> str:
    return model.cfg.model.kind if model.cfg.model.kind in model.kinds else model.kinds[0]


@contextlib.contextmanager
def _on_cpu(model: Model):
    """``model`` on the CPU for the block (nothing moves when it is there already), then back."""
    devices = [part.device for part in model.parts()]
    cpu = torch.device("cpu")
    if all(device == cpu for device in devices):
        yield
        return
    for part in model.parts():
        part.to(cpu)
    try:
        yield
    finally:
        for part, device in zip(model.parts(), devices):
            part.to(device)


@contextlib.contextmanager
def _seeded(seed: int, threads: int):
    """torch seeded with ``seed`` (and ``threads`` intra-op threads when > 0) for the block; the caller's
    random state and thread count come back afterwards."""
    before = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if threads > 0:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)


def _plain(value):
    """A numpy scalar as the Python value it holds (labels are compared and saved as such)."""
    return value.item() if hasattr(value, "item") else value


def _texts(texts):
    """Tweets as a list, an Arrow array or a numpy array (a pandas Series becomes a list)."""
    if hasattr(texts, "iloc"):  # pandas: positions, not the index, line up with the labels
        return texts.tolist()
    return texts


def _take(texts, rows: np.ndarray):
    """The tweets at ``rows`` of a list or an Arrow array."""
    import pyarrow as pa

    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        return texts.take(pa.array(rows))
    if isinstance(texts, np.ndarray):
        return texts[rows]
    return [texts[i] for i in rows]
