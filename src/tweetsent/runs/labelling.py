"""Labelling tweets in bounded memory: one chunk of text in, one Arrow table of predictions out.

    schema = prediction_schema(clf.classes_, names)
    table = label_chunk(clf, pa.array(["I got my flu shot", ""]), schema)   # 2 rows, the second empty=true

`tweetsent.runs.workflow.predict_file` (one file or stdin to CSV) and `tweetsent.runs.distributed`
(many files to Parquet, on Dask) both write these tables, so their rows are the same. Memory is
bounded by the chunk and by the model, which featurises a bounded batch at a time
(`tweetsent.features.featurizer.FEATURE_BATCH` tweets for the networks), whatever the input's length.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

__all__ = ["label_chunk", "prediction_schema"]


def prediction_schema(classes: Sequence, names: Sequence[str] | None) -> pa.Schema:
    """The columns of `predict`'s output: ``text``, ``label``, ``label_name`` (with ``names``, one per
    class), ``p_<class>`` for each class and ``empty``."""
    named = [("label_name", pa.large_string())] if names else []
    return pa.schema([("text", pa.large_string()), ("label", pa.array(np.asarray(classes)[:1]).type), *named,
                      *[(f"p_{c}", pa.float64()) for c in classes], ("empty", pa.bool_())])


def label_chunk(clf, texts: pa.Array, schema: pa.Schema) -> pa.Table:
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

    Returns
    -------
    pyarrow.Table
    """
    import pyarrow.compute as pc

    classes = np.asarray(clf.classes_)
    names = schema.names[2] == "label_name"
    texts = texts.cast(pa.large_string())
    empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(texts), ""), True)
    blank = empty.to_numpy(zero_copy_only=False)  # (n,) bool
    kept = texts.filter(pc.invert(empty))
    proba = np.zeros((len(texts), len(classes)))  # empty rows keep these placeholders, masked to null below
    if len(kept):
        proba[~blank] = clf.predict_proba(kept)
    best = proba.argmax(axis=1)
    columns = [texts, pa.array(classes[best], type=schema.field("label").type, mask=blank)]
    if names:
        columns.append(pa.array(np.asarray(clf.class_names_, dtype=object)[best], type=pa.large_string(), mask=blank))
    columns += [pa.array(np.round(proba[:, k], 4), type=pa.float64(), mask=blank) for k in range(len(classes))]
    columns.append(empty)
    return pa.Table.from_arrays(columns, schema=schema)
