"""Training progress on stderr: a live bar on a terminal, one line per epoch elsewhere.

    fit(..., callbacks=[EpochProgress(name="seed-prelu")])
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tweetsent.training.loop import Callback
from tweetsent.util.console import stderr_console

__all__ = ["EpochProgress"]


def _summary(record: dict) -> str:
    parts = [f"train loss {record['train_loss']:.4f}"]
    if "val_loss" in record:
        parts += [f"val loss {record['val_loss']:.4f}", f"val acc {record['val_accuracy']:.3f}",
                  f"val F1 {record['val_f1_macro']:.3f}"]
    return "  ".join(parts)


class EpochProgress(Callback):
    """Epochs and batches as they happen, with the latest losses and validation F1."""

    def __init__(self, name: str = "train", console: Console | None = None) -> None:
        self.name = name
        self.console = console or stderr_console()
        self._progress: Progress | None = None
        self._live = self.console.is_terminal

    def on_train_begin(self, epochs: int, batches_per_epoch: int) -> None:
        self.epochs = epochs
        if self._live:
            self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TextColumn("{task.fields[info]}"), console=self.console)
            self._progress.start()
            self._task = self._progress.add_task(self.name, total=epochs * batches_per_epoch, info="")

    def on_batch_end(self, epoch: int, batch: int) -> None:
        if self._progress:
            self._progress.advance(self._task)

    def on_epoch_end(self, record: dict, model) -> None:
        member = f"{record['member']}: " if "member" in record else ""  # an ensemble member's own epochs
        line = f"{member}epoch {record.get('member_epoch', record['epoch'])}/{self.epochs}  {_summary(record)}"
        if self._progress:
            self._progress.update(self._task, info=line)
        else:
            print(f"{self.name}: {line}", file=sys.stderr, flush=True)

    def on_train_end(self, history, model) -> None:
        self.close()

    def close(self) -> None:
        if self._progress:
            self._progress.stop()
            self._progress = None
