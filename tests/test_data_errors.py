"""Bad input tables (issue 14): one `DataError` that names the file and the true place, never a traceback.

Rows are counted below the header and located by the physical line they start on, which differs
from "row + 1" as soon as a quoted tweet spans several lines. `data.empty = "drop"` leaves empty
tweets out and counts them. `iter_text_chunks` keeps one item per input row, so that `predict`'s
output lines up with its input.
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import VACCINE, _corpus
from tweetsent.data.tables import check_compatible, iter_text_chunks, read_dataset
from tweetsent.errors import ConfigError, DataError

# Two multi-line tweets push every later row off "row + 1": row 3 starts on line 7, row 4 on line 8.
MULTILINE = 'tweet,label\n"two\nlines",0\n"three\nline\ntweet",1\n{third},2\n{fourth},{label}\n'


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def _error(path, **kwargs) -> str:
    with pytest.raises(DataError) as err:
        read_dataset(path, **kwargs)
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    return message


def _chunks(path, **kwargs) -> list[str]:
    return sum((chunk.to_pylist() for chunk in iter_text_chunks(path, **kwargs)), [])


def _chunks_error(path, **kwargs) -> str:
    with pytest.raises(DataError) as err:
        _chunks(path, **kwargs)
    assert str(path) in str(err.value)
    return str(err.value)


# ------------------------------------------------------------------ a header and no rows


@pytest.mark.parametrize("name, content", [
    ("h.csv", "tweet,label\n"), ("h.tsv", "tweet\tlabel\n"), ("crlf.csv", "tweet,label\r\n\r\n"),
])
def test_a_header_without_rows_is_a_data_error(tmp_path, name, content):
    path = _write(tmp_path / name, content)
    assert "no rows; the file has a header (tweet, label) but no tweets below it" in _error(path)
    assert "no rows" in _error(path, require_labels=False)
    # predict writes a header-only file; a blank line is an empty tweet there, so that rows line up.
    assert _chunks(path) == ([""] if content.endswith("\n\r\n") else [])


def test_a_parquet_file_without_rows_is_a_data_error(tmp_path):
    path = tmp_path / "h.parquet"
    pd.DataFrame({"tweet": pd.Series([], dtype=str), "label": pd.Series([], dtype=int)}).to_parquet(path)
    assert "no rows" in _error(path)


def test_a_jsonl_file_without_objects_is_empty(tmp_path):
    path = _write(tmp_path / "e.jsonl", "\n  \n")
    assert "the file is empty; it needs one JSON object per tweet" in _error(path)


# ------------------------------------------------------------------ malformed JSONL, unreadable files


def test_malformed_jsonl_names_the_physical_line(tmp_path):
    path = _write(tmp_path / "bad.jsonl", '{"tweet": "a", "label": 0}\n\n{"tweet": "b", "label": 1}\nnot json\n')
    assert "line 4 is not JSON (Expecting value at column 1)" in _error(path)
    assert "line 4 is not JSON" in _chunks_error(path)  # predict: it used to be a ValueError traceback
    path = _write(tmp_path / "list.jsonl", '["a", 0]\n')
    assert "line 1 holds a JSON array, not an object" in _error(path)
    assert "line 2 holds a JSON null, not an object" in _error(_write(tmp_path / "null.jsonl", '{"tweet": "a"}\nnull\n'))
    path = _write(tmp_path / "deep.jsonl", "[" * 100_000 + "\n")
    assert "line 1 is JSON nested too deeply" in _error(path)


@pytest.mark.parametrize("name", ["t.csv", "t.tsv", "t.jsonl"])
def test_an_unreadable_file_is_a_data_error(tmp_path, monkeypatch, name):
    path = tmp_path / name
    pd.DataFrame({"tweet": ["a", "b"], "label": [0, 1]}).to_csv(path, index=False)
    real_open = builtins.open

    def _denied(file, *args, **kwargs):  # tests run as root, whom chmod 000 does not stop
        if str(file) == str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", _denied)
    assert "cannot read it (permission denied)" in _error(path)
    assert "cannot read it (permission denied)" in _chunks_error(path)


def test_an_unreadable_parquet_file_is_a_data_error(tmp_path, monkeypatch):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"tweet": ["a", "b"], "label": [0, 1]}).to_parquet(path)

    def _denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(pd, "read_parquet", _denied)
    assert "cannot read it (permission denied)" in _error(path)


# ------------------------------------------------------------------ bytes that are not UTF-8


def _latin1_at_1219() -> bytes:
    """A CSV whose first bad byte is at offset 1219, on physical line 11 (row 6: tweets span lines)."""
    rows = [b'"a tweet\nover two lines",0', b"plain,1", b'"three\nlines\nhere",2', b"x,0", b'"y\ny",1']
    head = b"tweet,label\n" + b"\n".join(rows) + b"\n"
    assert head.count(b"\n") == 10  # so the next row starts on line 11
    return head + b"f" * (1219 - len(head) - 3) + b"caf\xe9,0\nlast,1\n"


def test_a_bad_byte_is_reported_at_its_true_offset_and_line(tmp_path):
    # The case: the byte at offset 1,219 on line 11 was reported as "offset 3".
    path = _write(tmp_path / "latin.csv", _latin1_at_1219())
    assert path.read_bytes().index(b"\xe9") == 1219
    message = "not UTF-8 text (bad byte 0xe9 at offset 1219, line 11); re-encode it, e.g. iconv -f latin1 -t utf-8"
    assert message in _error(path)
    assert message in _chunks_error(path)
    big = b"tweet,label\n" + b"ok,0\n" * 300_000 + b"caf\xe9,1\n"  # beyond the first block of every reader
    path = _write(tmp_path / "big.csv", big)
    assert f"at offset {big.index(bytes([0xE9]))}, line 300002)" in _error(path)
    crlf = b"tweet,label\r\n" + b"ok,0\r\n" * 300_000 + b"\r\ncaf\xe9,1\r\n"  # no \r\n split is counted twice
    path = _write(tmp_path / "crlf.csv", crlf)
    assert f"at offset {crlf.index(bytes([0xE9]))}, line 300003)" in _error(path)


def test_bad_bytes_in_jsonl_and_stdin_and_utf16(tmp_path, monkeypatch):
    data = b'{"tweet": "a", "label": 0}\n\n{"tweet": "caf\xe9", "label": 1}\n'
    path = _write(tmp_path / "t.jsonl", data)
    assert f"bad byte 0xe9 at offset {data.index(bytes([0xE9]))}, line 3" in _error(path)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"fine\ncaf\xe9\n"), encoding="utf-8", newline="\n"))
    with pytest.raises(DataError, match=r"standard input: not UTF-8 text \(bad byte 0xe9 at offset 8, line 2\)"):
        _chunks("-")
    path = _write(tmp_path / "u16.csv", "tweet,label\na,0\nb,1\n".encode("utf-16"))
    assert "iconv -f utf-16 -t utf-8" in _error(path)


# ------------------------------------------------------------------ rows located by their physical line


def test_rows_are_named_with_the_line_they_start_on(tmp_path):
    path = _write(tmp_path / "t.csv", MULTILINE.format(third=" ", fourth="four", label="0"))
    assert "empty tweet in row 3 (line 7) of column 'tweet'" in _error(path)
    path = _write(tmp_path / "t.csv", MULTILINE.format(third="three", fourth="four", label=""))
    assert "column 'label' has no label in row 4 (line 8)" in _error(path)
    ds = read_dataset(_write(tmp_path / "t.csv", MULTILINE.format(third="three", fourth="four", label="0")))
    assert ds.rows.tolist() == [1, 2, 3, 4] and ds.lines.tolist() == [2, 4, 7, 8]


def test_tsv_crlf_and_jsonl_lines(tmp_path):
    tsv = MULTILINE.replace(",", "\t").format(third="three", fourth="", label="1")
    assert "empty tweet in row 4 (line 8)" in _error(_write(tmp_path / "t.tsv", tsv))
    crlf = MULTILINE.format(third="three", fourth="", label="1").replace("\n", "\r\n")
    assert "empty tweet in row 4 (line 8)" in _error(_write(tmp_path / "t.csv", crlf))
    jsonl = '{"tweet": "a", "label": 0}\n\n{"tweet": "b\\nc", "label": 1}\n{"tweet": "", "label": 2}\n'
    assert "empty tweet in row 3 (line 4)" in _error(_write(tmp_path / "t.jsonl", jsonl))


def test_unknown_labels_name_their_rows(tmp_path):
    train = read_dataset(_write(tmp_path / "train.csv", "tweet,label\na,0\nb,1\n"))
    val = read_dataset(_write(tmp_path / "val.csv", MULTILINE.format(third="three", fourth="four", label="0")))
    with pytest.raises(DataError, match=r"val\.csv: label\(s\) 2 do not occur in .*train\.csv \(classes: 0, 1\), "
                                        r"in row 3 \(line 7\); drop those rows"):
        check_compatible(train, val)


def test_the_vaccine_files_row_1501_starts_on_line_1773():
    path = VACCINE / "vaccine_train_set.csv"
    if not path.is_file():
        pytest.skip(f"no shared copy of the vaccine data at {VACCINE}")
    ds = read_dataset(path)
    assert ds.rows[1500] == 1501 and ds.lines[1500] == 1773  # the "line 1502"


# ------------------------------------------------------------------ malformed CSV


def test_an_unclosed_quote_and_a_row_too_wide(tmp_path):
    path = _write(tmp_path / "q.csv", 'tweet,label\na,0\n"never closed,1\nb,1\n')
    assert "the quote opened in the record starting on line 3 is never closed" in _error(path)
    assert "never closed" in _chunks_error(path)
    path = _write(tmp_path / "w.csv", 'tweet,label\n"x\ny",0\na,b,1\n')
    assert "row 2 (line 4) has 3 fields but the header has 2; put text that holds a comma in double quotes" in _error(path)
    assert "row 2 (line 4) has 3 fields" in _chunks_error(path)


def test_labels_that_are_not_whole_numbers_stay_words(tmp_path):
    # inf or 1e300 once became -9223372036854775808 (a cast of a non-finite or too-big float).
    ds = read_dataset(_write(tmp_path / "t.csv", "tweet,label\na,1\nb,inf\nc,1e300\n"))
    assert ds.labels.tolist() == ["1", "inf", "1e300"]
    ds = read_dataset(_write(tmp_path / "t.csv", "tweet,label\na,1\nb, 2\nc,3.0\n"))
    assert ds.labels.dtype == np.int64 and ds.labels.tolist() == [1, 2, 3]


def test_a_bom_and_blank_lines_are_not_rows(tmp_path):
    path = _write(tmp_path / "t.csv", "\ufefftweet,label\r\na,0\r\n\r\nb,1\r\n\r\n")
    ds = read_dataset(path)
    # A blank line keeps its row number, so that row N here is row N of predict's output.
    assert ds.texts == ["a", "b"] and ds.rows.tolist() == [1, 3] and ds.lines.tolist() == [2, 4]
    assert _chunks(path) == ["a", "", "b", ""]


# ------------------------------------------------------------------ data.empty


def test_empty_tweets_error_names_the_fix(tmp_path):
    path = _write(tmp_path / "t.csv", "tweet,label\na,0\n,1\nb,1\n  ,2\nc,2\n")
    assert ('empty tweet in row 2 (line 3), row 4 (line 5) of column \'tweet\'; remove those rows or fill them in, '
            'or set data.empty = "drop" (--set data.empty=drop) to leave them out') in _error(path)


def test_drop_leaves_empty_tweets_out_and_counts_them(tmp_path):
    path = _write(tmp_path / "t.csv", 'tweet,label\na,0\n,1\n"b\nb",1\n  ,2\nc,2\n')
    ds = read_dataset(path, empty="drop")
    assert ds.texts == ["a", "b\nb", "c"] and ds.labels.tolist() == [0, 1, 2]
    assert ds.dropped_empty == 2 and ds.dropped_rows == [2, 4] and ds.dropped_lines == [3, 6]
    assert ds.rows.tolist() == [1, 3, 5] and ds.lines.tolist() == [2, 4, 7]
    # Labels are checked on what is left: a dropped row's missing label is no error.
    assert read_dataset(_write(tmp_path / "u.csv", "tweet,label\na,0\n,\nb,1\n"), empty="drop").texts == ["a", "b"]
    assert read_dataset(_write(tmp_path / "v.csv", "tweet,label\na,0\nb,1\n"), empty="drop").dropped_empty == 0


def test_drop_refuses_when_nothing_is_left(tmp_path):
    path = _write(tmp_path / "t.csv", "tweet,label\n,0\n ,1\n")
    assert 'every tweet in column \'tweet\' is empty (2 rows), so with data.empty = "drop" nothing is left' in \
        _error(path, empty="drop")
    with pytest.raises(ConfigError, match=r"data.empty = 'skip' is not one of 'error', 'drop'"):
        read_dataset(path, empty="skip")


# ------------------------------------------------------------------ streaming keeps one item per row


def test_chunks_keep_blank_lines_and_empty_cells(tmp_path):
    path = _write(tmp_path / "t.csv", 'tweet,label\na,0\n\n,1\n"multi\nline",2\nlast,0\n')
    assert _chunks(path, chunk_size=2) == ["a", "", "", "multi\nline", "last"]
    path = _write(tmp_path / "one.csv", "tweet\r\nfirst\r\n\r\nthird\r\n")
    assert _chunks(path) == ["first", "", "third"]
    path = _write(tmp_path / "short.csv", "id,tweet\n1\n2,b\n")
    assert _chunks(path) == ["", "b"]
    path = _write(tmp_path / "t.jsonl", '{"tweet": "a"}\n{"tweet": null}\n{"id": 3}\n{"tweet": 5}\n')
    assert _chunks(path) == ["a", "", "", "5"]
    path = tmp_path / "t.parquet"
    pd.DataFrame({"tweet": ["a", None, "c"]}).to_parquet(path)
    assert _chunks(path) == ["a", "", "c"]


def test_stdin_keeps_blank_lines_and_drops_carriage_returns(monkeypatch):
    # As on a POSIX terminal or pipe: sys.stdin does not translate "\r\n".
    data = "\ufeffone\r\n\r\ntwo \r\n\nthree".encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="\n"))
    assert _chunks("-", chunk_size=2) == ["one", "", "two ", "", "three"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("a\r\nb\n"))  # no bytes beneath
    assert _chunks("-") == ["a", "b"]


# ------------------------------------------------------------------ the same through the command line


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run directory of a one-epoch seed-softmax on the 30-tweet corpus."""
    from tweetsent.cli.main import app

    folder = tmp_path_factory.mktemp("trained")
    _corpus(10, seed=0).to_csv(folder / "train.csv", index=True)
    got = CliRunner().invoke(app, ["train", "--train", str(folder / "train.csv"), "--config", "seed-softmax",
                                   "--set", "train.epochs=1", "--set", "features.n_features=1024", "--no-figures",
                                   "--no-log", "--quiet", "--out", str(folder / "run")])
    assert got.exit_code == 0, got.output
    return folder / "run"


def _one_error_line(args: list[str], **kwargs) -> str:
    from tweetsent.cli.main import app

    got = CliRunner().invoke(app, args, **kwargs)
    assert got.exit_code == 2, got.output
    assert got.stderr.startswith("error: ") and got.stderr.count("\n") == 1, got.stderr
    return got.stderr


def test_cli_header_only_malformed_and_unreadable_inputs(trained, tmp_path, monkeypatch):
    header = _write(tmp_path / "h.csv", "tweet,label\n")
    good = tmp_path / "good.csv"
    _corpus(4, seed=1).to_csv(good, index=False)
    for args in (["train", "--train", str(header)], ["train", "--train", str(good), "--val", str(header)],
                 ["evaluate", str(trained), "--data", str(header)]):
        assert "no rows" in _one_error_line([*args, "--no-log"] if args[0] == "evaluate" else
                                            [*args, "--config", "seed-softmax", "--no-log", "--out",
                                             str(tmp_path / "never")])
    bad = _write(tmp_path / "bad.jsonl", json.dumps({"tweet": "a"}) + "\n{oops\n")
    assert "line 2 is not JSON" in _one_error_line(["predict", str(trained), "--data", str(bad),
                                                    "--out", str(tmp_path / "p.csv")])
    real_open = builtins.open

    def _denied(file, *args, **kwargs):
        if str(file) == str(good):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", _denied)
    assert f"{good}: cannot read it (permission denied)" in _one_error_line(
        ["predict", str(trained), "--data", str(good), "--out", str(tmp_path / "p.csv")])
    assert not (tmp_path / "never").exists() and not (tmp_path / "p.csv").exists()

