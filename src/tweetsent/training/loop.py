"""The training loop: short, one comment per step, extended by callbacks.

    history = train_network(net, X, y, X_val, y_val, TrainConfig(epochs=5), callbacks=[EarlyStopping(3)])

``history`` is a list with one dict per epoch (train_loss, val_loss, val_accuracy, val_f1_macro,
val_f1_weighted, seconds): the one record that curves, the run log and reports all read.
``train_loss`` is the mean of the epoch's batch losses (dropout on); ``val_loss`` is the same
criterion on the validation set in eval mode.
"""

from __future__ import annotations

import copy
import math
import signal
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from tweetsent.config.settings import TrainConfig
from tweetsent.errors import ConfigError, TweetsentError
from tweetsent.evaluation.confusion import class_f1
from tweetsent.training.device import module_device

__all__ = ["Callback", "Renumbered", "EarlyStopping", "TimeBudget", "HoldoutLoss", "TrainingInterrupted", "train_network", "predict_scores", "epoch_scores",
           "make_criterion", "SignalCatcher", "make_optimizer", "class_weights", "TrainingDiverged", "check_finite", "schedule_warning"]


class TrainingInterrupted(Exception):
    """Ctrl-C (or SIGTERM) stopped training after a finished batch; ``history`` holds the epochs done."""

    def __init__(self, history: list[dict], signal_name: str) -> None:
        super().__init__(f"{signal_name} after {len(history)} finished epoch(s)")
        self.history = history
        self.signal_name = signal_name


class Callback:
    """Hooks into `train_network`; override what you need."""

    def on_train_begin(self, epochs: int, batches_per_epoch: int) -> None: ...

    def on_batch_end(self, epoch: int, batch: int) -> None: ...

    def on_epoch_end(self, record: dict, model: nn.Module) -> bool | None:
        """Return True to stop training after this epoch."""

    def on_train_end(self, history: list[dict], model: nn.Module) -> None: ...


class Renumbered(Callback):
    """A callback seen through one of several models trained in a row (ensemble members, a teacher then its
    student): epochs numbered on from ``offset``, the ``member`` named in each record."""

    def __init__(self, inner: Callback, offset: int, member: str) -> None:
        self.inner, self.offset, self.member = inner, offset, member

    def on_train_begin(self, epochs: int, batches_per_epoch: int) -> None:
        self.inner.on_train_begin(epochs, batches_per_epoch)

    def on_batch_end(self, epoch: int, batch: int) -> None:
        self.inner.on_batch_end(epoch, batch)

    def on_epoch_end(self, record: dict, model) -> bool | None:
        return self.inner.on_epoch_end({**record, "epoch": record["epoch"] + self.offset, "member": self.member,
                                        "member_epoch": record["epoch"]}, model)

    def on_train_end(self, history: list[dict], model) -> None:
        self.inner.on_train_end(history, model)


class EarlyStopping(Callback):
    """Stop when the monitored loss has not improved for ``patience`` epochs; restore the best epoch.

    ``monitor`` is a key of the epoch record: ``val_loss``, or ``holdout_loss`` (see `HoldoutLoss`)
    when the choice must not look at the reported file.
    """

    def __init__(self, patience: int = 5, monitor: str = "val_loss") -> None:
        self.patience = patience
        self.monitor = monitor
        self.best_loss = float("inf")
        self.best_epoch = 0
        self._best_state: dict | None = None

    def on_epoch_end(self, record: dict, model: nn.Module) -> bool:
        if record[self.monitor] < self.best_loss:
            self.best_loss, self.best_epoch = record[self.monitor], record["epoch"]
            self._best_state = copy.deepcopy(model.state_dict())
        return record["epoch"] - self.best_epoch >= self.patience

    def on_train_end(self, history: list[dict], model: nn.Module) -> None:
        if self._best_state is not None:
            model.load_state_dict(self._best_state)


class HoldoutLoss(Callback):
    """Adds ``holdout_loss`` to each epoch record: ``criterion(score(model), y)`` on held-out training tweets.

    Put it before the `EarlyStopping` that monitors it.
    """

    def __init__(self, score, y: torch.Tensor, criterion: nn.Module) -> None:
        self.score, self.y, self.criterion = score, y, criterion

    def on_epoch_end(self, record: dict, model: nn.Module) -> None:
        with torch.no_grad():
            record["holdout_loss"] = float(self.criterion(self.score(model), self.y))


class TimeBudget(Callback):
    """Stop when the next epoch would not fit in ``seconds`` (a loop may also stop mid-epoch: `exhausted`).

    ``clock`` (seconds, monotonic; default `time.perf_counter`) is injectable, so tests never
    depend on the machine's speed. `report` says whether the budget cut the planned schedule.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.perf_counter) -> None:
        self.seconds, self.clock = seconds, clock
        self.planned_steps = self.done_steps = 0
        self._start = self._epoch_start = clock()
        self._longest = 0.0
        self._over = False

    def on_train_begin(self, epochs: int, batches_per_epoch: int) -> None:
        self._start = self._epoch_start = self.clock()
        self.planned_steps += epochs * batches_per_epoch

    def on_batch_end(self, epoch: int, batch: int) -> None:
        self.done_steps += 1

    def elapsed(self) -> float:
        return self.clock() - self._start

    def exhausted(self) -> bool:
        return self.elapsed() >= self.seconds

    def on_epoch_end(self, record: dict, model: nn.Module) -> bool:
        now = self.clock()
        self._longest, self._epoch_start = max(self._longest, now - self._epoch_start), now
        return now - self._start + self._longest > self.seconds

    def on_train_end(self, history: list[dict], model: nn.Module) -> None:
        self._over = self.elapsed() + self._longest > self.seconds

    def report(self) -> dict:
        """``{"time_budget", "planned_steps", "done_steps", "cut"}``: ``cut`` when the budget ended training
        before the planned steps were done."""
        return {"time_budget": self.seconds, "planned_steps": self.planned_steps, "done_steps": self.done_steps,
                "cut": bool(self._over and self.done_steps < self.planned_steps)}


def schedule_warning(schedule: dict | None) -> str | None:
    """A sentence saying that a time budget cut the planned schedule (None when it did not)."""
    if not schedule or not schedule.get("cut"):
        return None
    if "members" in schedule:
        cut = [f"member {i + 1}: {m['done_steps']} of {m['planned_steps']} steps" for i, m in
               enumerate(schedule["members"]) if m and m["cut"]]
        return (f"train.time_budget cut the schedule ({'; '.join(cut)}); the model is not the one a full run "
                f"gives, see schedule in metrics.json")
    return (f"train.time_budget = {schedule['time_budget']:g} s cut the schedule: {schedule['done_steps']} of "
            f"{schedule['planned_steps']} steps trained; the model is not the one a full run gives (schedule in "
            f"metrics.json)")


class TrainingDiverged(TweetsentError):
    """The training loss became NaN or infinite: the settings (a learning rate too high) cannot train."""

    def __init__(self, epoch: int, loss: float, cfg: TrainConfig | None = None) -> None:
        lr = f" (train.lr = {cfg.lr:g})" if cfg is not None else ""
        super().__init__(f"the training loss became {loss} in epoch {epoch}{lr}; lower train.lr or check the "
                         f"settings, nothing was saved")


def check_finite(loss: torch.Tensor, epoch: int, cfg: TrainConfig | None = None) -> float:
    """The batch loss as a float; `TrainingDiverged` when it is NaN or infinite."""
    value = loss.item()
    if not math.isfinite(value):
        raise TrainingDiverged(epoch, value, cfg)
    return value


def class_weights(setting, y: np.ndarray, n_classes: int) -> torch.Tensor | None:
    """Loss weights per class: None, inverse frequency ("balanced"), or as given."""
    if isinstance(setting, list):
        if len(setting) != n_classes:
            raise ConfigError(f"train.class_weight has {len(setting)} weights but the data has {n_classes} classes")
        return torch.tensor(setting, dtype=torch.float32)
    if setting == "balanced":
        counts = np.bincount(y, minlength=n_classes).astype(np.float64)
        return torch.tensor(len(y) / (n_classes * np.maximum(counts, 1)), dtype=torch.float32)
    return None


def make_criterion(cfg: TrainConfig, weight: torch.Tensor | None) -> nn.Module:
    if cfg.loss == "multi_margin":
        return nn.MultiMarginLoss(weight=weight)
    if cfg.loss == "nll":
        return nn.NLLLoss(weight=weight)
    return nn.CrossEntropyLoss(weight=weight)


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    opt = torch.optim
    # foreach: one fused call per step for all parameters instead of a Python loop over them
    # (on CPU torch defaults to the loop; the small networks here are dominated by that overhead).
    common = {"lr": cfg.lr, "weight_decay": cfg.weight_decay, "foreach": True}
    if cfg.optimizer == "sgd":
        return opt.SGD(params, momentum=cfg.momentum, **common)
    if cfg.optimizer == "rmsprop":
        return opt.RMSprop(params, momentum=cfg.momentum, **common)
    classes = {"adam": opt.Adam, "adamw": opt.AdamW, "adamax": opt.Adamax, "radam": opt.RAdam,
               "nadam": opt.NAdam, "adagrad": opt.Adagrad, "adadelta": opt.Adadelta}
    return classes[cfg.optimizer](params, **common)


def epoch_scores(truth: np.ndarray, pred: np.ndarray, n_classes: int) -> dict:
    """Accuracy and macro / weighted F1 from one confusion matrix.

    `tweetsent.evaluation.confusion`: equal to scikit-learn's ``f1_score`` (zero_division=0), without
    its input checks, which cost more than the arithmetic every epoch.
    """
    f1, support = class_f1(truth, pred, n_classes)
    return {"val_accuracy": float((truth == pred).mean()) if len(truth) else 0.0, "val_f1_macro": float(f1.mean()),
            "val_f1_weighted": float((f1 * support).sum() / max(support.sum(), 1))}


@torch.no_grad()
def predict_scores(model: nn.Module, X: torch.Tensor, batch_size: int = 65536) -> torch.Tensor:
    """Raw outputs in eval mode, without gradients; (n, n_classes) in host memory, wherever the model is.

    ``X`` stays in host memory; each batch is moved to the model's device."""
    was_training = model.training
    model.eval()
    device = module_device(model)
    out = torch.cat([model(X[i:i + batch_size].to(device)).cpu()
                     for i in range(0, len(X), batch_size)]) if len(X) else torch.empty(0)
    model.train(was_training)
    return out


class SignalCatcher:
    """Catches SIGINT/SIGTERM while active (main thread only) and restores the old handlers.

    Subclasses say what a signal means in `_handle`.
    """

    def __init__(self) -> None:
        self._previous: dict = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        raise NotImplementedError

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class _StopFlag(SignalCatcher):
    """Turns SIGINT/SIGTERM into a flag the loop checks after each batch."""

    def __init__(self) -> None:
        super().__init__()
        self.signal_name: str | None = None

    def _handle(self, signum, frame) -> None:
        if self.signal_name is not None:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name


def train_network(model: nn.Module, X: torch.Tensor, y: torch.Tensor, X_val: torch.Tensor | None,
                  y_val: torch.Tensor | None, cfg: TrainConfig, callbacks: Sequence[Callback] = (),
                  targets: torch.Tensor | None = None) -> list[dict]:
    """Train ``model`` in place and return the per-epoch history.

    Parameters
    ----------
    model : nn.Module
        Maps (batch, dim) features to (batch, n_classes) scores. It trains where its parameters
        are (`tweetsent.training.device`): each batch is moved there.
    X, y : torch.Tensor
        (n, dim) float32 features and (n,) int64 class indices, in host memory.
    X_val, y_val : torch.Tensor or None
        Validation data, evaluated after every epoch.
    cfg : TrainConfig
        Loss, optimizer, schedule and seed.
    callbacks : sequence of Callback
        Progress, early stopping, logging.
    targets : torch.Tensor, optional
        (n, n_classes) probabilities to learn instead of ``y`` (distillation; cross-entropy only).
        ``y`` still sets the class weights.

    Returns
    -------
    list of dict
        One record per finished epoch.
    """
    device = module_device(model)
    n_classes = int(model(X[:2].to(device)).shape[1]) if len(X) > 1 else int(y.max()) + 1
    criterion = make_criterion(cfg, class_weights(cfg.class_weight, y.numpy(), n_classes)).to(device)
    optimizer = make_optimizer(cfg, model.parameters())
    generator = torch.Generator().manual_seed(cfg.seed)
    batches = range(0, len(X), cfg.batch_size)
    target = y if targets is None else targets
    history: list[dict] = []
    has_batch_norm = any(isinstance(m, nn.BatchNorm1d) for m in model.modules())
    for cb in callbacks:
        cb.on_train_begin(cfg.epochs, len(batches))
    model.train()
    with _StopFlag() as stop:
        for epoch in range(1, cfg.epochs + 1):
            started = time.perf_counter()
            # shuffle once per epoch; batches are then contiguous slices
            order = torch.randperm(len(X), generator=generator) if cfg.shuffle else None
            X_epoch, y_epoch = (X[order], target[order]) if order is not None else (X, target)
            total, seen = 0.0, 0
            for b, start in enumerate(batches):
                xb, yb = X_epoch[start:start + cfg.batch_size].to(device), y_epoch[start:start + cfg.batch_size].to(device)
                if len(yb) < 2 and has_batch_norm:
                    continue  # batch norm cannot normalise a single example
                # forward, loss, backward, step
                loss = criterion(model(xb), yb)
                value = check_finite(loss, epoch, cfg)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += value * len(yb)
                seen += len(yb)
                for cb in callbacks:
                    cb.on_batch_end(epoch, b)
                if stop.signal_name:
                    raise TrainingInterrupted(history, stop.signal_name)
            record = {"epoch": epoch, "train_loss": total / max(seen, 1)}
            if X_val is not None and len(X_val):
                # evaluate: same criterion in eval mode, plus the scores people watch
                scores = predict_scores(model, X_val)
                record["val_loss"] = float(criterion(scores.to(device), y_val.to(device)))
                record.update(epoch_scores(y_val.numpy(), scores.argmax(dim=1).numpy(), scores.shape[1]))
            record["seconds"] = time.perf_counter() - started
            history.append(record)
            stop_now = [cb.on_epoch_end(record, model) for cb in callbacks]
            if any(stop_now):
                break
    for cb in callbacks:
        cb.on_train_end(history, model)
    model.eval()
    return history
