"""Every setting of a run, in one layered path: defaults -> preset or TOML file -> overrides.

    cfg = resolve_config("seed-prelu", overrides=["train.lr=1e-3", "model.hidden=[64,32]"])
    cfg.train.lr          # 0.001
    cfg.to_dict()         # what is saved with the run and inside the checkpoint

Unknown sections, keys and choices fail by name and list the valid ones; values from
``--set`` are read as TOML values (``1e-3``, ``[64, 32]``, ``true``), bare words as strings.
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from tweetsent.errors import ConfigError

__all__ = [
    "DataConfig", "FeaturesConfig", "ModelConfig", "TrainConfig", "FinetuneConfig", "EnsembleConfig", "RunConfig",
    "ACTIVATIONS", "LOSSES", "OPTIMIZERS", "INPUT_PARTS", "input_parts",
    "preset_names", "preset_summary", "resolve_config", "config_from_dict", "member_configs",
]

ACTIVATIONS = ("relu", "sigmoid", "logsigmoid", "tanh", "prelu", "celu", "selu")
LOSSES = ("cross_entropy", "nll", "multi_margin")
# Losses people reach for that do not fit single-label classification, and why.
_UNFIT_LOSSES = {
    "mse": "it regresses numbers, not classes",
    "l1": "it regresses numbers, not classes",
    "smooth_l1": "it regresses numbers, not classes",
    "huber": "it regresses numbers, not classes",
    "bce": "it scores each class on its own (multi-label), not one class per tweet",
    "bce_with_logits": "it scores each class on its own (multi-label), not one class per tweet",
    "kl_div": "it compares two distributions and needs soft targets, not labels",
    "ctc": "it aligns sequences, not single labels",
}
OPTIMIZERS = ("sgd", "adam", "adamw", "adamax", "rmsprop", "radam", "nadam", "adagrad", "adadelta")
INPUT_PARTS = ("embeddings", "ngrams", "minilm")  # features.input joins one or more with "+"
TOKENIZERS = ("tweet", "whitespace")  # tweetsent.data.text implements each
POOLINGS = ("mean", "max", "mean+max", "tfidf", "sif")  # tweetsent.features.pooling implements each


def input_parts(value: str) -> tuple[str, ...]:
    """The parts of a ``features.input`` value: "embeddings+minilm" -> ("embeddings", "minilm")."""
    return tuple(part.strip() for part in value.split("+"))


@dataclass
class DataConfig:
    text_column: str = ""  # "" finds it: the first of tweet, text, content, sentence
    label_column: str = "label"  # the column holding the class of each tweet


@dataclass
class FeaturesConfig:
    input: str = "embeddings"  # "+"-joined parts: embeddings (pooled word vectors), ngrams (hashed n-grams), minilm (sentence vectors)
    embeddings: str = "glove-6b-50d"  # bundled table, or a GloVe / word2vec text file (.txt, .gz, .zip:member)
    tokenizer: str = "tweet"  # "tweet" (tweet-aware, for GloVe 6B) or "whitespace" (the study's: lower + split)
    pooling: str = "mean"  # mean (the study's), max, mean+max (2*dim), tfidf (IDF-weighted mean) or sif; zeros when no word is known
    sif_a: float = 1e-3  # sif pooling: a word weighs a / (a + p(word)), p its frequency in the training tweets
    sif_remove_pc: bool = True  # sif pooling: remove the first principal component of the training tweets' vectors
    punctuation: bool = False  # average punctuation/symbol-only tokens too (the study's split never isolates them)
    word_ngrams: list[int] = field(default_factory=lambda: [1, 2])  # hashed word n-gram sizes, [min, max]; [0, 0] for none
    char_ngrams: list[int] = field(default_factory=lambda: [0, 0])  # hashed character n-grams within words, e.g. [2, 5]
    n_features: int = 262144  # hash buckets (2**18); the first layer has this many inputs
    tfidf: bool = False  # weight n-gram counts by inverse document frequency (learned on the training set)
    minilm_max_length: int = 128  # minilm input: wordpieces per tweet (longer ones are truncated); part of the cache key


@dataclass
class ModelConfig:
    kind: str = "network"  # "network" (feed-forward), "softmax" (no hidden layers), "finetune" (MiniLM end to end, [finetune]) or "ensemble" ([ensemble])
    hidden: list[int] = field(default_factory=lambda: [256, 128, 64, 32])  # widths of the hidden layers
    activation: str | list[str] = "relu"  # one for every layer, or a list with one per layer
    last_sigmoid: bool = False  # sigmoid on the last hidden layer instead (an option the study tried)
    batch_norm: bool = False  # BatchNorm1d after each hidden linear layer
    dropout: float | list[float] = 0.0  # after each hidden layer: one rate, or one per layer (the study's decrease with depth)


@dataclass
class TrainConfig:
    loss: str = "cross_entropy"  # cross_entropy, nll (on log-softmax outputs) or multi_margin
    optimizer: str = "adam"  # sgd, adam, adamw, adamax, rmsprop, radam, nadam, adagrad, adadelta
    lr: float = 1e-3  # learning rate
    momentum: float = 0.0  # sgd and rmsprop only
    weight_decay: float = 0.0  # L2 penalty, every optimizer
    batch_size: int = 64  # tweets per gradient step
    epochs: int = 50  # passes over the training set (an upper bound with early stopping)
    shuffle: bool = True  # reshuffle the training set every epoch
    seed: int = 0  # same seed, same numbers
    class_weight: str | list[float] = "none"  # "none", "balanced" (inverse class frequency), or one weight per class
    early_stopping: bool = False  # stop when validation loss stops falling; the best epoch is restored
    patience: int = 5  # epochs without a new best validation loss before stopping
    threads: int = 1  # torch CPU threads; one is fastest for networks this small, and never oversubscribes
    time_budget: float = 0.0  # seconds of training at most (0: none); a network stops before an epoch that would not fit, fine-tuning mid-epoch
    holdout: float = 0.1  # share of the training file held out (stratified, seeded) when calibration or thresholds are on
    calibration: str = "none"  # "temperature": scale the scores by a temperature fitted on the holdout; or "none"
    thresholds: str = "none"  # "tuned": per-class weights on the probabilities maximising holdout macro F1; or "none"


@dataclass
class FinetuneConfig:
    """all-MiniLM-L6-v2 fine-tuned end to end (model.kind = "finetune"); train.lr/optimizer/batch_size/epochs do not apply."""

    lr: float = 1e-4  # AdamW peak learning rate: 1e-4 beat 5e-5 (the BERT default) for MiniLM-L6 on the holdout; 1e-3 forgets the pre-training
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    batch_size: int = 32  # tweets per step
    epochs: int = 3  # passes over the training set (an upper bound with early stopping or a time budget)
    warmup: float = 0.1  # share of the steps with a linear warm-up; then linear decay to zero
    dropout: float = 0.1  # before the linear head
    max_length: int = 64  # wordpieces per tweet; longer ones are truncated
    normalize: bool = False  # decode HTML entities and make each link "http" before tokenizing (a t.co link is ~15 wordpieces)
    threads: int = 0  # torch CPU threads; 0 = every core (a transformer uses them well)
    precision: str = "fp32"  # "bf16": bfloat16 autocast, weights kept in fp32 (~1.7x faster where the CPU has AVX-512 BF16 or AMX); "auto": bf16 where supported


@dataclass
class EnsembleConfig:
    """model.kind = "ensemble": train each member config on the same data and average their probabilities.

    Only ``data`` and ``train.seed`` of the ensemble's own config reach the members; everything
    else comes from each member's preset or file. A member listed twice trains twice, the second
    time with seed + 1.
    """

    members: list[str] = field(default_factory=list)  # two or more preset names or TOML files (not ensembles); a repeat gets the next seed
    weights: list[float] = field(default_factory=list)  # one non-negative weight per member; [] = equal


@dataclass
class DistillConfig:
    """Knowledge distillation: a network or softmax model also learns a teacher's probabilities.

    The loss is cross-entropy against ``alpha`` x the true label + (1 - alpha) x the teacher's
    (temperature-scaled) probabilities on each training tweet. A preset or TOML teacher is trained
    first, in the same run, on the same tweets with the same seed and holdout.
    """

    teacher: str = ""  # a preset name, a TOML file, or a run directory / model folder; "" = no distillation
    alpha: float = 0.5  # weight of the true labels; 1 - alpha goes to the teacher's probabilities


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    name: str = ""  # a label for the run; the preset's name when one is used

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())


_SECTIONS = {"data": DataConfig, "features": FeaturesConfig, "model": ModelConfig, "train": TrainConfig,
             "finetune": FinetuneConfig, "ensemble": EnsembleConfig, "distill": DistillConfig}


def preset_names() -> list[str]:
    """Names of the presets shipped with the package."""
    folder = resources.files("tweetsent.config") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir()
                  if p.name.endswith(".toml") and not p.name.endswith("-space.toml"))


def preset_summary(name: str) -> str:
    """A shipped preset's first sentence, from the comment at the top of its file."""
    text = (resources.files("tweetsent.config") / "presets" / f"{name}.toml").read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# ").strip())
    return " ".join(lines).split(". ")[0].rstrip(".")


def _read_preset(spec: str) -> tuple[dict, str]:
    """The TOML mapping of a preset name or a file path, and the run name it implies."""
    path = Path(spec)
    if spec.endswith(".toml") or path.exists():
        if not path.exists():
            raise ConfigError(f"{spec}: no such config file")
        text, name = path.read_text(encoding="utf-8"), path.stem
    else:
        candidate = resources.files("tweetsent.config") / "presets" / f"{spec}.toml"
        if spec.endswith("-space") and candidate.is_file():
            raise ConfigError(f"{spec!r} is a search space, not a config; use it with `tweetsent tune --space {spec}`")
        if not candidate.is_file():
            raise ConfigError(f"unknown preset {spec!r}; presets: {', '.join(preset_names())} (or give a .toml file)")
        text, name = candidate.read_text(encoding="utf-8"), spec
    try:
        return tomllib.loads(text), name
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{spec}: not valid TOML ({exc})") from exc


def _parse_value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word: a string


def _coerce(value, annotation, where: str):
    """Check ``value`` against a field's type, converting int -> float where harmless."""
    options = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, __import__("types").UnionType) else (annotation,)
    for option in options:
        origin = typing.get_origin(option)
        if origin is list:
            (item_type,) = typing.get_args(option)
            if isinstance(value, list):
                try:
                    return [_coerce(v, item_type, where) for v in value]
                except ConfigError:
                    continue
        elif option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        elif option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        elif option in (str, bool) and type(value) is option:
            return value
    names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
    raise ConfigError(f"{where}: {value!r} is not a valid {names}")


def _apply(cfg: RunConfig, mapping: dict, source: str) -> None:
    for section, values in mapping.items():
        if section == "name" and isinstance(values, str):
            cfg.name = values
            continue
        if section not in _SECTIONS or not isinstance(values, dict):
            raise ConfigError(f"{source}: unknown section {section!r}; sections: {', '.join(_SECTIONS)}")
        target = getattr(cfg, section)
        hints = typing.get_type_hints(type(target))
        for key, value in values.items():
            if key not in hints:
                raise ConfigError(f"{source}: unknown key {section}.{key}; keys of [{section}]: {', '.join(hints)}")
            setattr(target, key, _coerce(value, hints[key], f"{source}: {section}.{key}"))


def _check_choice(value: str, choices, key: str) -> None:
    if value not in choices:
        raise ConfigError(f"{key} = {value!r} is not one of: {', '.join(choices)}")


def validate(cfg: RunConfig) -> RunConfig:
    """Check choices and shapes that types alone cannot; returns ``cfg``."""
    # model.kind is checked against the registered kinds (tweetsent.models.base) when a model is built
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
    if t.loss in _UNFIT_LOSSES:
        raise ConfigError(f"train.loss = {t.loss!r} does not fit classification: {_UNFIT_LOSSES[t.loss]}; "
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
        _check_ensemble(cfg.ensemble)  # the members themselves resolve when training starts
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


def teacher_config(cfg: RunConfig) -> RunConfig | None:
    """The validated config of a preset or TOML teacher, with the student's data, seed and holdout share;
    None when ``distill.teacher`` is empty or names a directory (a trained model)."""
    spec = cfg.distill.teacher
    if not spec or Path(spec).is_dir():
        return None
    if ("/" in spec or "\\" in spec) and not Path(spec).exists():
        raise ConfigError(f"distill.teacher = {spec!r}: no such run directory or config file; give a trained run's "
                          f"directory, a .toml file or a preset name")
    try:
        teacher = resolve_config(spec, seed=cfg.train.seed)
    except ConfigError as exc:
        raise ConfigError(f"distill.teacher: {exc}") from None
    if teacher.distill.teacher:
        raise ConfigError(f"distill.teacher: {spec!r} is itself distilled; give its teacher instead")
    teacher.data = dataclasses.replace(cfg.data)
    teacher.train.holdout = cfg.train.holdout
    return teacher


def _check_ensemble(e: EnsembleConfig) -> None:
    if len(e.members) < 2:
        raise ConfigError(f"ensemble.members = {e.members}: an ensemble needs two or more presets or config files, "
                          f'e.g. ["minilm-finetune", "tfidf-softmax"]')
    if e.weights and (len(e.weights) != len(e.members) or any(w < 0 for w in e.weights) or sum(e.weights) <= 0):
        raise ConfigError(f"ensemble.weights = {e.weights}: give one non-negative weight per member "
                          f"({len(e.members)}), with a positive sum, or [] for equal weights")


def member_configs(cfg: RunConfig) -> list[RunConfig]:
    """The validated configs of an ensemble's members: the ensemble's ``data`` and ``train.seed``
    over each member's preset or file. A member listed again gets the next seed (``seed + 1``,
    ``seed + 2``, ...), so that it trains a second model rather than a copy of the first (and
    holds out the tweets that seed draws)."""
    _check_ensemble(cfg.ensemble)
    out, repeats = [], {}
    for spec in cfg.ensemble.members:
        repeats[spec] = repeats.get(spec, -1) + 1
        try:
            member = resolve_config(spec, seed=cfg.train.seed + repeats[spec])
        except ConfigError as exc:
            raise ConfigError(f"ensemble.members: {exc}") from None
        if member.model.kind == "ensemble":
            raise ConfigError(f"ensemble.members: {spec!r} is itself an ensemble; list its members instead")
        member.data = dataclasses.replace(cfg.data)
        out.append(member)
    return out


def config_from_dict(mapping: dict, source: str = "config") -> RunConfig:
    """A validated `RunConfig` from a nested mapping (a saved run's config, say)."""
    cfg = RunConfig()
    _apply(cfg, mapping, source)
    return validate(cfg)


def resolve_config(preset: str | RunConfig | None = None, overrides: Sequence[str] = (), seed: int | None = None,
                   values: dict | None = None) -> RunConfig:
    """Defaults, then a preset name or TOML file, then ``section.key=value`` overrides.

    Parameters
    ----------
    preset : str or RunConfig, optional
        A shipped preset's name (see `preset_names`), a path to a TOML file, or a config to
        start from (copied, not changed).
    overrides : sequence of str
        ``section.key=value`` strings; values are TOML (``--set``).
    seed : int, optional
        Shorthand for ``train.seed``.
    values : dict, optional
        ``{"section.key": value}`` with Python values, applied after ``overrides``.

    Returns
    -------
    RunConfig
        Validated.
    """
    if isinstance(preset, RunConfig):
        cfg = copy.deepcopy(preset)
        preset = None
    else:
        cfg = RunConfig()
    if preset:
        mapping, name = _read_preset(preset)
        cfg.name = name
        _apply(cfg, mapping, preset)
        if Path(preset).is_file():  # member and teacher files are found beside the file that names them
            folder = Path(preset).parent

            def beside(spec: str) -> str:
                return (str(folder / spec) if spec.endswith(".toml") and not Path(spec).is_absolute()
                        and (folder / spec).is_file() else spec)

            cfg.ensemble.members = [beside(m) for m in cfg.ensemble.members]
            cfg.distill.teacher = beside(cfg.distill.teacher)
    for item in overrides:
        key, sep, raw = item.partition("=")
        section, dot, field_name = key.strip().partition(".")
        if not sep or not dot:
            raise ConfigError(f"--set {item!r}: write section.key=value, e.g. train.lr=1e-3")
        _apply(cfg, {section: {field_name: _parse_value(raw.strip())}}, "--set")
    for key, value in (values or {}).items():
        section, dot, field_name = key.partition(".")
        if not dot:
            raise ConfigError(f"setting {key!r}: name it section.key (section__key as a parameter), e.g. train.lr")
        _apply(cfg, {section: {field_name: value}}, "settings")
    if seed is not None:
        cfg.train.seed = seed
    return validate(cfg)
