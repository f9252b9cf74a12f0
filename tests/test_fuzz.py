"""Hostile tables (issue 14): random small CSV, TSV and JSONL files through `train`, `evaluate` and `predict`.

Every outcome must be exit 0, or exit 2 with one ``error:`` line: never a traceback, and never exit 1
(the command line's word for "a bug in tweetsent"). Nothing outside the example's own folder may change.
The files mix well-formed rows with stray quotes, embedded newlines, empty fields, byte-order marks,
CRLF, labels of every type, missing and extra columns, and bytes that are not UTF-8; `predict` also
reads each file from standard input. Hypothesis runs derandomized (the same examples every time) and
without its example database, so that CI is deterministic.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import REPO, _corpus
from tweetsent.cli.main import app

FAST = ["--config", "seed-softmax", "--set", "train.epochs=1", "--set", "features.n_features=1024",
        "--no-figures", "--no-log", "--quiet"]
# Tweets a good file may hold: quoted commas and tabs, a newline, an emoji, words pandas would call NA.
GOOD_TWEETS = ["the vaccine is safe", 'poison, "lies"', "news report\ntoday", "thank\tscience", "null", "NA",
               "😀 #vaccine @you http://t.co/x", "it's    spaced  "]
LABEL_SETS = [["0", "1", "2"], ["pro", "anti"], ["0", "1", "2"], ["1", "x"], ["0", "1", "2"], ["2", "1.0"]]

# ------------------------------------------------------------------ random tables

_pieces = st.one_of(
    st.sampled_from(['"', '""', ",", "\t", "\n", "\r", "\r\n", " ", "\ufeff", "{", "}", "[", "\\", "null", "é",
                     "😀", "\x00", "word"]),
    st.characters(exclude_categories=("Cs",)),
)
_text = st.lists(_pieces, max_size=6).map("".join)
_label = st.one_of(st.sampled_from(["", " ", "pro", "1.0", "-1", "inf", "nan", "1e400", "True", "99999999999999999999",
                                    "0x1"]), _text)
_header = st.sampled_from([["tweet", "label"], ["", "tweet", "label"], ["tweet", "label"], ["text", "label"],
                           ["tweet", "label"], ["id", "tweet", "label", "tweet"], ["tweet", "label"], ["tweet"],
                           ["label", "Tweet"], ["tweet", "label"], [""], []])
_one_in_ten = st.integers(0, 9).map(lambda i: i == 7)  # not 0 or 9: Hypothesis favours the ends of a range


@st.composite
def _rows(draw) -> tuple[list[str], list[list[str]]]:
    """A header and rows that are mostly good, with a few damaged cells and rows."""
    header = draw(_header)
    labels = draw(st.sampled_from(LABEL_SETS))
    rows = []
    for i in range(draw(st.integers(0, 12))):
        cells = {"tweet": draw(st.sampled_from(GOOD_TWEETS)), "text": draw(st.sampled_from(GOOD_TWEETS)),
                 "label": draw(st.sampled_from(labels))}
        rows.append([cells.get(name, str(i)) for name in header])
    for _ in range(draw(st.integers(0, 3)) if rows else 0):
        row = rows[draw(st.integers(0, len(rows) - 1))]
        damage = draw(st.sampled_from(["tweet", "label", "short", "long", "blank", "empty", "tweet", "label"]))
        if damage in ("tweet", "label", "empty") and row:
            k = draw(st.integers(0, len(row) - 1))
            row[k] = "" if damage == "empty" else draw(_text if damage == "tweet" else _label)
        elif damage == "short":
            del row[-1:]
        elif damage == "long":
            row.append(draw(_text))
        else:
            row.clear()
    return header, rows


def _quote(cell: str, delimiter: str, style: str) -> str:
    if style == "raw" or not any(ch in cell for ch in (delimiter, '"', "\n", "\r")):
        return cell
    return '"' + cell.replace('"', '""') + '"'


@st.composite
def _delimited(draw, delimiter: str) -> bytes:
    header, rows = draw(_rows())
    style = "raw" if draw(_one_in_ten) else "proper"  # raw: quotes, separators and newlines left as they are
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [delimiter.join(_quote(c, delimiter, style) for c in row) for row in [header, *rows]]
    text = newline.join(lines) + draw(st.sampled_from([newline, "", newline * 2]))
    return draw(st.sampled_from([b"", b"\xef\xbb\xbf"])) + text.encode("utf-8")


_json_value = st.one_of(st.sampled_from(GOOD_TWEETS), st.integers(-5, 5), st.floats(), st.booleans(), st.none(),
                        st.lists(st.integers(0, 2), max_size=2), _text)


@st.composite
def _jsonl(draw) -> bytes:
    header, rows = draw(_rows())
    lines = []
    for row in rows:
        kind = draw(st.sampled_from(["object"] * 4 + ["typed", "junk", "blank", "list"] + ["object"] * 4))
        if kind == "object":
            lines.append(json.dumps(dict(zip(header, row)), ensure_ascii=draw(st.booleans())))
        elif kind == "typed":
            lines.append(json.dumps({name: draw(_json_value) for name in header}))
        elif kind == "junk":
            lines.append(draw(_text).replace("\n", " "))
        elif kind == "blank":
            lines.append("")
        else:
            lines.append(json.dumps(row))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return draw(st.sampled_from([b"", b"\xef\xbb\xbf"])) + newline.join(lines).encode("utf-8") + newline.encode()


@st.composite
def _table(draw) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from([".csv", ".tsv", ".jsonl"]))
    if draw(_one_in_ten):
        data = draw(st.binary(max_size=200))  # not a table at all
    elif suffix == ".jsonl":
        data = draw(_jsonl())
    else:
        data = draw(_delimited("," if suffix == ".csv" else "\t"))
    if data and draw(_one_in_ten):  # bytes that are not UTF-8, somewhere
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xe9", b"\xff\xfe", b"\xc3", b"\x80\x80"])) + data[at:]
    return suffix, data


# ------------------------------------------------------------------ the commands


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A work folder with the good corpus and one trained run; the cache and runs folder inside it."""
    work = tmp_path_factory.mktemp("fuzz")
    _corpus(10, seed=0).to_csv(work / "train.csv", index=True)
    _corpus(4, seed=1).to_csv(work / "val.csv", index=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TWEETSENT_CACHE", str(work / "cache"))
        mp.setenv("TWEETSENT_RUNS_DIR", str(work / "runs"))
        mp.delenv("TWEETSENT_LOG_URL", raising=False)
        mp.delenv("TWEETSENT_DEBUG", raising=False)
        got = CliRunner().invoke(app, ["train", "--train", str(work / "train.csv"), "--val", str(work / "val.csv"),
                                       *FAST, "--out", str(work / "run")])
        assert got.exit_code == 0, got.output
        yield work


def _repo_root() -> list[str]:
    # .hypothesis/ is Hypothesis's own cache (git-ignored), made before the first example runs.
    return sorted(p.name for p in REPO.iterdir() if p.name != ".hypothesis")


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in folder.rglob("*") if p.is_file()}


def _check(args: list[str], stdin: bytes | None = None) -> None:
    got = CliRunner().invoke(app, args, input=stdin)
    said = f"tweetsent {' '.join(args)}\nexit {got.exit_code}\nstdout: {got.stdout}\nstderr: {got.stderr}"
    assert "Traceback" not in got.stdout + got.stderr, said
    if got.exit_code == 0:
        return
    assert got.exit_code == 2, said  # 1 is a bug; anything else is not a result
    errors = [line for line in got.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and got.stderr.rstrip("\n").splitlines()[-1] == errors[0], said


@settings(max_examples=50, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(table=_table(), role=st.sampled_from(["train", "val"]), drop=st.booleans())
def test_random_tables_end_in_exit_0_or_one_error_line(world, table, role, drop):
    suffix, data = table
    outside = _snapshot(world)
    repo_root = _repo_root()
    with tempfile.TemporaryDirectory(dir=world, prefix="example-") as name, contextlib.chdir(name):
        folder = Path(name)
        path = folder / f"table{suffix}"
        path.write_bytes(data)
        train, val = (path, world / "val.csv") if role == "train" else (world / "train.csv", path)
        empty = ["--set", "data.empty=drop"] if drop else []
        _check(["train", "--train", str(train), "--val", str(val), *FAST, *empty, "--out", str(folder / "run"),
                "--runs-dir", str(folder / "runs")])
        _check(["evaluate", str(world / "run"), "--data", str(path), "--predictions", str(folder / "p.csv"),
                "--no-log", "--runs-dir", str(folder / "runs")])
        _check(["predict", str(world / "run"), "--data", str(path), "--out", str(folder / "predicted.csv")])
        _check(["predict", str(world / "run"), "--out", str(folder / "from-stdin.csv")], stdin=data)
    assert _snapshot(world) == outside, "a command changed a file outside its example's folder"
    assert _repo_root() == repo_root, "a command wrote into the repository"
