"""The run log's filter language, parsed here and evaluated in Python over run records.

    keep = compile_filter("f1_macro>0.7 and optimizer=radam", records); rows = [r for r in records if keep(r)]

Keys name a run record's fields, metrics and config settings as `tweetsent.runlog.records`
resolves them (``optimizer`` -> ``train.optimizer``); sorting lives there too. The text never
reaches SQL or ``eval``.

Grammar (``and`` binds tighter than ``or``; keywords are case-insensitive)::

    expr   := conj ("or" conj)*
    conj   := atom ("and" atom)*
    atom   := "(" expr ")" | KEY OP VALUE
    OP     := "=" | "==" | "!=" | ">" | ">=" | "<" | "<="
    VALUE  := number | bare-word | 'quoted' | "quoted"
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tweetsent.errors import ConfigError

# Re-exported: these lived here before tweetsent.runlog.records was split off, and stay importable.
from tweetsent.runlog.records import (
    FIELDS,
    STANDARD_METRICS,
    KeySpace,
    flatten,
    scalar_metrics,
    sort_records,
    value_text,
)

__all__ = [
    "FIELDS",
    "STANDARD_METRICS",
    "BoolOp",
    "Comparison",
    "KeySpace",
    "compile_filter",
    "flatten",
    "parse_filter",
    "scalar_metrics",
    "sort_records",
    "value_text",
]

_OPS = ("==", "!=", ">=", "<=", "=", ">", "<")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
# A bare word runs until whitespace, a parenthesis, an operator character or a quote.
_WORD = re.compile(r"[^\s()=!<>'\"]+")


@dataclass(frozen=True)
class Comparison:
    """One ``key op value`` test; ``pos`` is the 0-based offset of the key in the filter text."""

    key: str
    op: str
    value: str
    quoted: bool
    pos: int


@dataclass(frozen=True)
class BoolOp:
    """``and`` / ``or`` over two or more sub-trees."""

    op: str
    items: tuple


class _Syntax(Exception):
    """A filter that does not parse; carries the offset so the message can point at it."""

    def __init__(self, pos: int, message: str):
        super().__init__(message)
        self.pos = pos


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """Split a filter into (kind, text, offset) tokens; kinds: ( ) op word quoted and or end."""
    tokens, i = [], 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append((char, char, i))
            i += 1
        elif char in "=!<>":
            op = next((op for op in _OPS if text.startswith(op, i)), None)
            if op is None:
                raise _Syntax(i, f"'{char}' is not an operator; use one of = != > >= < <=")
            tokens.append(("op", op, i))
            i += len(op)
        elif char in "'\"":
            end = text.find(char, i + 1)
            if end < 0:
                raise _Syntax(i, f"unterminated string starting with {char}")
            tokens.append(("quoted", text[i + 1 : end], i))
            i = end + 1
        else:
            word = _WORD.match(text, i).group()
            kind = word.lower() if word.lower() in ("and", "or") else "word"
            tokens.append((kind, word, i))
            i += len(word)
    tokens.append(("end", "", len(text)))
    return tokens


class _Parser:
    """Recursive descent over the token list; one method per grammar rule."""

    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self):
        return self.tokens[self.at]

    def take(self, kind: str, what: str):
        token = self.tokens[self.at]
        if token[0] != kind:
            found = "the end" if token[0] == "end" else f"'{token[1]}'"
            raise _Syntax(token[2], f"expected {what}, found {found}")
        self.at += 1
        return token

    def expr(self):
        items = [self.conj()]
        while self.peek()[0] == "or":
            self.at += 1
            items.append(self.conj())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def conj(self):
        items = [self.atom()]
        while self.peek()[0] == "and":
            self.at += 1
            items.append(self.atom())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def atom(self):
        if self.peek()[0] == "(":
            self.at += 1
            inner = self.expr()
            self.take(")", "')'")
            return inner
        _, key, pos = self.take("word", "a key such as f1_macro or a '('")
        _, op, _ = self.take("op", f"an operator (= != > >= < <=) after '{key}'")
        kind, value, vpos = self.peek()
        if kind not in ("word", "quoted"):
            raise _Syntax(vpos, f"expected a value after '{key}{op}'")
        self.at += 1
        return Comparison(key, "=" if op == "==" else op, value, kind == "quoted", pos)


def parse_filter(text: str):
    """Parse a filter into a tree of ``BoolOp`` and ``Comparison`` nodes.

    Raises
    ------
    ConfigError
        Naming the 1-based column where parsing failed.
    """
    try:
        return _parse(text)
    except _Syntax as exc:
        raise ConfigError(_where_message(text, exc.pos, str(exc))) from None


def _parse(text: str):
    parser = _Parser(text)
    if parser.peek()[0] == "end":
        raise _Syntax(0, "the filter is empty")
    tree = parser.expr()
    parser.take("end", "'and', 'or' or the end")
    return tree


def _where_message(text: str, pos: int, message: str, keys: list[str] | None = None) -> str:
    tail = f"; valid keys: {', '.join(keys)}" if keys else ""
    here = f"'{text[pos : pos + 12]}'" if text[pos:].strip() else "the end"
    return f"--where '{text}': column {pos + 1} (at {here}): {message}{tail}"


def compile_filter(text: str, records: Iterable[dict]) -> Callable[[dict], bool]:
    """Parse ``text`` and bind its keys against the keys that ``records`` offer.

    Parameters
    ----------
    text : str
        e.g. ``"f1_macro>0.7 and (optimizer=radam or optimizer=adam)"``.
    records : iterable of dict
        The run records the filter will run over (their keys are the valid ones).

    Returns
    -------
    callable
        ``record -> bool``. A run that lacks a key never matches a comparison on it.

    Raises
    ------
    ConfigError
        On a syntax error or unknown key: names the column and lists the valid keys.
    """
    space = KeySpace(records)
    try:
        tree = _parse(text)
    except _Syntax as exc:
        raise ConfigError(_where_message(text, exc.pos, str(exc), space.valid())) from None
    return _bind(tree, space, text)


def _bind(node, space: KeySpace, text: str):
    if isinstance(node, BoolOp):
        parts = [_bind(item, space, text) for item in node.items]
        if node.op == "and":
            return lambda record: all(part(record) for part in parts)
        return lambda record: any(part(record) for part in parts)
    get = space.getter(node.key)
    if get is None:
        raise ConfigError(_where_message(text, node.pos, f"unknown key '{node.key}'", space.valid()))
    return lambda record: _compare(get(record), node)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _compare(actual, test: Comparison) -> bool:
    if actual is None:
        return False
    op = test.op
    if isinstance(actual, bool):
        # starred=yes, starred=1 and starred=true all mean the same.
        word = test.value.lower()
        if word in _TRUE | _FALSE:
            a, b = int(actual), int(word in _TRUE)
            return _apply(op, a, b, numeric=True)
    number = None if test.quoted else _number(test.value)
    if number is not None and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        return _apply(op, float(actual), number, numeric=True)
    return _apply(op, value_text(actual), test.value, numeric=False)


def _apply(op: str, a, b, numeric: bool) -> bool:
    if op in ("=", "!="):
        # lr=2e-4 must match a stored 0.00019999999999999998 written by float arithmetic.
        same = math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) if numeric else a == b
        return same if op == "=" else not same
    return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


