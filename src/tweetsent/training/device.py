"""Where tensors live: ``train.device`` ("auto", "cpu", "cuda", "cuda:N") as a torch.device, and batches moved there.

    device = resolve_device("auto")        # cuda when torch.cuda.is_available(), else cpu
    xb = X[0:64].to(device)                # a tensor, or featurizer Inputs (dense part and n-gram bag)
    with autocast(device, enabled=True):   # bfloat16 autocast on that device's type; nothing when off
        scores = net(xb)

Every model trains and predicts through these with the device as a parameter, so the code that
runs on a GPU is the code the CPU tests run. On the CPU, moving a tensor returns the tensor
itself: results are the same, bit for bit, as code that never names a device. Weights are saved
from CPU tensors and loaded onto the CPU first, then moved: a model trained on a GPU loads on a
machine without one.
"""

from __future__ import annotations

import contextlib
import re

import torch

from tweetsent.config.settings import DEVICES
from tweetsent.errors import ConfigError

__all__ = ["resolve_device", "autocast", "module_device", "bf16_supported"]

def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """The torch.device that ``spec`` names: "auto" is ``cuda`` when torch sees a CUDA GPU, else ``cpu``.

    Raises
    ------
    ConfigError
        For a value that is not auto, cpu, cuda or cuda:N, and for cuda on a machine where torch
        sees no CUDA GPU (or not that many).
    """
    if isinstance(spec, torch.device):
        return spec
    spec = str(spec)
    if not re.fullmatch(DEVICES, spec):
        raise ConfigError(f"device {spec!r} (--device, train.device) is not one of: auto, cpu, cuda, cuda:N")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"device {spec!r} (--device, train.device): torch sees no CUDA GPU on this machine; "
                          f"use auto or cpu")
    device = torch.device(spec)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"device {spec!r} (--device, train.device): torch sees {torch.cuda.device_count()} CUDA "
                          f"GPU(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return device


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's parameters (the CPU for a module without any)."""
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def bf16_supported(device: torch.device) -> bool:
    """Whether bfloat16 autocast runs fast on ``device``: a CUDA GPU that supports it, a CPU with AVX-512 BF16 or AMX."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast on ``device``'s type when ``enabled``; no context at all otherwise."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
