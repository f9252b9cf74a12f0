"""Downloads against a real HTTP server on 127.0.0.1: checksums, errors, and no partial files."""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import pytest

from tweetsent.data import download as dl
from tweetsent.errors import ConfigError, DownloadError, TweetsentError
from tweetsent.features.embeddings import cache_dir

BODY = b"id,tweet,label\n" + b"".join(b"%d,tweet number %d,%d\n" % (i, i, i % 3) for i in range(2000))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; ``/drop/...`` promises more bytes than it sends, then hangs up."""

    def do_GET(self):
        if self.path.startswith("/drop/"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY) + 5000))
            self.end_headers()
            self.wfile.write(BODY[:1000])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path):
    """(base URL, served folder) of a threaded HTTP server on an ephemeral 127.0.0.1 port."""
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", root
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def fake_vaccine(tmp_path, monkeypatch):
    """Two tiny CSVs in a folder, registered (with their checksums) as the 'vaccine' data set."""
    folder = tmp_path / "copies"
    folder.mkdir()
    files = {"vaccine_train_set.csv": BODY, "vaccine_validation_set.csv": BODY[:300]}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    entry = dict(dl.DATASETS["vaccine"], files={name: _sha(data) for name, data in files.items()},
                 base_url="http://127.0.0.1:9/unreachable/")
    monkeypatch.setitem(dl.DATASETS, "vaccine", entry)
    monkeypatch.delenv(dl.MIRROR_ENV, raising=False)
    return folder


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_with_checksum(server, tmp_path):
    base, root = server
    (root / "data.csv").write_bytes(BODY)
    dest = tmp_path / "out" / "data.csv"
    assert dl.download(base + "data.csv", dest, sha256=_sha(BODY), progress=True) == dest
    assert dest.read_bytes() == BODY
    assert _leftovers(dest.parent) == ["data.csv"]


def test_checksum_mismatch_leaves_no_file(server, tmp_path):
    base, root = server
    (root / "data.csv").write_bytes(BODY)
    dest = tmp_path / "out" / "data.csv"
    with pytest.raises(DownloadError, match=rf"data\.csv: sha256 of .* is {_sha(BODY)}, expected 0+; "
                                            r"the partial file was removed"):
        dl.download(base + "data.csv", dest, sha256="0" * 64)
    assert _leftovers(dest.parent) == []


def test_404_is_a_download_error_with_the_url_and_a_hint(server, tmp_path):
    base, _ = server
    with pytest.raises(DownloadError, match=r"missing\.csv: HTTP 404.*--from DIR.*TWEETSENT_DATA_MIRROR") as err:
        dl.download(base + "missing.csv", tmp_path / "out" / "missing.csv")
    assert base in str(err.value) and "\n" not in str(err.value)
    assert _leftovers(tmp_path / "out") == []


def test_unreachable_host_is_a_download_error(tmp_path):
    # A port that was just free: nothing listens there, so the connection is refused.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match=rf"127\.0\.0\.1:{port}/x\.csv: cannot connect.*--from DIR"):
        dl.download(f"http://127.0.0.1:{port}/x.csv", tmp_path / "x.csv", timeout=5)
    assert not (tmp_path / "x.csv").exists()


def test_connection_dropped_mid_body_leaves_no_partial_file(server, tmp_path):
    base, _ = server
    dest = tmp_path / "out" / "data.csv"
    with pytest.raises(DownloadError, match=r"drop/data\.csv: .*after 1000 of \d+ bytes|drop/data\.csv: the transfer broke"):
        dl.download(base + "drop/data.csv", dest, timeout=5)
    assert _leftovers(dest.parent) == []


def test_dropped_connection_keeps_an_existing_file(server, tmp_path):
    base, _ = server
    dest = tmp_path / "data.csv"
    dest.write_bytes(b"old")
    with pytest.raises(DownloadError):
        dl.download(base + "drop/data.csv", dest, timeout=5)
    assert dest.read_bytes() == b"old"


def test_file_url_and_plain_path_are_copied(tmp_path):
    src = tmp_path / "src.csv"
    src.write_bytes(BODY)
    assert dl.download(src.as_uri(), tmp_path / "a" / "x.csv", _sha(BODY)).read_bytes() == BODY
    assert dl.download(str(src), tmp_path / "b" / "x.csv", _sha(BODY)).read_bytes() == BODY
    with pytest.raises(DownloadError, match=r"nope\.csv: cannot read it"):
        dl.download(str(tmp_path / "nope.csv"), tmp_path / "c" / "x.csv")


def test_get_dataset_from_a_local_folder(fake_vaccine, tmp_path):
    paths = dl.get_dataset("vaccine", dest=tmp_path / "data", source=str(fake_vaccine))
    assert list(paths) == ["vaccine_train_set.csv", "vaccine_validation_set.csv"]
    assert paths["vaccine_train_set.csv"].read_bytes() == BODY
    assert paths["vaccine_validation_set.csv"].read_bytes() == BODY[:300]


def test_get_dataset_refuses_a_local_copy_with_a_wrong_checksum(fake_vaccine, tmp_path):
    (fake_vaccine / "vaccine_validation_set.csv").write_bytes(b"tampered\n")
    with pytest.raises(DownloadError, match=r"vaccine_validation_set\.csv: sha256 of .*expected"):
        dl.get_dataset("vaccine", dest=tmp_path / "data", source=str(fake_vaccine))
    assert not (tmp_path / "data" / "vaccine_validation_set.csv").exists()


def test_get_dataset_from_a_mirror_url(fake_vaccine, server, tmp_path):
    base, root = server
    for path in fake_vaccine.iterdir():
        (root / path.name).write_bytes(path.read_bytes())
    paths = dl.get_dataset("vaccine", dest=tmp_path / "data", source=base)
    assert paths["vaccine_train_set.csv"].read_bytes() == BODY


def test_get_dataset_uses_the_mirror_env_var(fake_vaccine, server, tmp_path, monkeypatch):
    base, root = server
    for path in fake_vaccine.iterdir():
        (root / path.name).write_bytes(path.read_bytes())
    monkeypatch.setenv(dl.MIRROR_ENV, base.rstrip("/"))
    paths = dl.get_dataset("vaccine", dest=tmp_path / "via-url")
    assert paths["vaccine_validation_set.csv"].read_bytes() == BODY[:300]
    monkeypatch.setenv(dl.MIRROR_ENV, str(fake_vaccine))
    assert dl.get_dataset("vaccine", dest=tmp_path / "via-dir")["vaccine_train_set.csv"].read_bytes() == BODY


def test_get_dataset_skips_files_already_present(fake_vaccine, tmp_path, monkeypatch):
    dest = tmp_path / "data"
    dl.get_dataset("vaccine", dest=dest, source=str(fake_vaccine))
    # A damaged local copy is fetched again; an intact one is not.
    (dest / "vaccine_validation_set.csv").write_bytes(b"damaged")
    fetched = []
    real = dl._fetch

    def _spy(url, target, *args, **kwargs):
        fetched.append(Path(target).name)
        return real(url, target, *args, **kwargs)

    monkeypatch.setattr(dl, "_fetch", _spy)
    dl.get_dataset("vaccine", dest=dest, source=str(fake_vaccine))
    assert fetched == ["vaccine_validation_set.csv"]
    fetched.clear()
    # All present: the (unreachable) public URL is never contacted.
    dl.get_dataset("vaccine", dest=dest)
    assert fetched == []


def test_get_dataset_errors(fake_vaccine, tmp_path):
    with pytest.raises(ConfigError, match=r"unknown data set 'covid'; known data sets: vaccine"):
        dl.get_dataset("covid", dest=tmp_path / "d")
    with pytest.raises(DownloadError, match=r"nowhere: no such folder.*--from DIR"):
        dl.get_dataset("vaccine", dest=tmp_path / "d", source=str(tmp_path / "nowhere"))
    (fake_vaccine / "vaccine_train_set.csv").unlink()
    with pytest.raises(DownloadError, match=r"vaccine_train_set\.csv: missing from"):
        dl.get_dataset("vaccine", dest=tmp_path / "d", source=str(fake_vaccine))
    assert issubclass(DownloadError, TweetsentError)


def test_registered_checksums_match_the_shared_copy(tmp_path):
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "vaccine"
    if not shared.is_dir():
        pytest.skip(f"no shared copy of the vaccine data at {shared}")
    paths = dl.get_dataset("vaccine", dest=tmp_path / "vaccine", source=str(shared))
    assert set(paths) == set(dl.DATASETS["vaccine"]["files"])


def test_fetch_embeddings_caches_by_checksum(server, tmp_path, monkeypatch):
    monkeypatch.setenv("TWEETSENT_CACHE", str(tmp_path / "cache"))
    base, root = server
    (root / "glove.tiny.zip").write_bytes(BODY)
    path = dl.fetch_embeddings(base + "glove.tiny.zip", sha256=_sha(BODY))
    assert path == cache_dir() / "downloads" / "glove.tiny.zip" and path.read_bytes() == BODY
    (root / "glove.tiny.zip").unlink()  # a second fetch must not need the server
    assert dl.fetch_embeddings(base + "glove.tiny.zip", sha256=_sha(BODY)) == path
    assert dl.fetch_embeddings(base + "glove.tiny.zip") == path
    with pytest.raises(DownloadError, match="HTTP 404"):
        dl.fetch_embeddings(base + "glove.tiny.zip", sha256="f" * 64)
    assert path.read_bytes() == BODY


def test_fetch_embeddings_then_load(server, tmp_path, monkeypatch):
    import zipfile

    from tweetsent.features.embeddings import load_embeddings

    monkeypatch.setenv("TWEETSENT_CACHE", str(tmp_path / "cache"))
    base, root = server
    with zipfile.ZipFile(root / "glove.tiny.zip", "w") as zf:
        zf.writestr("glove.tiny.3d.txt", "the 0.1 0.2 0.3\nnull 1 2 3\n")
        zf.writestr("glove.tiny.2d.txt", "the 0.1 0.2\n")
    path = dl.fetch_embeddings(base + "glove.tiny.zip")
    emb = load_embeddings(f"{path}:glove.tiny.3d.txt")
    assert emb.words == ["the", "null"] and emb.dim == 3


def test_cli_data_commands_against_the_local_server(fake_vaccine, server, tmp_path, monkeypatch):
    import zipfile

    from typer.testing import CliRunner

    from tweetsent.cli.main import app

    monkeypatch.setenv("TWEETSENT_CACHE", str(tmp_path / "cache"))
    base, root = server
    for name in ("vaccine_train_set.csv", "vaccine_validation_set.csv"):
        (root / name).write_bytes((fake_vaccine / name).read_bytes())
    runner = CliRunner()
    got = runner.invoke(app, ["data", "get", "vaccine", "--dest", str(tmp_path / "d"), "--from", base])
    assert got.exit_code == 0, got.output
    assert (tmp_path / "d" / "vaccine_train_set.csv").read_bytes() == (fake_vaccine / "vaccine_train_set.csv").read_bytes()
    with zipfile.ZipFile(root / "glove.tiny.zip", "w") as zf:
        zf.writestr("glove.tiny.3d.txt", "the 0.1 0.2 0.3\nnull 1 2 3\n")
    emb = runner.invoke(app, ["data", "embeddings", base + "glove.tiny.zip", "--member", "glove.tiny.3d.txt"])
    assert emb.exit_code == 0, emb.output
    assert "2 words x 3 dimensions" in emb.stderr and "features.embeddings=" in emb.stdout
    bad = runner.invoke(app, ["data", "embeddings", base + "missing.zip"])
    assert bad.exit_code == 2 and "missing.zip" in bad.stderr


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (hidden ones too) with its bytes; {} when it does not exist."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} \
        if folder.exists() else {}


def test_a_damaged_validation_file_writes_nothing_into_dest(fake_vaccine, tmp_path):
    # Issue 14: the verified training file used to replace the one already in --dest.
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / "vaccine_train_set.csv").write_bytes(b"an older training file\n")
    (fake_vaccine / "vaccine_validation_set.csv").write_bytes(b"tampered\n")
    before, around = _tree(dest), _leftovers(tmp_path)
    with pytest.raises(DownloadError, match=rf"vaccine_validation_set\.csv: sha256 of .*expected .*"
                                            rf"nothing was written to {dest}"):
        dl.get_dataset("vaccine", dest=dest, source=str(fake_vaccine))
    assert _tree(dest) == before and _leftovers(tmp_path) == around


def test_a_damaged_training_file_leaves_no_new_folder(fake_vaccine, tmp_path):
    # Issue 14: an empty --dest folder (and its parents) used to be left behind.
    (fake_vaccine / "vaccine_train_set.csv").write_bytes(b"tampered\n")
    with pytest.raises(DownloadError, match=r"vaccine_train_set\.csv: sha256 of"):
        dl.get_dataset("vaccine", dest=tmp_path / "new" / "data", source=str(fake_vaccine))
    assert not (tmp_path / "new").exists()
    assert _leftovers(tmp_path) == ["copies"]


def test_a_damaged_file_on_a_mirror_writes_nothing(fake_vaccine, server, tmp_path):
    base, root = server
    (root / "vaccine_train_set.csv").write_bytes((fake_vaccine / "vaccine_train_set.csv").read_bytes())
    (root / "vaccine_validation_set.csv").write_bytes(b"tampered\n")
    dest = tmp_path / "data"
    dest.mkdir()
    with pytest.raises(DownloadError, match=r"vaccine_validation_set\.csv: sha256 of"):
        dl.get_dataset("vaccine", dest=dest, source=base)
    assert _tree(dest) == {}


def test_cli_data_get_with_a_damaged_copy_is_one_line_and_changes_nothing(fake_vaccine, tmp_path):
    from typer.testing import CliRunner

    from tweetsent.cli.main import app

    dest = tmp_path / "data"
    dest.mkdir()
    (dest / "vaccine_train_set.csv").write_bytes(b"keep me\n")
    (fake_vaccine / "vaccine_validation_set.csv").write_bytes(b"tampered\n")
    got = CliRunner().invoke(app, ["data", "get", "vaccine", "--dest", str(dest), "--from", str(fake_vaccine)])
    assert got.exit_code == 2, got.output
    assert got.stderr.startswith("error: ") and got.stderr.count("\n") == 1 and "sha256" in got.stderr
    assert _tree(dest) == {"vaccine_train_set.csv": b"keep me\n"}
    # Repaired, the same command writes both files and replaces the damaged one.
    (fake_vaccine / "vaccine_validation_set.csv").write_bytes(BODY[:300])
    got = CliRunner().invoke(app, ["data", "get", "vaccine", "--dest", str(dest), "--from", str(fake_vaccine)])
    assert got.exit_code == 0, got.output
    tree = _tree(dest)  # with the class names, written once both files are in
    assert tree.pop("labels.toml").endswith(b'[data.label_names]\n0 = "neutral"\n1 = "anti-vax"\n2 = "pro-vax"\n')
    assert tree == {"vaccine_train_set.csv": BODY, "vaccine_validation_set.csv": BODY[:300]}
