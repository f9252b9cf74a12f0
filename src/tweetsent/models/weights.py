"""Model weights on disk: safetensors only, never a pickle.

    write_weights(folder / "model.safetensors", net.state_dict())
    tensors = read_weights(folder / "model.safetensors")     # ModelError when missing or corrupt

Weights are written from host-memory copies and read into host memory (safetensors' ``device="cpu"``,
torch.load's ``map_location``): a model trained on a GPU loads on a machine without one, and is
moved to its device afterwards.
"""

from __future__ import annotations

from pathlib import Path

import torch

from tweetsent.errors import ModelError
from tweetsent.util.files import atomic_path

__all__ = ["write_weights", "read_weights", "weights_mismatch"]


def write_weights(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Save ``tensors`` (on any device) to ``path`` atomically, with the same permissions as every other run file."""
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:  # which gives the file the umask's permissions, as every run file has
        save_file({k: v.cpu().contiguous() for k, v in tensors.items()}, str(tmp))


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors saved at ``path``, in host memory; ModelError naming the file when it is missing or corrupt."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise weights_mismatch(path, exc) from exc


def weights_mismatch(path: Path, exc: Exception) -> ModelError:
    """The error for weights that cannot be read, or do not fit the model the config describes."""
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ModelError(f"{path}: corrupt or mismatched weights ({detail}); retrain or restore the run")
