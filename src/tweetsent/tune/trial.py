"""One trial of a study: draw a config, train it on the inner split, report, prune, record.

    state, value = run_trial(study, study.ask(), space, ctx)   # "complete", "pruned" or "failed"; ctx: see tune.run_tune

Trials are scored on rows carved from the training file (`inner_splits`), never on the
validation file. Each epoch's inner-split score goes to Optuna, which may prune the trial; the
trial is then logged ``finished`` with a note saying at which epoch and why. Training runs in a
thread so that the main thread keeps `SignalStop`: the first Ctrl-C lets the trial finish, the
second aborts it (logged ``interrupted``).
"""

from __future__ import annotations

import signal
import threading
import time

import numpy as np

from tweetsent.config.settings import RunConfig
from tweetsent.errors import ConfigError, DataError, TweetsentError
from tweetsent.training.loop import Callback, SignalCatcher
from tweetsent.tune.space import SearchSpace

__all__ = ["SignalStop", "TuneInterrupted", "inner_splits", "run_trial"]


class TuneInterrupted(TweetsentError):
    """Ctrl-C (or SIGTERM) stopped the search; the study stays resumable."""

    exit_code = 130


# -- the inner split ----------------------------------------------------------------------------


def inner_splits(labels: np.ndarray, val_fraction: float = 0.15, cv: int | None = None,
                 seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, validation rows) pairs carved from the training file, stratified and seeded.

    One pair for a held-out ``val_fraction``; ``cv`` pairs for k-fold cross-validation.
    """
    from sklearn.model_selection import StratifiedKFold, train_test_split

    rows = np.arange(len(labels))
    try:
        if cv:
            if cv < 2:
                raise ConfigError(f"--cv {cv}: give at least 2 folds")
            return list(StratifiedKFold(cv, shuffle=True, random_state=seed).split(rows, labels))
        if not 0 < val_fraction < 1:
            raise ConfigError(f"--val-fraction {val_fraction}: give a share in (0, 1), e.g. 0.15")
        fit, held = train_test_split(rows, test_size=val_fraction, stratify=labels, random_state=seed)
        return [(np.sort(fit), np.sort(held))]
    except ValueError as exc:
        raise DataError(f"the training file is too small to split this way ({exc}); "
                        f"use a larger --val-fraction or fewer --cv folds") from exc


# -- one trial ----------------------------------------------------------------------------------


class SignalStop(SignalCatcher):
    """Ctrl-C once: finish the trial that is running, then stop. Twice: abort that trial too."""

    def __init__(self) -> None:
        super().__init__()
        self.requested = False
        self.aborted = False
        self.signal_name = "SIGINT"

    def _handle(self, signum, frame) -> None:
        self.signal_name = signal.Signals(signum).name
        if self.requested:
            self.aborted = True
        self.requested = True


class _Aborted(Exception):
    """A second Ctrl-C inside a trial."""


class _Judge(Callback):
    """Reports each epoch's inner-split score to Optuna; stops the trial when it is pruned,
    when the time budget runs out, or on a second Ctrl-C."""

    def __init__(self, trial, metric: str, deadline: float | None, stop: SignalStop) -> None:
        self.trial, self.key, self.deadline, self.stop = trial, f"val_{metric}", deadline, stop
        self.pruned_at: int | None = None
        self.reason = ""

    def on_batch_end(self, epoch: int, batch: int) -> None:
        if self.stop.aborted:
            raise _Aborted(f"{self.stop.signal_name} twice")

    def on_epoch_end(self, record: dict, model) -> bool:
        self.trial.report(record[self.key], record["epoch"])
        if self.trial.should_prune():
            self.pruned_at, self.reason = record["epoch"], "pruned by the pruner: its score was below the median"
        elif self.deadline is not None and time.time() >= self.deadline:
            self.pruned_at, self.reason = record["epoch"], "stopped by the time budget (--timeout)"
        return self.pruned_at is not None


class _LogEpochs(Callback):
    def __init__(self, log, run_id: str) -> None:
        self.log, self.run_id = log, run_id

    def on_epoch_end(self, record: dict, model) -> None:
        self.log.add_epoch(self.run_id, record)


def _in_thread(fn):
    """Run ``fn`` in a thread so that the main thread keeps the Ctrl-C handler (training installs
    its own, which would end the trial at once, only on the main thread)."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.2)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _fit_and_score(cfg: RunConfig, data, splits, judge: _Judge, log_cb) -> tuple[dict, object]:
    """Train on each split's training rows and score its held-out rows; scalars averaged over folds."""
    from tweetsent.evaluation.metrics import compute_metrics
    from tweetsent.models.classifier import TweetClassifier

    per_fold, first = [], None
    for k, (fit_rows, held_rows) in enumerate(splits):
        texts, held = [data.texts[i] for i in fit_rows], [data.texts[i] for i in held_rows]
        # Fold 1 is reported to the pruner and copied to the log; later folds just run.
        callbacks = [judge, log_cb] if k == 0 else [_AbortOnly(judge)]
        clf = TweetClassifier(cfg).fit(texts, data.labels[fit_rows], held, data.labels[held_rows], callbacks=callbacks)
        per_fold.append(compute_metrics(data.labels[held_rows], clf.predict_proba(held), clf.classes_))
        first = first or clf
        if judge.pruned_at is not None:
            break
    metrics = per_fold[0] if len(per_fold) == 1 else {
        key: float(np.mean([m[key] for m in per_fold])) for key in ("accuracy", "f1_macro", "f1_weighted", "loss")}
    if len(per_fold) > 1:
        metrics["folds"] = [{k: m[k] for k in ("accuracy", "f1_macro", "f1_weighted")} for m in per_fold]
    return metrics, first


class _AbortOnly(Callback):
    def __init__(self, judge: _Judge) -> None:
        self.judge = judge

    def on_batch_end(self, epoch: int, batch: int) -> None:
        self.judge.on_batch_end(epoch, batch)


def run_trial(study, trial, space: SearchSpace, ctx: dict) -> tuple[str, float | None]:
    """Sample, train, score and record one trial. Returns its state name and value."""
    from optuna.trial import TrialState

    try:
        cfg = space.sample(trial, name=f"{study.study_name}-t{trial.number}")
    except ConfigError as exc:
        trial.set_user_attr("error", str(exc))
        study.tell(trial, state=TrialState.FAIL)
        return "failed", None
    cfg.train.seed = ctx["seed"]
    if ctx["one_thread"]:
        cfg.train.threads = 1  # several workers share the cores; more threads only oversubscribe
    if ctx.get("device"):
        cfg.train.device = ctx["device"]  # this process's --device; each worker may have its own
    trial.set_user_attr("config", cfg.to_dict())
    log, judge = ctx["log"], _Judge(trial, ctx["metric"], ctx["deadline"], ctx["stop"])
    run_id = log.start(kind="trial", config=cfg.to_dict(), data={"train": ctx["train_path"]},
                       fingerprints=ctx["fingerprints"], name=cfg.name, study=study.study_name)
    trial.set_user_attr("run_id", run_id)
    try:
        metrics, clf = _in_thread(lambda: _fit_and_score(cfg, ctx["data"], ctx["splits"], judge,
                                                         _LogEpochs(log, run_id)))
    except (_Aborted, KeyboardInterrupt) as exc:
        log.fail(run_id, "interrupted", f"tune stopped by {ctx['stop'].signal_name} during the trial")
        study.tell(trial, state=TrialState.FAIL)
        raise TuneInterrupted(f"tune aborted by a second {ctx['stop'].signal_name} during trial #{trial.number} "
                              f"(logged as interrupted); the finished trials are stored; resume with the same "
                              f"command (study {study.study_name})") from exc
    except Exception as exc:
        log.fail(run_id, "failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        trial.set_user_attr("error", str(exc))
        study.tell(trial, state=TrialState.FAIL)
        if isinstance(exc, TweetsentError):
            raise  # a data or embedding problem: every trial would hit it
        return "failed", None
    scores = {k: metrics[k] for k in ("accuracy", "f1_macro", "f1_weighted", "loss")}
    trial.set_user_attr("metrics", scores)
    trial.set_user_attr("epochs", len(clf.history_))
    trial.set_user_attr("best_epoch", clf.best_epoch_)  # the final retrain runs this many epochs
    log.finish(run_id, metrics=metrics, best_epoch=clf.best_epoch_)
    value = metrics[ctx["metric"]]
    if judge.pruned_at is not None:
        note = f"pruned at epoch {judge.pruned_at}: {judge.reason}; scores are the model at that epoch"
        log.note(run_id, note)
        trial.set_user_attr("pruned", note)
        study.tell(trial, state=TrialState.PRUNED)
        return "pruned", value
    study.tell(trial, value)
    return "complete", value
