"""Every setting of a run, in one layered path: defaults -> preset or TOML file -> overrides.

    cfg = resolve_config("seed-prelu", overrides=["train.lr=1e-3", "model.hidden=[64,32]"])
    cfg.train.lr          # 0.001
    cfg.to_dict()         # what is saved with the run and inside the checkpoint

Unknown sections, keys and choices fail by name and list the valid ones; values from
``--set`` are read as TOML values (``1e-3``, ``[64, 32]``, ``true``), bare words as strings.
A table setting takes one entry at a time too: ``data.label_names.1=anti-vax``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import tomllib
import typing
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from tweetsent.config.settings import SECTIONS, RunConfig
from tweetsent.config.validate import check_ensemble, validate
from tweetsent.errors import ConfigError
from tweetsent.util.overrides import parse_setting

__all__ = ["DEFAULT_PRESET", "preset_names", "preset_summary", "resolve_config", "config_from_dict", "member_configs", "teacher_config"]


# What `tweetsent train` without --config and TweetClassifier() train: the strongest model measured that
# trains in well under a minute on a 2-core CPU (BENCHMARKS.md, "The default model").
DEFAULT_PRESET = "tfidf-softmax"


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


def _coerce(value, annotation, where: str):
    """Check ``value`` against a field's type, converting int -> float where harmless."""
    options = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, __import__("types").UnionType) else (annotation,)
    for option in options:
        origin = typing.get_origin(option)
        if origin is dict:  # data.label_names: keys are label values as text (an int key from Python is made text)
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {value!r} is not a table; give label value = name, e.g. "
                                  f'[data.label_names] 1 = "anti-vax", or --set data.label_names.1=anti-vax')
            _, item_type = typing.get_args(option)
            return {str(k): _coerce(v, item_type, f"{where}.{k}") for k, v in value.items()}
        if origin is list:
            (item_type,) = typing.get_args(option)
            if isinstance(value, list):
                try:
                    return [_coerce(v, item_type, where) for v in value]
                except ConfigError:
                    continue
        elif option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"{where}: {value!r} is not a finite number; give a number such as 1e-3")
            return float(value)
        elif (option is int and isinstance(value, int) and not isinstance(value, bool)) or (
                option in (str, bool) and type(value) is option):
            return value  # an int (not a bool) where an int goes; a str or bool exactly
    names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
    raise ConfigError(f"{where}: {value!r} is not a valid {names}")


def _apply(cfg: RunConfig, mapping: dict, source: str) -> None:
    for section, values in mapping.items():
        if section == "name" and isinstance(values, str):
            cfg.name = values
            continue
        if section not in SECTIONS or not isinstance(values, dict):
            raise ConfigError(f"{source}: unknown section {section!r}; sections: {', '.join(SECTIONS)}")
        target = getattr(cfg, section)
        hints = typing.get_type_hints(type(target))
        for key, value in values.items():
            table, dot, entry = key.partition(".")
            if dot and typing.get_origin(hints.get(table)) is dict:  # --set data.label_names.1=anti-vax adds one entry
                key, value = table, {**getattr(target, table), entry: value}
            if key not in hints:
                raise ConfigError(f"{source}: unknown key {section}.{key}; keys of [{section}]: {', '.join(hints)}")
            setattr(target, key, _coerce(value, hints[key], f"{source}: {section}.{key}"))


def teacher_config(cfg: RunConfig) -> RunConfig | None:
    """The validated config of a preset or TOML teacher, with the student's data, seed, holdout share and device;
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
    teacher.train.device = cfg.train.device
    return teacher


def member_configs(cfg: RunConfig) -> list[RunConfig]:
    """The validated configs of an ensemble's members: the ensemble's ``data``, ``train.seed`` and
    ``train.device`` over each member's preset or file. A member listed again gets the next seed (``seed + 1``,
    ``seed + 2``, ...), so that it trains a second model rather than a copy of the first (and
    holds out the tweets that seed draws)."""
    check_ensemble(cfg.ensemble)
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
        member.train.device = cfg.train.device
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
        section, field_name, value = parse_setting(item)
        _apply(cfg, {section: {field_name: value}}, "--set")
    for key, value in (values or {}).items():
        section, dot, field_name = key.partition(".")
        if not dot:
            raise ConfigError(f"setting {key!r}: name it section.key (section__key as a parameter), e.g. train.lr")
        _apply(cfg, {section: {field_name: value}}, "settings")
    if seed is not None:
        cfg.train.seed = seed
    return validate(cfg)
