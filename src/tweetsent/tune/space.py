"""Search spaces for `tweetsent tune`: a TOML file of fixed settings and ranges to sample.

    space = load_space("seed-space", fixed=["features.input=embeddings"])
    cfg = space.sample(trial, name="study-t3")     # a validated RunConfig, one Optuna trial's draw

A space file has a ``[base]`` table (``preset = NAME`` plus config sections such as
``[base.train]`` that every trial shares), an optional ``[search]`` table (pruner and sampler
settings) and one ``[params."section.key"]`` table per searched setting::

    [params."train.lr"]            # a float range; log = true samples evenly in log space
    low = 1e-4
    high = 1e-2
    log = true

    [params."train.batch_size"]    # integer bounds make an integer range (step optional)
    low = 32
    high = 512
    log = true

    [params."model.activation"]    # a list of choices (any TOML values, lists included)
    choices = ["relu", "tanh", "prelu"]

Two settings also take a shaped form. ``model.hidden`` with ``layers``, ``width`` and
``shrink`` (each itself a range or choices) builds ``layers`` widths starting at ``width``,
each the one before times ``shrink``. ``model.dropout`` with ``first`` and ``decay`` gives the
first hidden layer ``first`` and every deeper one ``decay`` less (never below 0): the study's
"0.3, decreasing with depth". Every key is checked against `RunConfig` and every choice and
bound against the config's validation when the file is read, so a typo fails before a trial
runs. ``fixed`` (``--set``) pins a setting and takes it out of the search.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path

from tweetsent.config.resolve import config_from_dict, resolve_config
from tweetsent.config.settings import RunConfig
from tweetsent.errors import ConfigError
from tweetsent.util.overrides import parse_setting

__all__ = ["PRUNERS", "SEARCH_DEFAULTS", "Dimension", "SearchSpace", "load_space", "space_from_dict"]

PRUNERS = ("median", "halving", "none")
# What [search] may set: the pruner and when it starts judging, and the sampler's random start.
SEARCH_DEFAULTS = {
    "pruner": "median",  # median: stop a trial whose score is below the median of earlier trials at that epoch
    "pruner_startup_trials": 5,  # trials that always run to the end before any is pruned
    "pruner_warmup_epochs": 3,  # epochs every trial runs before it can be pruned
    "sampler_startup_trials": 10,  # random draws before TPE starts modelling the good region
}
# Shaped parameters: their sub-dimensions and how the drawn values become a config value.
_SHAPES = {"model.hidden": ("layers", "width", "shrink"), "model.dropout": ("first", "decay")}
_LEAF_KEYS = {"choices", "low", "high", "log", "step"}


@dataclass
class Dimension:
    """One thing Optuna samples: ``choices``, or a ``low``..``high`` range (int when both bounds are)."""

    name: str  # the Optuna parameter name: the config key, or key.sub for a shaped parameter
    choices: list | None = None
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None

    @property
    def is_int(self) -> bool:
        return self.choices is None and all(isinstance(v, int) and not isinstance(v, bool)
                                            for v in (self.low, self.high))

    def sample(self, trial):
        """Draw this dimension in an Optuna trial; list choices travel as their JSON text."""
        if self.choices is not None:
            labels = [_label(c) for c in self.choices]
            picked = trial.suggest_categorical(self.name, labels)
            return self.choices[labels.index(picked)]
        if self.is_int:
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), step=self.step, log=self.log)

    def extremes(self) -> list:
        """Values that bound what this dimension can give (for checking the file up front)."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]

    def to_dict(self) -> dict:
        if self.choices is not None:
            return {"choices": self.choices}
        out = {"low": self.low, "high": self.high, "log": self.log}
        return out if self.step is None else {**out, "step": self.step}


def _label(value):
    # Optuna's categorical choices must be None, bool, int, float or str.
    return value if value is None or isinstance(value, (bool, int, float, str)) else json.dumps(value)


@dataclass
class SearchSpace:
    """Fixed settings (``base``, a full config mapping) plus the parameters to search.

    ``params`` maps a config key to its dimensions: one for a plain setting, several for a
    shaped one (``model.hidden``, ``model.dropout``).
    """

    base: dict
    params: dict[str, list[Dimension]]
    search: dict = field(default_factory=lambda: dict(SEARCH_DEFAULTS))
    source: str = "space"

    def sample(self, trial, name: str = "") -> RunConfig:
        """The config of one trial: ``base`` with every parameter drawn by ``trial``.

        Raises
        ------
        ConfigError
            When the drawn values do not fit together (say, per-layer lists of another length).
        """
        mapping = copy.deepcopy(self.base)
        drawn = {key: {d.name: d.sample(trial) for d in dims} for key, dims in self.params.items()}
        # model.hidden first: a shaped dropout needs the number of layers.
        for key in sorted(drawn, key=lambda k: k != "model.hidden"):
            section, _, field_name = key.partition(".")
            mapping[section][field_name] = _build(key, drawn[key], mapping)
        if name:
            mapping["name"] = name
        return config_from_dict(mapping, f"{self.source} (trial {trial.number})")

    def to_dict(self) -> dict:
        """Plain data that `space_from_dict` turns back into this space (stored with the study)."""
        params = {}
        for key, dims in self.params.items():
            shaped = dims[0].name != key
            params[key] = {d.name[len(key) + 1:]: d.to_dict() for d in dims} if shaped else dims[0].to_dict()
        return {"base": self.base, "params": params, "search": self.search}

    def fingerprint(self) -> str:
        """A short hash of everything that shapes the search: a study refuses another space.

        ``train.device`` is left out: where trials run shapes no result, and each worker chooses its own."""
        shape = copy.deepcopy(self.to_dict())
        shape["base"].get("train", {}).pop("device", None)
        text = json.dumps(shape, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe(self) -> list[str]:
        """One line per searched parameter, for the report and ``--json``."""
        return [f"{d.name}: " + (f"one of {d.choices}" if d.choices is not None else
                                 f"{d.low} .. {d.high}{' (log)' if d.log else ''}")
                for dims in self.params.values() for d in dims]


def _build(key: str, values: dict, mapping: dict):
    """The config value of one parameter from its drawn dimensions."""
    if key == "model.hidden" and f"{key}.layers" in values:
        layers, width = values[f"{key}.layers"], values[f"{key}.width"]
        shrink = values.get(f"{key}.shrink", 1.0)
        return [max(1, round(width * shrink ** i)) for i in range(int(layers))]
    if key == "model.dropout" and f"{key}.first" in values:
        first, decay = values[f"{key}.first"], values.get(f"{key}.decay", 0.0)
        n_layers = len(mapping["model"]["hidden"])
        return [round(max(0.0, first - decay * i), 4) for i in range(n_layers)]
    return values[key]


def _config_keys() -> dict[str, list[str]]:
    return {f.name: [g.name for g in fields(f.default_factory)] for f in fields(RunConfig) if f.name != "name"}


def _check_key(key: str, where: str) -> None:
    keys = _config_keys()
    section, _, name = key.partition(".")
    if section not in keys:
        raise ConfigError(f"{where}: {key!r} is not a config key; sections: {', '.join(keys)}")
    if name not in keys[section]:
        raise ConfigError(f"{where}: unknown config key {key}; keys of [{section}]: {', '.join(keys[section])}")


def _dimension(name: str, spec, where: str) -> Dimension:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: give a table with choices = [...] or low/high, not {spec!r}")
    unknown = set(spec) - _LEAF_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; a parameter takes "
                          f"choices, or low, high, log, step")
    if "choices" in spec:
        if set(spec) != {"choices"} or not isinstance(spec["choices"], list) or not spec["choices"]:
            raise ConfigError(f"{where}: choices must be a non-empty list, with no low/high/log/step beside it")
        return Dimension(name, choices=list(spec["choices"]))
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{where}: give choices = [...], or both low and high")
    low, high = spec["low"], spec["high"]
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in (low, high)) or low > high:
        raise ConfigError(f"{where}: low and high must be numbers with low <= high, got {low!r} and {high!r}")
    if spec.get("log") and low <= 0:
        raise ConfigError(f"{where}: log = true needs low > 0, got {low}")
    if spec.get("log") and spec.get("step") is not None:
        raise ConfigError(f"{where}: give log = true or a step, not both")
    return Dimension(name, low=low, high=high, log=bool(spec.get("log", False)), step=spec.get("step"))


def _param(key: str, spec, where: str) -> list[Dimension]:
    _check_key(key, where)
    if isinstance(spec, dict) and key in _SHAPES and set(spec) & set(_SHAPES[key]):
        allowed = _SHAPES[key]
        unknown = set(spec) - set(allowed)
        required = allowed[:2]
        if unknown or any(r not in spec for r in required):
            raise ConfigError(f"{where}: a shaped {key} takes {', '.join(allowed)} (the first two required); "
                              f"got {', '.join(sorted(spec))}")
        return [_dimension(f"{key}.{sub}", spec[sub], f"{where}.{sub}") for sub in allowed if sub in spec]
    return [_dimension(key, spec, where)]


def _check_values(space: SearchSpace) -> None:
    """Each bound and choice, set one at a time on the base config, must validate."""
    for key, dims in space.params.items():
        section, _, name = key.partition(".")
        for dim in dims:
            for value in dim.extremes():
                mapping = copy.deepcopy(space.base)
                mapping[section][name] = _build(key, {d.name: (value if d is dim else d.extremes()[0]) for d in dims},
                                                mapping)
                try:
                    config_from_dict(mapping, f'{space.source} [params."{key}"]')
                except ConfigError as exc:
                    raise ConfigError(f"{exc} (from {dim.name} = {value!r})") from exc


def space_from_dict(data: dict, source: str = "space", fixed: list[str] = ()) -> SearchSpace:
    """A checked `SearchSpace` from a parsed space file (or `SearchSpace.to_dict` output).

    Parameters
    ----------
    data : dict
        Tables ``base``, ``params`` and optionally ``search``.
    source : str
        How messages name the file.
    fixed : list of str
        ``section.key=value`` settings that override the base and leave the search.

    Raises
    ------
    ConfigError
        Naming an unknown table, key, parameter or search setting, or an invalid value.
    """
    unknown = set(data) - {"base", "params", "search"}
    if unknown:
        raise ConfigError(f"{source}: unknown table(s) {', '.join(sorted(unknown))}; a space file has [base], "
                          f"[search] and [params.\"section.key\"] tables")
    base_table = dict(data.get("base") or {})
    preset = base_table.pop("preset", None)
    cfg = resolve_config(preset) if preset else RunConfig()
    base = cfg.to_dict()
    for section, values in base_table.items():
        if section == "name" and isinstance(values, str):
            base["name"] = values
            continue
        if section not in base or not isinstance(values, dict):
            raise ConfigError(f"{source} [base]: unknown entry {section!r}; [base] takes preset, name and config "
                              f"sections ({', '.join(_config_keys())})")
        for key, value in values.items():
            _check_key(f"{section}.{key}", f"{source} [base.{section}]")
            base[section][key] = value
    params = {key: _param(key, spec, f'{source} [params."{key}"]') for key, spec in (data.get("params") or {}).items()}
    for item in fixed:
        section, name, value = parse_setting(item, example="features.input=embeddings")
        _check_key(f"{section}.{name}", "--set")
        base[section][name] = value
        params.pop(f"{section}.{name}", None)  # fixed: no longer searched
    config_from_dict(base, f"{source} [base]")
    search = dict(SEARCH_DEFAULTS)
    for key, value in (data.get("search") or {}).items():
        if key not in SEARCH_DEFAULTS:
            raise ConfigError(f"{source} [search]: unknown key {key!r}; keys: {', '.join(SEARCH_DEFAULTS)}")
        if type(value) is not type(SEARCH_DEFAULTS[key]):
            raise ConfigError(f"{source} [search]: {key} = {value!r} must be a {type(SEARCH_DEFAULTS[key]).__name__}")
        search[key] = value
    if search["pruner"] not in PRUNERS:
        raise ConfigError(f"{source} [search]: pruner = {search['pruner']!r} is not one of: {', '.join(PRUNERS)}")
    space = SearchSpace(base, params, search, source)
    _check_values(space)
    return space


def load_space(spec: str | Path, fixed: list[str] = ()) -> SearchSpace:
    """Read a space file, or a shipped one by name (``seed-space``), with ``fixed`` settings pinned.

    Parameters
    ----------
    spec : str or Path
        A ``.toml`` path, or the name of a space shipped in ``tweetsent/presets``.
    fixed : list of str
        ``--set section.key=value`` settings.

    Returns
    -------
    SearchSpace
    """
    path = Path(spec)
    if path.exists() or str(spec).endswith(".toml"):
        if not path.is_file():
            raise ConfigError(f"{spec}: no such space file")
        text, source = path.read_text(encoding="utf-8"), str(spec)
    else:
        shipped = resources.files("tweetsent.config") / "presets" / f"{spec}.toml"
        if not shipped.is_file():
            raise ConfigError(f"unknown search space {spec!r}; give a .toml file or a shipped space (seed-space)")
        text, source = shipped.read_text(encoding="utf-8"), str(spec)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from exc
    return space_from_dict(data, source, fixed)
