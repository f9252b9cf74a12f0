"""Class names: how a named class reads, and ``labels.toml``, the names of a data set beside its tables.

    class_text(1, {"1": "anti-vax"})                            # "1 (anti-vax)"; class_text(1, {}) is "1"
    write_label_names("data/vaccine", {0: "neutral", 1: "anti-vax", 2: "pro-vax"})
    label_names_beside("data/vaccine/vaccine_train_set.csv")   # ({"0": "neutral", ...}, Path(".../labels.toml"))

The file holds the same table a config file takes, so it can be pasted into one::

    [data.label_names]
    0 = "neutral"

`tweetsent.runs.workflow.train_run` uses it when the config names no classes.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from tweetsent.config.validate import check_label_names
from tweetsent.errors import ConfigError
from tweetsent.util.files import atomic_write_text

__all__ = ["LABELS_FILE", "class_text", "label_names_beside", "read_label_names", "write_label_names"]

LABELS_FILE = "labels.toml"

_HEADER = """\
# Class names of the tables in this folder: label value = name. `tweetsent train` uses them as
# data.label_names when it trains on a file here and the config names no classes.
"""


def class_text(label, names: Mapping | None = None) -> str:
    """How tables and figures show a class: ``"1 (anti-vax)"`` when ``names`` (``{str(class): name}``,
    as ``data.label_names`` and ``metrics["label_names"]`` hold them) gives it a name other than the
    label itself, else the label as text."""
    text = str(label)
    name = (names or {}).get(text)
    return f"{text} ({name})" if name and name != text else text


def write_label_names(folder: str | Path, names: Mapping) -> Path:
    """Write ``folder/labels.toml`` (atomically) with ``names`` ({label value: name}); return its path."""
    import tomli_w

    path = Path(folder) / LABELS_FILE
    table = {str(k): str(v) for k, v in names.items()}
    check_label_names(table, f"{path}: data.label_names")
    atomic_write_text(path, _HEADER + "\n" + tomli_w.dumps({"data": {"label_names": table}}))
    return path


def read_label_names(path: str | Path) -> dict[str, str]:
    """The ``[data.label_names]`` table of a ``labels.toml`` file, checked; ConfigError naming the file otherwise."""
    path = Path(path)
    try:
        mapping = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as TOML ({exc}); fix it or remove it") from exc
    table = (mapping.get("data") or {}).get("label_names") if isinstance(mapping.get("data"), dict) else None
    if not isinstance(table, dict):
        raise ConfigError(f'{path}: no [data.label_names] table; write label value = name under it, e.g. 1 = "anti-vax"')
    check_label_names(table, f"{path}: data.label_names")
    return dict(table)


def label_names_beside(data_path: str | Path) -> tuple[dict[str, str], Path] | None:
    """The class names in the ``labels.toml`` beside a table, and that file's path; None when there is none."""
    path = Path(data_path).parent / LABELS_FILE
    return (read_label_names(path), path) if path.is_file() else None
