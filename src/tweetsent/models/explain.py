"""Why a tweet got its label: each token's contribution to each class's probability, by occlusion.

    explain(clf, ["vaccines are poison"])   # [{"text", "label", "proba", "tokens": [{"token", "start", "end", "contributions"}]}]
    top_ngrams(clf, train_texts, n=15)      # softmax over n-grams: {class: [(ngram, weight), ...]}

A token's contribution to class c is p_c(tweet) - p_c(tweet without that token): positive when the
token raises the class's probability. The tweet without the token is the original text with the
token's characters replaced by a space, so it goes through the model's own tokenizer and features
exactly as any tweet does; every occluded variant of every tweet is scored in one `predict_proba`
call. This is exact for every model kind, since it only asks the estimator for probabilities.

Tokens are those the model reads (`tweetsent.data.text` with ``features.tokenizer``), with character
offsets into the original text so a page can highlight them; the fine-tuned encoder (which reads
wordpieces) and ensembles whose members tokenize differently are explained word by word
(whitespace-separated words).

``method="integrated-gradients"`` attributes the fine-tuned encoder by integrated gradients on its
input word embeddings instead (`tweetsent.models.gradients`, Captum), in the same unit and on the
same words; an ensemble then combines its members' attributions with its weights (integrated
gradients for encoder members, occlusion for the others). ``"auto"`` is occlusion for every kind:
on 100 vaccine validation tweets, removing the encoder's top 1, 3 or 20% of words by occlusion
lowers the predicted class's probability 0.06 to 0.08 more than by integrated gradients; for
``best`` the two are within 0.015 of each other; and occlusion is about 13 times faster (0.7 s a
tweet against 9.7 s on a loaded 2-core CPU; BENCHMARKS.md, "Explanations").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from tweetsent.data.text import tokenize_batch
from tweetsent.errors import DataError, ModelError

__all__ = ["explain", "top_ngrams", "segment", "WORDS", "METHODS"]

WORDS = "words"  # the segmentation of the fine-tuned encoder: whitespace-separated words, as written
OCCLUSION, GRADIENTS = "occlusion", "integrated-gradients"
METHODS = ("auto", OCCLUSION, GRADIENTS)
AUTO = OCCLUSION  # for the encoder too: more comprehensive than integrated gradients, 13x cheaper (BENCHMARKS.md)

_WORD = re.compile(r"\S+")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
# Tokens the tweet tokenizer writes differently from the text (HTML entities, the ellipsis).
_REWRITTEN = {"&": ("&amp;",), "<": ("&lt;",), ">": ("&gt;",), '"': ("&quot;", "\u201c", "\u201d"),
              "'": ("&#39;", "\u2018", "\u2019"), "...": ("\u2026",)}
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def _tokenizer_of(clf) -> str:
    """``features.tokenizer`` of the model, or `WORDS` for the encoder and mixed ensembles."""
    members = getattr(clf.model_, "members_", None)
    if members:
        kinds = {_tokenizer_of(m) for m in members}
        return kinds.pop() if len(kinds) == 1 else WORDS
    if clf.config_.model.kind == "finetune":
        return WORDS
    return clf.config_.features.tokenizer


def _searchable(word: str) -> str:
    """``word`` lower-cased character by character (same length) with typographic quotes made plain."""
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in word).translate(_QUOTES)


def _align(word: str, tokens: list[str]) -> list[tuple[int, int]]:
    """Character spans of ``tokens`` (the tweet tokenizer's output for ``word``) inside ``word``."""
    low, spans, cursor = _searchable(word), [], 0
    for token in tokens:
        match = None
        if token == "url":
            match = _URL.search(word, cursor)
        elif token == "@":
            match = _MENTION.search(word, cursor)
        if match is not None:
            start, end = match.span()
        else:
            found = [(low.find(c, cursor), -len(c)) for c in (token, *_REWRITTEN.get(token, ()))]
            found = [f for f in found if f[0] >= 0]
            if found:
                start, neg = min(found)
                end = start - neg
            else:  # rewritten beyond recognition: the next character stands for it
                start = min(cursor, len(word) - 1)
                end = start + 1
        spans.append((start, end))
        cursor = max(cursor, end)
    return spans


def segment(texts: Sequence[str], tokenizer: str = "tweet") -> list[list[tuple[str, int, int]]]:
    """Each tweet's tokens with their character spans: ``[(token, start, end), ...]`` per tweet.

    Parameters
    ----------
    texts : sequence of str
        The tweets.
    tokenizer : {"tweet", "whitespace", "words"}
        A `tweetsent.data.text` tokenizer, or `WORDS` (whitespace-separated words as written).

    Returns
    -------
    list of list of (str, int, int)
        ``texts[i][start:end]`` is where the token comes from (for the tweet tokenizer, the text it
        was normalised from: ``url`` spans the whole link, ``@`` the whole mention).
    """
    words = [[(m.group(), m.start()) for m in _WORD.finditer(text)] for text in texts]
    if tokenizer == WORDS:
        return [[(w, s, s + len(w)) for w, s in tweet] for tweet in words]
    # The tokenizers never join across whitespace, so a word's tokens are the text's tokens there.
    flat = tokenize_batch([w for tweet in words for w, _ in tweet], tokenizer)
    out, i = [], 0
    for tweet in words:
        tokens = []
        for word, start in tweet:
            if tokenizer == "tweet":
                tokens += [(t, start + a, start + b) for t, (a, b) in zip(flat[i], _align(word, flat[i]))]
            else:
                tokens += [(t, start, start + len(word)) for t in flat[i]]
            i += 1
        out.append(tokens)
    return out


def _occluded(text: str, start: int, end: int) -> str:
    return f"{text[:start]} {text[end:]}"


def _has_encoder(clf) -> bool:
    """Whether the model is the fine-tuned encoder or an ensemble with one among its members."""
    members = getattr(clf.model_, "members_", None)
    if members:
        return any(_has_encoder(m) for m in members)
    return clf.config_.model.kind == "finetune"


def _kind(clf) -> str:
    return "ensemble" if getattr(clf.model_, "members_", None) else clf.config_.model.kind


def _method(clf, method: str) -> str:
    """The attribution ``method`` resolves to for this model (`OCCLUSION` or `GRADIENTS`)."""
    if method not in METHODS:
        raise ModelError(f"explanation method {method!r} is not one of: {', '.join(METHODS)}")
    if method == "auto":
        return AUTO if _has_encoder(clf) else OCCLUSION
    if method == GRADIENTS and not _has_encoder(clf):
        raise ModelError(f"integrated gradients need the fine-tuned encoder (model.kind = \"finetune\") or an "
                         f"ensemble with one; this model is {_kind(clf)!r}: explain it by occlusion "
                         f"(method \"occlusion\", --method occlusion)")
    return method


def _occlusion(clf, texts: list[str], spans: list) -> tuple[np.ndarray, list[np.ndarray]]:
    """(n, n_classes) probabilities and, per tweet, (n_tokens, n_classes) ``p_c(tweet) - p_c(without token)``."""
    variants = [_occluded(text, s, e) for text, tokens in zip(texts, spans) for _, s, e in tokens]
    proba = clf.predict_proba(texts + variants).astype(np.float64)  # (n + n_tokens, n_classes)
    base, occluded = proba[:len(texts)], proba[len(texts):]
    bounds = np.cumsum([0] + [len(tokens) for tokens in spans])
    return base, [base[i] - occluded[bounds[i]:bounds[i + 1]] for i in range(len(texts))]


def _gradients(clf, texts: list[str], spans: list, n_steps: int | None) -> list[np.ndarray]:
    """Integrated gradients of an encoder; an ensemble's members' attributions (integrated gradients for
    encoders, occlusion for the others) weighted by the ensemble's weights."""
    from tweetsent.models.gradients import N_STEPS, integrated_gradients

    members = getattr(clf.model_, "members_", None)
    if not members:
        if not _has_encoder(clf):
            return _occlusion(clf, texts, spans)[1]
        return integrated_gradients(clf, texts, spans, N_STEPS if n_steps is None else n_steps)[0]
    total = [np.zeros((len(tokens), len(clf.classes_))) for tokens in spans]
    for weight, member in zip(clf.model_.weights_, members):
        if weight:
            for sum_, part in zip(total, _gradients(member, texts, spans, n_steps)):
                sum_ += weight * part
    return total


def explain(clf, texts: Sequence[str], k: int | None = None, method: str = "auto",
            n_steps: int | None = None) -> list[dict]:
    """Each tweet's predicted label and probabilities, and each token's contribution to every class.

    By occlusion, the contribution of a token to class c is ``p_c(tweet) - p_c(tweet without the
    token)``: exact, computed by the estimator's own `predict_proba` (temperature and tuned
    thresholds included). For an ensemble, the occluded tweets go through the ensemble's
    `predict_proba`, which is the weighted mean of its members' probabilities, so the
    contributions are the members' contributions combined with the ensemble's weights by
    construction. By integrated gradients (the fine-tuned encoder, `tweetsent.models.gradients`),
    it is the word's share of ``p_c(tweet) - p_c(reference)``, the reference being the tweet with
    every word's wordpieces ``[PAD]``; an ensemble weights its members' attributions.

    Parameters
    ----------
    clf : TweetClassifier
        A fitted classifier of any kind.
    texts : sequence of str
        The tweets; none may be empty or only whitespace.
    k : int, optional
        Keep only the ``k`` tokens with the largest absolute contribution to the predicted class
        (still in text order); None keeps every token.
    method : {"auto", "occlusion", "integrated-gradients"}
        ``"auto"`` is occlusion (`AUTO`, for every kind: the measured choice, BENCHMARKS.md);
        ``"integrated-gradients"`` needs the fine-tuned encoder (alone or in an ensemble) and
        Captum (``pip install 'tweetsent[explain]'``).
    n_steps : int, optional
        Integrated gradients: points on the path (default `tweetsent.models.gradients.N_STEPS`).

    Returns
    -------
    list of dict
        Per tweet: ``{"text", "label", "label_name", "proba": {class: p}, "tokens": [{"token", "start", "end",
        "contributions": {class: delta}}]}``; classes are keys as strings, ``label`` the class value,
        ``label_name`` its name (``data.label_names``, else the value as text)
        and ``text[start:end]`` the token's characters. Both methods give the same tokens.
    """
    texts = [str(t) for t in texts]
    for i, text in enumerate(texts):
        if not text.strip():
            raise DataError(f"tweet {i + 1} is empty; give text with at least one word to explain")
    method = _method(clf, method)
    spans = segment(texts, _tokenizer_of(clf))
    if method == OCCLUSION:
        base, deltas = _occlusion(clf, texts, spans)
    else:
        base, deltas = clf.predict_proba(texts).astype(np.float64), _gradients(clf, texts, spans, n_steps)
    names = [str(c) for c in clf.classes_]
    out = []
    for i, (text, tokens) in enumerate(zip(texts, spans)):
        delta = deltas[i]  # (n_tokens, n_classes)
        top = int(base[i].argmax())
        keep = range(len(tokens))
        if k is not None:
            keep = sorted(np.argsort(-np.abs(delta[:, top]), kind="stable")[:k].tolist())
        out.append({
            "text": text, "label": clf.classes_[top], "label_name": getattr(clf, "class_names_", names)[top],
            "proba": dict(zip(names, base[i].tolist())),
            "tokens": [{"token": tokens[j][0], "start": tokens[j][1], "end": tokens[j][2],
                        "contributions": dict(zip(names, delta[j].tolist()))} for j in keep],
        })
    return out


def top_ngrams(clf, texts: Sequence[str], n: int = 15) -> dict[str, list[tuple[str, float]]]:
    """The word n-grams with the largest weight per class, for a softmax regression over n-grams.

    Hashed features cannot be turned back into n-grams, so the candidates are the word n-grams
    occurring in ``texts`` (say, the training tweets), hashed as the model hashes them. An
    n-gram's weight for class c is its row of the linear layer, times its IDF when the model
    weights by TF-IDF, centred over the classes (adding a constant to every class changes no
    probability): how much one occurrence raises class c's score against the others. Character
    n-grams share the hash buckets, so a bucket's weight also holds any n-gram colliding with it.

    Parameters
    ----------
    clf : TweetClassifier
        Fitted, ``model.kind = "softmax"`` with ``ngrams`` in ``features.input``.
    texts : sequence of str
        Where to collect candidate n-grams.
    n : int
        N-grams per class.

    Returns
    -------
    dict
        ``{class (str): [(ngram, weight), ...]}``, largest weight first.
    """
    from sklearn.feature_extraction.text import HashingVectorizer

    model = clf.model_
    hasher = getattr(getattr(model, "featurizer_", None), "hasher", None)
    if clf.config_.model.kind != "softmax" or hasher is None or hasher.word_ngrams[1] == 0:
        raise ModelError(f"top n-grams need a softmax regression over word n-grams (model.kind = \"softmax\", "
                         f"features.input with ngrams); this model is {clf.config_.model.kind!r} over "
                         f"{clf.config_.features.input!r}: use explain for its tweets instead")
    analyze = HashingVectorizer(ngram_range=hasher.word_ngrams, token_pattern=r"\S+", lowercase=False).build_analyzer()
    ngrams = sorted({g for tokens in tokenize_batch(list(texts), hasher.tokenizer) for g in analyze(" ".join(tokens))})
    if not ngrams:
        return {str(c): [] for c in clf.classes_}
    one = HashingVectorizer(analyzer=lambda s: [s], n_features=hasher.n_features, alternate_sign=False, norm=None)
    rows = one.transform(ngrams).indices  # one bucket per n-gram
    weight = model.net_.input.sparse.weight.detach().cpu().numpy()[rows].astype(np.float64)  # (n_ngrams, n_classes)
    if hasher.idf_ is not None:
        weight *= hasher.idf_[rows, None]
    weight -= weight.mean(axis=1, keepdims=True)
    return {str(c): [(ngrams[j], float(weight[j, col])) for j in np.argsort(-weight[:, col], kind="stable")[:n]]
            for col, c in enumerate(clf.classes_)}
