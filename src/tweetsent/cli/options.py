"""Options several commands share: where a model runs (``--device``) and what runs it (``--engine``).

    def predict(run_dir: Path, device: DeviceOpt = "auto", engine: EngineOpt = "auto") -> None: ...

The values are checked by the library (`tweetsent.training.device.resolve_device`,
`tweetsent.models.onnx.check_engine`), which turns a wrong one into one ``error:`` line.
"""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["DeviceOpt", "TrainDeviceOpt", "EngineOpt"]

_DEVICES = "auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda or cuda:N"

DeviceOpt = Annotated[str, typer.Option("--device", help=f"Where the model predicts: {_DEVICES}. Any device, whichever it was trained on.")]
TrainDeviceOpt = Annotated[str | None, typer.Option("--device", help=f"Where models train and predict: {_DEVICES} (train.device; default: the config's, auto).", show_default=False)]
EngineOpt = Annotated[str, typer.Option("--engine", help="What runs a fine-tuned encoder: auto (its ONNX export when `tweetsent export` wrote one and the device is the CPU, the int8 copy first; else torch), torch, onnx or onnx-int8 (the export, or an error).")]
