"""Reading labelled tables, and the one-line errors for bad ones."""

import json

import pandas as pd
import pytest

from tweetsent.data.tables import check_compatible, iter_text_chunks, read_dataset
from tweetsent.errors import DataError


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_every_format_reads_the_same(tmp_path, corpus_frames, suffix):
    frame = corpus_frames[0]
    path = tmp_path / f"t{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    ds = read_dataset(path)
    assert ds.texts == frame["tweet"].tolist()
    assert ds.labels.tolist() == frame["label"].tolist() and ds.classes == [0, 1, 2]


def test_text_column_found_or_named_and_string_labels(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"id": [1, 2, 3], "text": ["null", "NA", "b"], "stance": ["pro", "anti", "pro"]}).to_csv(path, index=False)
    ds = read_dataset(path, label_column="stance")
    assert ds.text_column == "text" and ds.texts == ["null", "NA", "b"]  # no NA guessing
    assert ds.classes == ["anti", "pro"]


def _write(tmp_path, text: str, name="bad.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("content, message", [
    ("id,body,label\n1,a,0\n2,b,1\n", "no text column (looked for tweet, text, content, sentence); columns found: id, body, label"),
    ("tweet,stance\na,0\nb,1\n", "no label column 'label'; columns found: tweet, stance"),
    ("tweet,label\na,0\n ,1\nc,1\n", "empty tweet in row 2 (line 3) of column 'tweet'"),
    ("tweet,label\na,0\nb,\nc,1\n", "has no label in row 2 (line 3)"),
    ("tweet,label\na,0\nb,0\n", "every tweet has the label 0; a classifier needs at least two classes"),
    ("", "the file is empty"),
])
def test_bad_tables_name_the_problem(tmp_path, content, message):
    path = _write(tmp_path, content)
    with pytest.raises(DataError) as err:
        read_dataset(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_missing_file_and_non_utf8(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_dataset(tmp_path / "nope.csv")
    path = tmp_path / "latin.csv"
    path.write_bytes("tweet,label\ncaf\xe9,0\nb,1\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8 .* iconv"):
        read_dataset(path)
    with pytest.raises(DataError, match="unknown file type '.xls'"):
        read_dataset(_write(tmp_path, "x", "t.xls"))


def test_validation_labels_the_training_file_lacks(tmp_path):
    train = read_dataset(_write(tmp_path, "tweet,label\na,0\nb,1\n", "train.csv"))
    val = read_dataset(_write(tmp_path, "tweet,label\na,0\nb,2\nc,3\n", "val.csv"))
    with pytest.raises(DataError, match=r"val.csv: label\(s\) 2, 3 do not occur in .*train.csv"):
        check_compatible(train, val)


def test_chunks_stream_csv_jsonl_and_parquet(tmp_path):
    frame = pd.DataFrame({"text": [f"tweet {i}" for i in range(25)]})
    for suffix in (".csv", ".jsonl", ".parquet"):
        path = tmp_path / f"big{suffix}"
        if suffix == ".csv":
            frame.to_csv(path, index=False)
        elif suffix == ".jsonl":
            path.write_text("\n".join(json.dumps(r) for r in frame.to_dict("records")))
        else:
            frame.to_parquet(path)
        chunks = list(iter_text_chunks(path, chunk_size=10))
        assert [len(c) for c in chunks] == [10, 10, 5]
        assert sum((c.to_pylist() for c in chunks), []) == frame["text"].tolist()
