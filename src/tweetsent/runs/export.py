"""Export a run's fine-tuned encoder to ONNX, beside its weights, for `predict`, `evaluate` and `serve` to run.

    written = export_run("runs/best", format="onnx", quantize="int8")
    # [.../model/members/0-minilm-finetune/model.onnx, .../model.int8.onnx]

The encoder of a ``finetune`` run is in ``RUN/model/``; an ensemble's are in its members' folders
(``RUN/model/members/<i>-<name>/`` when trained in one run, the member runs' own ``model/`` for
``tweetsent ensemble``). Network and softmax models have no encoder to export: a `ModelError` says so.
See `tweetsent.models.onnx` for the files and how they are checked.
"""

from __future__ import annotations

from pathlib import Path

from tweetsent.errors import ConfigError, ModelError
from tweetsent.models.finetune import FinetunedEncoder
from tweetsent.runs.workflow import load_run

__all__ = ["FORMATS", "export_run"]

FORMATS = ("onnx",)


def export_run(run_dir: str | Path, format: str = "onnx", quantize: str | None = None) -> list[Path]:
    """Write an ONNX copy of every fine-tuned encoder in ``run_dir`` (and its int8 copy with ``quantize="int8"``).

    Parameters
    ----------
    run_dir : str or Path
        A run directory (or model folder) whose model is, or contains, a fine-tuned encoder.
    format : {"onnx"}
        The export format.
    quantize : {"int8"}, optional
        Also write ONNX Runtime's dynamically int8-quantized copy.

    Returns
    -------
    list of Path
        The files written, each replacing an earlier export atomically.
    """
    if format not in FORMATS:
        raise ConfigError(f"--format {format!r} is not one of: {', '.join(FORMATS)}")
    clf = load_run(run_dir, device="cpu", engine="torch")
    encoders = [part for part in clf.model_.parts() if isinstance(part, FinetunedEncoder)]
    if not encoders:
        kinds = sorted({part.cfg.model.kind for part in clf.model_.parts()})
        raise ModelError(f"{run_dir}: nothing to export; ONNX export is for the fine-tuned encoder (model.kind = "
                         f"finetune) and this run has only {' and '.join(kinds)} models, which run fast on torch")
    return [path for encoder in encoders for path in encoder.export_onnx(quantize)]
