"""Tokenizers that turn tweets into GloVe-6B-style tokens, a whole batch at a time.

    tokenize_batch(["Get your #FluShot now! https://t.co/x"])
    # [['get', 'your', '#', 'flu', 'shot', 'now', '!', 'url']]

GloVe 6B was trained on lower-cased Wikipedia and Gigaword text split by the Stanford tokenizer,
so the ``tweet`` tokenizer makes tweets look like that: HTML entities decoded, URLs become
``url``, @mentions ``@``, camel-cased words split (``#FluShot`` -> ``# flu shot``), letters split
from digits (``covid19`` -> ``covid 19``), punctuation, symbols and emoji stand alone, quotes are
split off and clitics separated as GloVe has them (``don't`` -> ``do n't``, ``it's`` -> ``it 's``).
The ``whitespace`` tokenizer is the study's: lower-case, split on whitespace.

Every step is one vectorised Arrow compute call (RE2 regular expressions) over the whole batch,
which is what lets featurisation run at well over 100,000 tweets per second. Arrow compiles each
pattern on every call (about 3 ms for the Unicode classes, 25 ms for all nine), so a small batch,
such as one request to ``tweetsent serve``, runs the same patterns through the ``regex`` module,
compiled once; the two paths give the same tokens (tested on every vaccine tweet and on generated
text).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc
import regex

from tweetsent.config.settings import TOKENIZERS
from tweetsent.util.meta import usable_cpus

__all__ = ["tokenize_arrow", "tokenize_batch", "tokenize", "normalize_for_encoder", "SMALL_BATCH"]


# Literal replacements first (cheaper than regular expressions): entities, typographic quotes.
_LITERAL = (("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'"),
            ("\u2018", "'"), ("\u2019", "'"), ("\u201c", '"'), ("\u201d", '"'), ("\u2026", "..."))
# (pattern, replacement) applied in order; patterns are RE2, run by Arrow.
_URL = r"(?:[Hh][Tt][Tt][Pp][Ss]?://|www\.)\S+"
_BEFORE_LOWER = (
    (_URL, " url "),
    (r"@[\pL\pN_]+", " @ "),
    # Camel case needs the capitals, so it runs before lower-casing.
    (r"(\p{Ll})(\p{Lu})", r"\1 \2"),
    (r"(\p{Lu})(\p{Lu}\p{Ll})", r"\1 \2"),
)
_AFTER_LOWER = (
    (r"(\pL)(\pN)", r"\1 \2"),
    (r"(\pN)(\pL)", r"\1 \2"),
    (r"([^\pL\pN\s'_])", r" \1 "),
    # An apostrophe at a word's edge is a quote; inside a word it belongs to a clitic.
    (r"(^|[^\pL\pN])'|'([^\pL\pN]|$)", r"\1 ' \2"),
    (r"([\pL\pN])(n't|'s|'re|'ve|'ll|'d|'m)\b", r"\1 \2"),
)
_LINK = re.compile(_URL)
# From this many tweets a batch is split across threads. Split from 20,000 up, `predict`'s chunks
# (30,000) labelled 1M tweets 10% faster on 2 cores but peaked 30 MB higher (two sets of the
# tokenizer's intermediate arrays at once), above its 500 MB goal; so they stay in one thread.
_PARALLEL_MIN = 32_768
# Below this many tweets the precompiled patterns beat Arrow's compile-per-call (crossover ~350).
SMALL_BATCH = 256


def _compiled(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[regex.Pattern, str], ...]:
    """The RE2 patterns for the ``regex`` module, with RE2's meaning kept where the two differ.

    RE2's ``\\s`` and ``\\S`` are ASCII whitespace, its ``\\b`` an ASCII word boundary and its ``$``
    the end of the text only; the ``regex`` module would read all three as Unicode (and ``$``
    also before a final newline).
    """
    rewrites = ((r"\S", r"[^\t\n\f\r ]"), (r"\s", r"\t\n\f\r "), (r"\b", r"(?![0-9A-Za-z_])"),
                ("|$)", r"|\Z)"))
    out = []
    for pattern, replacement in pairs:
        for re2, python in rewrites:
            pattern = pattern.replace(re2, python)
        out.append((regex.compile(pattern), replacement))
    return tuple(out)


_PY_BEFORE_LOWER = _compiled(_BEFORE_LOWER)
_PY_AFTER_LOWER = _compiled(_AFTER_LOWER)


def _as_arrow(texts: Sequence[str] | pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        return texts
    return pa.array(texts, type=pa.large_string())


def tokenize_arrow(texts: Sequence[str] | pa.Array | pa.ChunkedArray, tokenizer: str = "tweet") -> pa.ListArray:
    """Tokenise a batch into an Arrow list array: one list of tokens per tweet.

    Parameters
    ----------
    texts : sequence of str, or Arrow string array
        The tweets (no nulls).
    tokenizer : {"tweet", "whitespace"}
        Which rules to apply (see the module docstring).

    Returns
    -------
    pyarrow.ListArray
        ``result[i]`` holds the tokens of ``texts[i]``.
    """
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {tokenizer!r}; choose one of {', '.join(TOKENIZERS)}")
    arr = _as_arrow(texts)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    workers = min(usable_cpus(), 4)
    if workers > 1 and len(arr) >= _PARALLEL_MIN:
        # Arrow releases the GIL, so slices of the batch normalise in parallel threads.
        step = -(-len(arr) // workers)
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(lambda i: _tokens(arr.slice(i, step), tokenizer), range(0, len(arr), step)))
        return pa.concat_arrays(parts)
    return _tokens(arr, tokenizer)


def _tokens(arr: pa.Array, tokenizer: str) -> pa.ListArray:
    if tokenizer == "tweet" and len(arr) < SMALL_BATCH:
        return _tokens_small(arr)
    return _tokens_arrow(arr, tokenizer)


def _tokens_arrow(arr: pa.Array, tokenizer: str) -> pa.ListArray:
    if tokenizer == "tweet":
        for literal, replacement in _LITERAL:
            arr = pc.replace_substring(arr, literal, replacement)
        for pattern, replacement in _BEFORE_LOWER:
            arr = pc.replace_substring_regex(arr, pattern, replacement)
    arr = pc.utf8_lower(arr)
    if tokenizer == "tweet":
        for pattern, replacement in _AFTER_LOWER:
            arr = pc.replace_substring_regex(arr, pattern, replacement)
    return pc.utf8_split_whitespace(pc.utf8_trim_whitespace(arr))


def _tokens_small(arr: pa.Array) -> pa.ListArray:
    """`_tokens` for a few tweets: the same steps, the patterns run by the ``regex`` module.

    Lower-casing, trimming and splitting stay in Arrow (they compile nothing), so only the regular
    expressions change engine.
    """
    texts = []
    for text in arr.to_pylist():
        for literal, replacement in _LITERAL:
            text = text.replace(literal, replacement)
        for pattern, replacement in _PY_BEFORE_LOWER:
            text = pattern.sub(replacement, text)
        texts.append(text)
    texts = pc.utf8_lower(pa.array(texts, type=pa.large_string())).to_pylist()
    for i, text in enumerate(texts):
        for pattern, replacement in _PY_AFTER_LOWER:
            text = pattern.sub(replacement, text)
        texts[i] = text
    return pc.utf8_split_whitespace(pc.utf8_trim_whitespace(pa.array(texts, type=pa.large_string())))


def tokenize_batch(texts: Sequence[str], tokenizer: str = "tweet") -> list[list[str]]:
    """Tokens of each tweet, as Python lists (a readable view of `tokenize_arrow`)."""
    if len(texts) == 0:
        return []
    return [[t for t in tweet if t] for tweet in tokenize_arrow(texts, tokenizer).to_pylist()]


def tokenize(text: str, tokenizer: str = "tweet") -> list[str]:
    """Tokens of one tweet."""
    return tokenize_batch([text], tokenizer)[0]


def normalize_for_encoder(texts: Sequence[str]) -> list[str]:
    """Tweets as a wordpiece encoder should read them: HTML entities decoded, each link ``http``.

    A t.co link is about 15 wordpieces of noise (``http : / / t . co / xb ##p ...``); on the
    vaccine training tweets this cuts the mean length from 37.5 to 30.7 wordpieces at most 64.
    Case, mentions, hashtags and emoji are left to the encoder's own tokenizer.
    """
    return [_LINK.sub("http", html.unescape(t)) for t in texts]
