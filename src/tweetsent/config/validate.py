"""Checks a resolved config must pass before anything trains: choices, shapes and ranges, by key.

    validate(cfg)        # ConfigError("train.holdout = 1.5: give the share ... in (0, 1), e.g. 0.1")
"""

from __future__ import annotations

import re

from tweetsent.config.settings import (
    ACTIVATIONS,
    DEVICES,
    EMPTY_CHOICES,
    INPUT_PARTS,
    LOSSES,
    OPTIMIZERS,
    POOLINGS,
    TOKENIZERS,
    UNFIT_LOSSES,
    EnsembleConfig,
    RunConfig,
    input_parts,
)
from tweetsent.errors import ConfigError

__all__ = ["validate", "check_student", "check_ensemble", "check_label_names", "check_named_labels"]


def _check_choice(value: str, choices, key: str) -> None:
    if value not in choices:
        raise ConfigError(f"{key} = {value!r} is not one of: {', '.join(choices)}")


def validate(cfg: RunConfig) -> RunConfig:
    """Check choices and shapes that types alone cannot; returns ``cfg``."""
    # model.kind is checked against the registered kinds (tweetsent.models.base) when a model is built
    _check_choice(cfg.data.empty, EMPTY_CHOICES, "data.empty")
    check_label_names(cfg.data.label_names)
    _check_choice(cfg.features.tokenizer, TOKENIZERS, "features.tokenizer")
    _check_choice(cfg.features.pooling, POOLINGS, "features.pooling")
    f = cfg.features
    parts = input_parts(f.input)
    if any(part not in INPUT_PARTS for part in parts):
        raise ConfigError(f"features.input = {f.input!r} is not one of: embeddings, ngrams, embeddings+ngrams, minilm, "
                          f"minilm+ngrams, embeddings+minilm (any '+'-joined set of {', '.join(INPUT_PARTS)})")
    if len(set(parts)) != len(parts):
        raise ConfigError(f"features.input = {f.input!r} names a part twice")
    if f.sif_a <= 0:
        raise ConfigError(f"features.sif_a = {f.sif_a} must be positive (the SIF paper uses 1e-3)")
    if f.minilm_max_length < 2:
        raise ConfigError(f"features.minilm_max_length = {f.minilm_max_length} must be at least 2 (room for [CLS] and [SEP])")
    for key, pair in (("word_ngrams", f.word_ngrams), ("char_ngrams", f.char_ngrams)):
        if len(pair) != 2 or pair[0] > pair[1] or pair[0] < 0 or (pair[0] == 0) != (pair[1] == 0):
            raise ConfigError(f"features.{key} = {pair}: give [min, max] with 1 <= min <= max, or [0, 0] for none")
    if "ngrams" in parts and f.word_ngrams[1] == 0 and f.char_ngrams[1] == 0:
        raise ConfigError("features.input uses ngrams but both features.word_ngrams and features.char_ngrams are [0, 0]")
    if f.n_features < 1:
        raise ConfigError(f"features.n_features = {f.n_features} must be positive")
    t, m = cfg.train, cfg.model
    if t.loss in UNFIT_LOSSES:
        raise ConfigError(f"train.loss = {t.loss!r} does not fit classification: {UNFIT_LOSSES[t.loss]}; "
                          f"use one of: {', '.join(LOSSES)}")
    _check_choice(t.loss, LOSSES, "train.loss")
    _check_choice(t.optimizer, OPTIMIZERS, "train.optimizer")
    activations = m.activation if isinstance(m.activation, list) else [m.activation]
    for act in activations:
        _check_choice(act, ACTIVATIONS, "model.activation")
    for key, value in (("model.activation", m.activation), ("model.dropout", m.dropout)):
        if isinstance(value, list) and len(value) != len(m.hidden):
            raise ConfigError(f"{key} has {len(value)} entries but model.hidden has {len(m.hidden)} layers; give one per layer or a single value")
    if any(h <= 0 for h in m.hidden):
        raise ConfigError(f"model.hidden = {m.hidden}: every layer needs a positive width")
    rates = m.dropout if isinstance(m.dropout, list) else [m.dropout]
    if any(not 0.0 <= r < 1.0 for r in rates):
        raise ConfigError(f"model.dropout = {m.dropout}: rates must be in [0, 1)")
    if isinstance(t.class_weight, str):
        _check_choice(t.class_weight, ("none", "balanced"), "train.class_weight")
    for key in ("lr", "batch_size", "epochs"):
        if getattr(t, key) <= 0:
            raise ConfigError(f"train.{key} = {getattr(t, key)} must be positive")
    if not 0 <= t.seed < 2**32:
        raise ConfigError(f"train.seed = {t.seed}: give a whole number from 0 to {2**32 - 1}")
    if t.threads < 0:
        raise ConfigError(f"train.threads = {t.threads}: give the number of CPU threads, or 0 for torch's default")
    if not isinstance(t.device, str) or not re.fullmatch(DEVICES, t.device):
        raise ConfigError(f"train.device = {t.device!r} is not one of: auto, cpu, cuda, cuda:N (N = 0, 1, ...)")
    if t.time_budget < 0:
        raise ConfigError(f"train.time_budget = {t.time_budget}: give seconds, or 0 for no budget")
    _check_choice(t.calibration, ("none", "temperature"), "train.calibration")
    _check_choice(t.thresholds, ("none", "tuned"), "train.thresholds")
    if not 0.0 < t.holdout < 1.0:
        raise ConfigError(f"train.holdout = {t.holdout}: give the share of the training file to hold out, in (0, 1), e.g. 0.1")
    ft = cfg.finetune
    if m.kind == "finetune" and t.loss != "cross_entropy":
        raise ConfigError(f"train.loss = {t.loss!r} does not apply to model.kind = 'finetune', which trains with cross_entropy")
    for key in ("lr", "batch_size", "epochs"):
        if getattr(ft, key) <= 0:
            raise ConfigError(f"finetune.{key} = {getattr(ft, key)} must be positive")
    if not 0.0 <= ft.warmup < 1.0:
        raise ConfigError(f"finetune.warmup = {ft.warmup}: give the share of steps that warm up, in [0, 1)")
    if not 0.0 <= ft.dropout < 1.0:
        raise ConfigError(f"finetune.dropout = {ft.dropout}: rates must be in [0, 1)")
    if not 2 <= ft.max_length <= 512:
        raise ConfigError(f"finetune.max_length = {ft.max_length}: give 2 to 512 wordpieces (MiniLM's limit)")
    _check_choice(ft.precision, ("fp32", "bf16", "auto"), "finetune.precision")
    if ft.weight_decay < 0 or ft.threads < 0:
        raise ConfigError("finetune.weight_decay and finetune.threads must not be negative")
    if m.kind == "ensemble":
        check_ensemble(cfg.ensemble)  # the members themselves resolve when training starts
    d = cfg.distill
    if not 0.0 <= d.alpha <= 1.0:
        raise ConfigError(f"distill.alpha = {d.alpha}: give the weight of the true labels, in [0, 1] (0.5 is usual)")
    if d.teacher:
        check_student(cfg)
    return cfg


def check_student(cfg: RunConfig) -> None:
    """A teacher distils into a network or softmax model trained with cross-entropy; ConfigError otherwise."""
    if cfg.model.kind not in ("network", "softmax"):
        raise ConfigError(f"distill.teacher applies to model.kind = 'network' or 'softmax', not {cfg.model.kind!r}; "
                          f'set distill.teacher = "" or change model.kind')
    if cfg.train.loss != "cross_entropy":
        raise ConfigError(f"distill.teacher needs train.loss = 'cross_entropy' (it learns probabilities), "
                          f"not {cfg.train.loss!r}")


def check_ensemble(e: EnsembleConfig) -> None:
    if len(e.members) < 2:
        raise ConfigError(f"ensemble.members = {e.members}: an ensemble needs two or more presets or config files, "
                          f'e.g. ["minilm-finetune", "tfidf-softmax"]')
    if e.weights and (len(e.weights) != len(e.members) or any(w < 0 for w in e.weights) or sum(e.weights) <= 0):
        raise ConfigError(f"ensemble.weights = {e.weights}: give one non-negative weight per member "
                          f"({len(e.members)}), with a positive sum, or [] for equal weights")




def check_label_names(names: dict, source: str = "data.label_names") -> None:
    """Each class name a non-empty string, no two classes with one name; ConfigError naming the key otherwise.

    ``source`` names where the table comes from in messages (a key of the config, or a file).
    """
    seen: dict[str, str] = {}
    for key, name in names.items():
        if not key.strip():
            raise ConfigError(f"{source} has an empty label value as a key; write each class as "
                              f'label value = name, e.g. 1 = "anti-vax"')
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{source}.{key} = {name!r}: give the class a non-empty name, e.g. "
                              f'{source}.{key} = "anti-vax", or leave the key out')
        if name in seen:
            raise ConfigError(f"{source}: {name!r} names both label {seen[name]} and label {key}; "
                              f"give each class its own name")
        seen[name] = key


def check_named_labels(names: dict, classes, source: str = "data.label_names") -> None:
    """Every label ``names`` has a name for is one of ``classes`` (compared as text); ConfigError otherwise."""
    known = [str(c) for c in classes]
    for key in names:
        if key not in known:
            raise ConfigError(f"{source} names label {key!r}, which the training data does not have "
                              f"(its labels: {', '.join(known)}); fix that key or remove it")
