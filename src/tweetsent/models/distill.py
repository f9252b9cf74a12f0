"""Distillation: a network or softmax student learns from a teacher's probabilities as well as the labels.

    teacher, callbacks = fit_teacher(cfg, TweetClassifier, texts, labels, val_texts, val_labels, callbacks)
    targets = soft_targets(teacher, texts, y, alpha=0.5)      # (n, n_classes)

The student's cross-entropy is taken against ``alpha`` x each tweet's one-hot label +
(1 - alpha) x the teacher's probabilities (temperature-scaled, thresholds not applied).
``distill.teacher`` names a preset or TOML file (trained first, on the same tweets with the
same seed and holdout; its epochs reach the callbacks as member ``teacher``, the student's as
``student``) or a trained run's directory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tweetsent.config.resolve import teacher_config
from tweetsent.config.settings import RunConfig
from tweetsent.config.validate import check_student
from tweetsent.errors import ModelError
from tweetsent.training.loop import Callback, Renumbered

__all__ = ["fit_teacher", "check_teacher", "soft_targets"]


def fit_teacher(cfg: RunConfig, estimator: type, texts, labels, val_texts, val_labels,
                callbacks: Sequence[Callback]) -> tuple[object | None, list[Callback]]:
    """The teacher that ``distill.teacher`` names, fitted or loaded (None when there is none), and the
    callbacks to train the student with (renumbered after the teacher's epochs when it trained here)."""
    callbacks = list(callbacks)
    if not cfg.distill.teacher:
        return None, callbacks
    teacher_cfg = teacher_config(cfg)
    if teacher_cfg is None:  # a directory: a trained model
        # on the student's device; the teacher's own weights, never an ONNX copy of them, make the targets
        return estimator.load(cfg.distill.teacher, device=cfg.train.device, engine="torch"), callbacks
    teacher = estimator(teacher_cfg).fit(texts, labels, val_texts, val_labels,
                                         callbacks=[Renumbered(cb, 0, "teacher") for cb in callbacks])
    return teacher, [Renumbered(cb, teacher.epochs_done(), "student") for cb in callbacks]


def check_teacher(cfg: RunConfig, teacher, classes: Sequence) -> dict:
    """What ``model.json`` records of the teacher (``{"teacher": name, "alpha": alpha}``), after checking that
    the student can be distilled and the teacher predicts the same classes."""
    check_student(cfg)  # a teacher given from Python skips the config's own check
    name = cfg.distill.teacher or getattr(getattr(teacher, "config_", None), "name", "") or type(teacher).__name__
    if list(teacher.classes_) != list(classes):
        raise ModelError(f"distill.teacher {name}: it predicts classes {list(teacher.classes_)} but the training "
                         f"tweets have {list(classes)}; give a teacher trained on the same labels")
    return {"teacher": name, "alpha": cfg.distill.alpha}


def soft_targets(teacher, texts, y: torch.Tensor, alpha: float) -> torch.Tensor:
    """(n, n_classes): alpha x one-hot labels + (1 - alpha) x the teacher's probabilities (no thresholds)."""
    try:
        proba = teacher.predict_proba(texts, thresholds=False)
    except TypeError:  # a scikit-learn classifier has no thresholds to leave out
        proba = teacher.predict_proba(texts)
    onehot = torch.nn.functional.one_hot(y, proba.shape[1]).float()
    return alpha * onehot + (1 - alpha) * torch.from_numpy(np.asarray(proba, np.float32))
