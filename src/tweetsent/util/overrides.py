"""``section.key=value`` settings as ``--set`` takes them: the value read as TOML, a bare word as text.

    parse_setting("train.lr=1e-3")          # ("train", "lr", 0.001)
    parse_value("[64, 32]"), parse_value("radam")   # [64, 32], "radam"

One reading for every place that takes ``--set``: run configs and search spaces.
"""

from __future__ import annotations

import tomllib

from tweetsent.errors import ConfigError

__all__ = ["parse_setting", "parse_value"]


def parse_value(text: str):
    """``text`` as a TOML value (``1e-3``, ``[64, 32]``, ``true``, ``"quoted"``), or as itself when it
    is not one (a bare word such as ``radam`` is a string)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_setting(item: str, example: str = "train.lr=1e-3") -> tuple[str, str, object]:
    """Split a ``section.key=value`` setting and read its value with `parse_value`.

    Parameters
    ----------
    item : str
        e.g. ``"train.lr=1e-3"``; spaces around the key and the value are ignored.
    example : str
        Shown in the error message as a setting written right.

    Returns
    -------
    (str, str, object)
        Section, key within it (everything after the first dot) and value. Neither name is checked here.

    Raises
    ------
    ConfigError
        When there is no ``=`` or the key has no section.
    """
    key, sep, raw = item.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot:
        raise ConfigError(f"--set {item!r}: write section.key=value, e.g. {example}")
    return section, name, parse_value(raw.strip())
