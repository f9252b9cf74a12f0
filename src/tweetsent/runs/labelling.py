"""Labelling tweets in bounded memory: one chunk of text in, one Arrow table of predictions out.

    schema = prediction_schema(clf.classes_, names)
    table = label_chunk(clf, pa.array(["I got my flu shot", ""]), schema)   # 2 rows, the second empty=true

`tweetsent.runs.workflow.predict_file` (one file or stdin to CSV) and `tweetsent.runs.distributed`
(many files to Parquet, on Dask) both write these tables, so their rows are the same. A chunk is
scored `SCORE_BATCH` tweets at a time: the features of a batch (hashed n-grams are the biggest) are
what costs memory, so memory is bounded by that batch, whatever the chunk size or the input's length.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

__all__ = ["SCORE_BATCH", "label_chunk", "prediction_schema"]

SCORE_BATCH = 8192  # tweets featurised and scored at once: 4,096 was 30% slower (per-call costs), 16,384
# ~90 MiB higher for glove-ngrams (hashed character n-grams), 30,000 ~180 MiB higher


def prediction_schema(classes: Sequence, names: Sequence[str] | None) -> pa.Schema:
    """The columns of `predict`'s output: ``text``, ``label``, ``label_name`` (with ``names``, one per
    class), ``p_<class>`` for each class and ``empty``."""
    named = [("label_name", pa.large_string())] if names else []
    return pa.schema([("text", pa.large_string()), ("label", pa.array(np.asarray(classes)[:1]).type), *named,
                      *[(f"p_{c}", pa.float64()) for c in classes], ("empty", pa.bool_())])


def label_chunk(clf, texts: pa.Array, schema: pa.Schema, batch: int | None = None) -> pa.Table:
    """One row per tweet of ``texts``, in order, with the columns of ``schema`` (`prediction_schema`).

    A tweet that is empty or only whitespace is not guessed at: its label (and name) and
    probabilities are null and ``empty`` is true. Probabilities are rounded to 4 decimals.

    Parameters
    ----------
    clf : TweetClassifier
        The model; its ``classes_`` (and class names) are those ``schema`` was made from.
    texts : pyarrow.Array
        Strings (null counts as empty).
    schema : pyarrow.Schema
        The output's columns.
    batch : int, optional
        Tweets scored at once (memory grows with it, not with ``len(texts)``); default `SCORE_BATCH`.

    Returns
    -------
    pyarrow.Table
    """
    import pyarrow.compute as pc

    batch = batch or SCORE_BATCH
    classes = np.asarray(clf.classes_)
    names = schema.names[2] == "label_name"
    texts = texts.cast(pa.large_string())
    empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(texts), ""), True)
    blank = empty.to_numpy(zero_copy_only=False)  # (n,) bool
    kept = texts.filter(pc.invert(empty))
    proba = np.zeros((len(texts), len(classes)))  # empty rows keep these placeholders, masked to null below
    if len(kept):
        proba[~blank] = np.concatenate([clf.predict_proba(kept.slice(start, batch))
                                        for start in range(0, len(kept), batch)])
    best = proba.argmax(axis=1)
    columns = [texts, pa.array(classes[best], type=schema.field("label").type, mask=blank)]
    if names:
        columns.append(pa.array(np.asarray(clf.class_names_, dtype=object)[best], type=pa.large_string(), mask=blank))
    columns += [pa.array(np.round(proba[:, k], 4), type=pa.float64(), mask=blank) for k in range(len(classes))]
    columns.append(empty)
    return pa.Table.from_arrays(columns, schema=schema)
