"""The prediction service: endpoints in process (TestClient), faults and shutdown against a real server.

The real server is one ``python -m tweetsent serve`` process on a free 127.0.0.1 port, shared by
`TestRealServer` and always killed at the end; its tests run in order, SIGTERM last.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import _corpus
from tweetsent.cli.main import app as cli_app
from tweetsent.config.resolve import resolve_config
from tweetsent.errors import ConfigError
from tweetsent.runs.workflow import load_run, train_run
from tweetsent.serve.app import create_app, model_id
from tweetsent.serve.server import check_exposure

KEY = "test-key-0123456789"
READY_TIMEOUT = 180  # seconds for the server to load the model and answer /health (generous: slow CI)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A 2-epoch softmax run over 1,024 hashed n-grams on the tiny corpus, trained once for the module."""
    folder = tmp_path_factory.mktemp("serve")
    train, val = folder / "train.csv", folder / "val.csv"
    _corpus(10, seed=0).to_csv(train, index=True)
    _corpus(4, seed=1).to_csv(val, index=True)
    cfg = resolve_config("seed-softmax", ["train.epochs=2", "features.n_features=1024"], 0)
    return train_run(cfg, train, val, out=folder / "run", figures=False).run_dir


@pytest.fixture(scope="module")
def client(run_dir):
    return TestClient(create_app(run_dir, max_tweets=3, max_chars=50, max_body=2000))


# -- endpoints, in process -------------------------------------------------------------------

def test_predict_many_matches_the_classifier(client, run_dir):
    texts = ["Vaccines are poison and toxic", "Safe effective science protects lives"]
    answer = client.post("/predict", json={"tweets": texts})
    assert answer.status_code == 200
    body = answer.json()
    assert body["model"] == model_id(run_dir) and body["model"].startswith("run-")
    clf = load_run(run_dir)
    proba = clf.predict_proba(texts)
    for row, p, label in zip(body["predictions"], proba, clf.predict(texts)):
        assert row["label"] == label and row["empty"] is False
        assert [row["proba"][str(c)] for c in clf.classes_] == pytest.approx(p.tolist(), abs=1e-6)


def test_predict_one_tweet_and_an_empty_one(client):
    one = client.post("/predict", json={"tweet": "flu shot today"}).json()["predictions"]
    assert len(one) == 1 and one[0]["label"] is not None
    rows = client.post("/predict", json={"tweets": ["  ", "my kids are safe"]}).json()["predictions"]
    assert rows[0] == {"label": None, "proba": None, "empty": True}
    assert rows[1]["empty"] is False and sum(rows[1]["proba"].values()) == pytest.approx(1.0, abs=1e-5)


def test_explain_answers_what_clf_explain_returns(client, run_dir):
    body = client.post("/explain", json={"tweets": ["vaccines are poison", ""]}).json()
    expected = json.loads(json.dumps(load_run(run_dir).explain(["vaccines are poison"])))
    assert body["explanations"][0] == {**expected[0], "empty": False}
    assert body["explanations"][1]["empty"] is True and body["explanations"][1]["label"] is None


def test_health_model_and_docs(client, run_dir):
    assert client.get("/health").json() == {"status": "ok", "model": model_id(run_dir)}
    info = client.get("/model").json()
    assert info["classes"] == [0, 1, 2]
    assert info["config"] == {"name": "seed-softmax", "model_kind": "softmax", "features_input": "ngrams"}
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert info["validation_metrics"]["f1_macro"] == pytest.approx(metrics["f1_macro"])
    assert info["versions"]["model_format"] == 1 and info["versions"]["package"]
    assert client.get("/docs").status_code == 200
    assert "/predict" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize(("body", "status", "names"), [
    (b"{not json", 422, "malformed JSON"),
    (b"\xff\xfe\x00", 422, "UTF-8"),
    (b'{"tweets": [1, 2]}', 422, "string"),
    (b'{"tweets": "not a list"}', 422, "list"),
    (b'{"tweets": []}', 422, "empty list"),
    (b"{}", 422, "either"),
    (b'{"tweet": "a", "tweets": ["b"]}', 422, "not both"),
    (b'{"tweets": ["a", "b", "c", "d"]}', 413, "max_tweets"),
    (b'{"tweets": ["a", "' + b"x" * 51 + b'"]}', 422, "tweet 1 has 51 characters"),
    (b'{"tweet": "' + b"x" * 3000 + b'"}', 413, "max_body"),
])
def test_bad_requests_get_one_json_error(client, body, status, names):
    answer = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status, answer.text
    assert list(answer.json()) == ["error"] and names in answer.json()["error"]


def test_api_key_is_required_on_every_request(run_dir):
    guarded = TestClient(create_app(run_dir, api_key=KEY))
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
        answer = guarded.get("/health", headers=headers)
        assert answer.status_code == 401 and "API key" in answer.json()["error"]
    assert guarded.get("/health", headers={"X-API-Key": KEY}).status_code == 200
    assert guarded.post("/predict", json={"tweet": "hi"}, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_a_public_address_needs_a_key_or_no_auth():
    assert check_exposure("127.0.0.1", None, False) is None
    assert check_exposure("0.0.0.0", KEY, False) is None
    assert "warning" in check_exposure("0.0.0.0", None, True)
    with pytest.raises(ConfigError, match="TWEETSENT_API_KEY"):
        check_exposure("0.0.0.0", None, False)


def test_serve_refuses_a_public_address_without_key_before_loading(tmp_path, monkeypatch):
    monkeypatch.delenv("TWEETSENT_API_KEY", raising=False)
    result = CliRunner().invoke(cli_app, ["serve", str(tmp_path), "--host", "0.0.0.0"])
    assert result.exit_code == 2 and result.stderr.startswith("error: --host 0.0.0.0")


def test_serve_a_missing_run_is_one_error_line(tmp_path):
    result = CliRunner().invoke(cli_app, ["serve", str(tmp_path / "missing-run")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "missing-run" in result.stderr


# -- a real server process -------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_process(run, folder, *options: str):
    """``python -m tweetsent serve RUN`` on a free 127.0.0.1 port with the API key `KEY`, ready (it answers
    /health) when the block starts and killed when it ends; yields proc, url, port and log."""
    port = _free_port()
    log = open(folder / "server.log", "w+b")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([sys.executable, "-m", "tweetsent", "serve", str(run), "--host", "127.0.0.1",
                             "--port", str(port), *options], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "TWEETSENT_API_KEY": KEY})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(int(READY_TIMEOUT / 0.2)):  # a bound on the wait, not a speed assertion
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"the server exited with {proc.returncode}: {log.read().decode(errors='replace')}")
            try:
                if httpx.get(f"{url}/health", headers={"X-API-Key": KEY}, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail(f"the server did not answer /health within {READY_TIMEOUT / 0.2:.0f} tries")
        yield {"proc": proc, "url": url, "port": port, "log": log}
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
        log.close()


@pytest.fixture(scope="class")
def server(run_dir, tmp_path_factory):
    """``python -m tweetsent serve`` on 127.0.0.1 with an API key, serving a copy of the run (deleted by a test)."""
    folder = tmp_path_factory.mktemp("server")
    served = shutil.copytree(run_dir, folder / "served-run")
    with serve_process(served, folder, "--max-tweets", "5", "--max-chars", "100", "--max-body", "20000") as running:
        yield {**running, "run": served}


def _raw_request(sock: socket.socket, body: bytes, *, send_all: bool = True) -> bytes:
    head = (f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    sock.sendall(head + (body if send_all else body[: len(body) // 2]))
    return body[len(body) // 2:] if not send_all else b""


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a full response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return int(head.split(b" ")[1]), body


class TestRealServer:
    """Faults, a deleted run directory and SIGTERM against one real uvicorn process (in this order)."""

    @pytest.mark.parametrize(("body", "headers", "status", "names"), [
        (b"{not json", {}, 422, "malformed JSON"),
        (b'{"tweets": [1, true]}', {}, 422, "string"),
        (b'{"tweets": []}', {}, 422, "empty list"),
        (b'{"tweet": "\xff\xfe bad bytes"}', {}, 422, "UTF-8"),
        (b'{"tweet": "' + b"x" * 101 + b'"}', {}, 422, "tweet 0 has 101 characters"),
        (b'{"tweets": ["a", "b", "c", "d", "e", "f"]}', {}, 413, "max_tweets"),
        (b'{"tweet": "' + b"x" * 30000 + b'"}', {}, 413, "max_body"),
        (b'{"tweet": "hi"}', {"X-API-Key": None}, 401, "missing API key"),
        (b'{"tweet": "hi"}', {"X-API-Key": "wrong"}, 401, "wrong API key"),
    ], ids=["malformed", "types", "empty-list", "non-utf8", "long-tweet", "many-tweets", "large-body",
            "missing-key", "wrong-key"])
    def test_fault_gets_json_error_and_health_still_answers(self, server, body, headers, status, names):
        sent = {"X-API-Key": KEY, "Content-Type": "application/json", **headers}
        sent = {k: v for k, v in sent.items() if v is not None}
        answer = httpx.post(f"{server['url']}/predict", content=body, headers=sent, timeout=60)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        assert list(answer.json()) == ["error"] and names in answer.json()["error"]
        assert httpx.get(f"{server['url']}/health", headers={"X-API-Key": KEY}, timeout=60).status_code == 200

    def test_predictions_go_on_after_the_run_directory_is_deleted(self, server):
        before = httpx.post(f"{server['url']}/predict", json={"tweets": ["vaccines are poison"]},
                            headers={"X-API-Key": KEY}, timeout=60).json()
        shutil.rmtree(server["run"])
        after = httpx.post(f"{server['url']}/predict", json={"tweets": ["vaccines are poison"]},
                           headers={"X-API-Key": KEY}, timeout=60)
        assert after.status_code == 200 and after.json() == before
        assert httpx.get(f"{server['url']}/model", headers={"X-API-Key": KEY}, timeout=60).status_code == 200

    def test_sigterm_lets_the_request_in_flight_finish_then_exits_zero(self, server):
        proc = server["proc"]
        with socket.create_connection(("127.0.0.1", server["port"]), timeout=60) as sock:
            # A first request on this connection: it is accepted and idle before the next begins.
            _raw_request(sock, b'{"tweet": "warm up"}')
            assert _read_response(sock)[0] == 200
            # Headers and half the body are in the server's socket before SIGTERM: a request in flight.
            rest = _raw_request(sock, b'{"tweets": ["vaccines are poison", "safe science"]}', send_all=False)
            proc.send_signal(signal.SIGTERM)
            outcome = {}

            def finish():
                sock.sendall(rest)
                outcome["status"], outcome["body"] = _read_response(sock)

            thread = threading.Thread(target=finish)
            thread.start()
            thread.join(timeout=120)
        assert outcome.get("status") == 200, outcome
        assert len(json.loads(outcome["body"])["predictions"]) == 2
        assert proc.wait(timeout=120) == 0
