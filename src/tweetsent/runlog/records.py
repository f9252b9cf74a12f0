"""What a run record holds, and how a key someone typed names one of its values.

    space = KeySpace(records); get = space.getter("optimizer"); get(records[0])   # train.optimizer's value

A run record (what ``RunLog.list`` returns) holds top-level fields (``status``, ``name`` ...),
``metrics`` (scalar metrics by name) and ``config`` (the config flattened to dotted keys). A key
names one of those: a field, then a metric, then a fully dotted config key, then the last part of
a config key when only one key ends that way (``optimizer`` -> ``train.optimizer``). ``config.``
and ``metrics.`` prefixes force the section. Filters (`tweetsent.runlog.query`), sorting and the
exports all resolve keys here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable

from tweetsent.errors import ConfigError

__all__ = ["FIELDS", "STANDARD_METRICS", "KeySpace", "flatten", "scalar_metrics", "sort_records", "value_text"]

# Top-level fields of a run record, in the order tables and exports show them.
FIELDS = (
    "id", "name", "kind", "study", "parent", "status", "starred", "started_at", "ended_at",
    "duration_s", "best_epoch", "overfit", "note", "error", "run_dir", "package_version",
    "git_commit", "hostname", "pid",
)  # fmt: skip

# The scalar metrics evaluation reports; known even before any run has finished.
STANDARD_METRICS = (
    "accuracy", "precision_weighted", "recall_weighted", "f1_weighted", "precision_macro",
    "recall_macro", "f1_macro", "f1_micro", "loss", "roc_auc_macro",
)  # fmt: skip

def flatten(config: dict, prefix: str = "") -> dict:
    """Flatten a nested config to dotted keys; lists and scalars are leaves.

    Parameters
    ----------
    config : dict
        e.g. ``{"train": {"lr": 2e-4}}``.
    prefix : str
        Prepended to every key (used by the recursion).

    Returns
    -------
    dict
        e.g. ``{"train.lr": 2e-4}``, in the config's own order.
    """
    flat = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def scalar_metrics(metrics: dict | None) -> dict:
    """The numeric entries of a metrics dict (not labels, per_class, confusion_matrix).

    Non-finite values become ``None`` so that JSON stays portable and sorting stays total.
    """
    out = {}
    for key, value in (metrics or {}).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        out[key] = float(value) if math.isfinite(value) else None
    return out


def value_text(value) -> str:
    """How a value reads in tables, string comparisons and exports (lists as compact JSON)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


class KeySpace:
    """Which keys the given records offer, and how a key the user typed resolves to one of them.

    Parameters
    ----------
    records : iterable of dict
        Run records with ``metrics`` and ``config`` sub-dicts.
    """

    def __init__(self, records: Iterable[dict]):
        metrics = dict.fromkeys(STANDARD_METRICS)
        config: dict = {}
        for record in records:
            metrics.update(dict.fromkeys(record.get("metrics") or {}))
            config.update(dict.fromkeys(record.get("config") or {}))
        self.metrics = list(metrics)
        self.config = list(config)

    def valid(self) -> list[str]:
        """Every key a filter or sort may use, shortest spelling first where unambiguous."""
        ends: dict[str, int] = {}
        for key in self.config:
            ends[key.rsplit(".", 1)[-1]] = ends.get(key.rsplit(".", 1)[-1], 0) + 1
        taken = set(FIELDS) | set(self.metrics)
        config = [
            key.rsplit(".", 1)[-1]
            if ends[key.rsplit(".", 1)[-1]] == 1 and key.rsplit(".", 1)[-1] not in taken
            else key
            for key in self.config
        ]
        return list(FIELDS) + self.metrics + config

    def getter(self, key: str) -> Callable[[dict], object] | None:
        """A function reading ``key`` from a record, or ``None`` if no such key exists.

        Raises
        ------
        ConfigError
            When ``key`` is the last part of several config keys.
        """
        if key.startswith("config.") and key[7:] in self.config:
            return _config_getter(key[7:])
        if key.startswith("metrics.") and key[8:] in self.metrics:
            return _metric_getter(key[8:])
        if key in FIELDS:
            return lambda record: record.get(key)
        if key in self.metrics:
            return _metric_getter(key)
        if key in self.config:
            return _config_getter(key)
        matches = [full for full in self.config if full.endswith("." + key)]
        if len(matches) > 1:
            raise ConfigError(f"key '{key}' is ambiguous: it may mean {', '.join(matches)}; give it fully dotted")
        return _config_getter(matches[0]) if matches else None


def _metric_getter(name: str):
    return lambda record: (record.get("metrics") or {}).get(name)


def _config_getter(name: str):
    return lambda record: (record.get("config") or {}).get(name)


def sort_records(records: list[dict], spec: str) -> list[dict]:
    """Sort run records by ``spec``: comma-separated keys, ``-`` prefix for descending.

    Runs missing a key go last in either direction; numbers sort before text.

    Raises
    ------
    ConfigError
        For an unknown key, listing the valid ones.
    """
    space = KeySpace(records)
    keys = [part.strip() for part in spec.split(",") if part.strip()]
    if not keys:
        raise ConfigError(f"--sort '{spec}' names no key; e.g. --sort -f1_macro; valid keys: {', '.join(space.valid())}")
    rows = list(records)
    # Stable sorts from the last key to the first give a lexicographic order.
    for key in reversed(keys):
        descending = key.startswith("-")
        name = key.lstrip("+-")
        get = space.getter(name)
        if get is None:
            raise ConfigError(f"--sort: unknown key '{name}'; valid keys: {', '.join(space.valid())}")
        present = [row for row in rows if get(row) is not None]
        missing = [row for row in rows if get(row) is None]
        present.sort(key=lambda row: _sort_key(get(row)), reverse=descending)
        rows = present + missing
    return rows


def _sort_key(value):
    if isinstance(value, (int, float)):
        return (0, float(value), "")
    return (1, 0.0, value_text(value))
