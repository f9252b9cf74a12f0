"""ONNX copies of the fine-tuned encoder: exported with torch.onnx, run by ONNX Runtime, optionally int8.

    paths = export_encoder(net, (input_ids, mask), folder, weights_sha256, quantize="int8")
    path = find_export(folder, "auto", torch.device("cpu"))   # model.int8.onnx, model.onnx or None
    logits = OnnxEncoder(path, torch.device("cpu"), weights_sha256).run(input_ids, mask)   # (b, n_classes)

``model.onnx`` is the encoder and its head in float32 (wordpiece ids and attention mask in, raw
scores out; batch and sequence axes dynamic), written beside ``model.safetensors`` by the
TorchScript exporter (``dynamo=False``, opset 17: no onnxscript needed). ``model.int8.onnx`` is that
graph after ONNX Runtime's dynamic int8 quantization (weights int8 per output channel,
activations quantized on the fly; attention's own products stay float32). Tokenizing, batching,
the temperature and the thresholds stay in Python, so the copies score exactly the tweets the
torch model scores. Each file records the sha256 of the weights it was made from; a copy that
does not match ``model.safetensors`` is refused. Both files are written atomically. Needs the
onnx extra: pip install 'tweetsent[onnx]'.

Engines (``--engine``): "torch"; "onnx" (``model.onnx``); "onnx-int8" (``model.int8.onnx``); "auto",
the int8 copy when there is one, else the float32 copy, else torch; on a CUDA device "auto" is
torch (the onnxruntime package runs on the CPU).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from tweetsent.errors import ConfigError, ModelError, TweetsentError
from tweetsent.util.files import atomic_path
from tweetsent.util.meta import usable_cpus

__all__ = ["ENGINES", "FILES", "OPSET", "QUANTIZE", "OnnxEncoder", "check_engine", "export_encoder", "find_export"]

ENGINES = ("auto", "torch", "onnx", "onnx-int8")
FILES = {"onnx": "model.onnx", "onnx-int8": "model.int8.onnx"}  # engine -> file beside model.safetensors
QUANTIZE = ("int8",)  # --quantize choices
OPSET = 17  # the TorchScript exporter goes up to 20; 17 has LayerNormalization as one op; tested with onnxruntime 1.31 and 1.32
_INPUTS, _OUTPUT = ("input_ids", "attention_mask"), "logits"
_SHA_KEY = "tweetsent.weights_sha256"
_INSTALL = "pip install 'tweetsent[onnx]'"


def check_engine(engine: str) -> None:
    """ConfigError unless ``engine`` is one of `ENGINES`."""
    if engine not in ENGINES:
        raise ConfigError(f"--engine {engine!r} is not one of: {', '.join(ENGINES)}")


def _export_hint(folder: Path, engine: str) -> str:
    run = folder.parent if folder.name == "model" else folder
    return f"tweetsent export {run} --format onnx{' --quantize int8' if engine == 'onnx-int8' else ''}"


def find_export(folder: Path | None, engine: str, device: torch.device) -> Path | None:
    """The ONNX file ``engine`` runs in the model folder ``folder``, or None when the model stays on torch.

    Raises
    ------
    ModelError
        ``engine`` names a copy that was not exported (the message gives the `tweetsent export` command).
    """
    check_engine(engine)
    if engine == "torch":
        return None
    if engine == "auto":
        if folder is None or device.type != "cpu" or importlib.util.find_spec("onnxruntime") is None:
            return None
        return next((folder / FILES[e] for e in ("onnx-int8", "onnx") if (folder / FILES[e]).is_file()), None)
    path = None if folder is None else folder / FILES[engine]
    if path is None or not path.is_file():
        where = f"{folder}: no {FILES[engine]}" if folder is not None else f"no {FILES[engine]} (the model is not saved)"
        raise ModelError(f"{where}; --engine {engine} needs an ONNX export of the encoder: "
                         f"{_export_hint(folder, engine) if folder is not None else 'save it, then tweetsent export'}")
    return path


def _runtime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise TweetsentError(f"ONNX needs the optional package onnxruntime ({exc.name} is missing); install it "
                             f"with: {_INSTALL}") from exc
    return onnxruntime


class OnnxEncoder:
    """An ONNX Runtime session of an exported encoder; `run` maps a padded batch to (batch, n_classes) scores.

    Parameters
    ----------
    path : Path
        ``model.onnx`` or ``model.int8.onnx``.
    device : torch.device
        The CPU, or a CUDA GPU (needs the onnxruntime-gpu package).
    weights_sha256 : str
        The sha256 of the ``model.safetensors`` beside it: a copy made from other weights is refused.
    threads : int
        Intra-op threads (0: every core, as ``finetune.threads``).
    """

    def __init__(self, path: Path, device: torch.device, weights_sha256: str, threads: int = 0) -> None:
        ort = _runtime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or usable_cpus()
        options.log_severity_level = 3  # errors only: ONNX Runtime's warnings are not the user's business
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ConfigError(f"{path}: ONNX on {device} needs the onnxruntime-gpu package (this onnxruntime runs "
                                  f"on the CPU); use --device cpu, or --engine torch")
            providers = [("CUDAExecutionProvider", {"device_id": device.index or 0}), "CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...)
            raise ModelError(f"{path}: not a readable ONNX model ({str(exc).splitlines()[0]}); "
                             f"export it again with {_export_hint(path.parent, 'onnx')}") from exc
        made_from = self.session.get_modelmeta().custom_metadata_map.get(_SHA_KEY)
        if made_from != weights_sha256:
            raise ModelError(f"{path} was exported from other weights than {path.parent / 'model.safetensors'} "
                             f"(sha256 {str(made_from)[:12]}, now {weights_sha256[:12]}); export it again with "
                             f"{_export_hint(path.parent, 'onnx-int8' if path.name == FILES['onnx-int8'] else 'onnx')}")
        self.path = path

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """(batch, n_classes) float32 scores of (batch, seq) int64 wordpiece ids and mask."""
        return self.session.run([_OUTPUT], {_INPUTS[0]: input_ids, _INPUTS[1]: attention_mask})[0]


def _packages():
    try:
        import onnx
        import onnxruntime.quantization  # noqa: F401
    except ImportError as exc:
        raise TweetsentError(f"tweetsent export needs the optional packages onnx and onnxruntime ({exc.name} is "
                             f"missing); install them with: {_INSTALL}") from exc
    return onnx


def _stamp(onnx, path: Path, weights_sha256: str, precision: str) -> None:
    """Record what the file was made from in its metadata (read back by `OnnxEncoder`)."""
    from tweetsent.util.meta import package_version

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in ((_SHA_KEY, weights_sha256), ("tweetsent.precision", precision),
                       ("tweetsent.version", package_version())):
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


@contextlib.contextmanager
def _quiet():
    """No warnings (the TorchScript exporter's deprecation and tracer notes) and no root-logger lines
    (onnxruntime.quantization's advice) while exporting."""
    before = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(before)


def export_encoder(net: torch.nn.Module, example: tuple[torch.Tensor, torch.Tensor], folder: Path,
                   weights_sha256: str, quantize: str | None = None) -> list[Path]:
    """Write ``folder/model.onnx`` (and ``model.int8.onnx`` with ``quantize="int8"``), each atomically.

    Parameters
    ----------
    net : torch.nn.Module
        Maps (batch, seq) int64 ids and mask to (batch, n_classes) scores; exported in eval mode, on the CPU.
    example : (Tensor, Tensor)
        A padded batch to trace with. Give rows of different lengths: the trace then keeps the
        attention mask's padding path, which every batch needs.
    folder : Path
        The model folder (beside ``model.safetensors``).
    weights_sha256 : str
        The sha256 of ``model.safetensors``, recorded in each file.
    quantize : {"int8"}, optional
        Also write the dynamically quantized copy.

    Returns
    -------
    list of Path
        The files written.
    """
    onnx = _packages()
    if quantize is not None and quantize not in QUANTIZE:
        raise ConfigError(f"--quantize {quantize!r} is not one of: {', '.join(QUANTIZE)}")
    was_training = net.training
    net.eval()
    axes = {_INPUTS[0]: {0: "batch", 1: "sequence"}, _INPUTS[1]: {0: "batch", 1: "sequence"}, _OUTPUT: {0: "batch"}}
    written = []
    try:
        fp32 = folder / FILES["onnx"]
        with atomic_path(fp32, keep_suffix=True) as tmp, _quiet(), torch.no_grad():
            torch.onnx.export(net, example, str(tmp), input_names=list(_INPUTS), output_names=[_OUTPUT],
                              dynamic_axes=axes, opset_version=OPSET, dynamo=False)
            _stamp(onnx, tmp, weights_sha256, "fp32")
        written.append(fp32)
        if quantize == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            int8 = folder / FILES["onnx-int8"]
            with atomic_path(int8, keep_suffix=True) as tmp, _quiet():
                # per output channel; on `best` (2,000 validation tweets) that kept accuracy and macro F1 within
                # 0.2 points of float32, where 7-bit weights (reduce_range) lost 0.4
                quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
                _stamp(onnx, tmp, weights_sha256, "int8")
            written.append(int8)
    finally:
        net.train(was_training)
    return written
