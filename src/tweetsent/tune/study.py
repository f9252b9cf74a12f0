"""Hyperparameter search: Optuna trials over a search space, scored honestly, logged, resumable.

    result = run_tune(TuneOptions(space="seed-space", train="train.csv", val="val.csv", n_trials=20))
    result.summary()["val_metrics"]["f1_macro"], result.final_run_dir

Honest selection: every trial is scored on a stratified, seeded split carved from the training
file (or by ``cv``-fold cross-validation on it); the validation file is read once, at the end,
to score the best trial's config retrained on the whole training file (a normal run directory).

Each trial is a run in the experiment log (kind ``trial``, the study's name). A pruned trial is
logged ``finished`` with its scores at the epoch it was stopped and a note saying so; a trial
whose training raised is ``failed`` (one whose drawn settings do not fit together is failed
in the study only: it has no valid config to log). The study
lives in Optuna RDB storage (default ``sqlite:///<runs_dir>/tune.db``), so running the command
again with the same ``study`` resumes it, and workers anywhere that reach the same database
join it. Worker processes (``jobs``) and remote ``--worker`` processes only run trials; the
process that started the command waits for them and alone retrains the best config.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tweetsent.errors import ConfigError, DataError, TweetsentError
from tweetsent.tune.finish import best_config, finish_study
from tweetsent.tune.space import SearchSpace, load_space, space_from_dict
from tweetsent.tune.trial import SignalStop, TuneInterrupted, inner_splits, run_trial
from tweetsent.util.dburl import safe_url, with_pg_driver

__all__ = ["METRICS", "TuneInterrupted", "TuneOptions", "TuneResult", "best_config", "inner_splits", "run_tune"]

METRICS = ("f1_macro", "f1_weighted", "accuracy")  # scores every epoch reports, so pruning can compare them
_FAILURES_IN_A_ROW = 3  # a study that fails this often in a row has a problem no new draw will fix


@dataclass
class TuneOptions:
    """Everything one ``tweetsent tune`` (or ``--worker``) process needs; see the CLI for each."""

    train: Path
    space: str | Path | None = None  # a worker may leave it out: the study holds its space
    val: Path | None = None  # read once, by the final retrain; not needed by workers
    fixed: list[str] = field(default_factory=list)  # --set: pinned, no longer searched
    study: str | None = None  # default: the space file's name
    storage: str | None = None  # default: sqlite:///<runs_dir>/tune.db
    n_trials: int | None = 20  # new trials this command aims for (None: until the timeout)
    timeout: float | None = None  # seconds; then no trial starts and a running one stops at its next epoch
    jobs: int = 1  # worker processes on this machine, this one included
    metric: str | None = None  # default f1_macro; a worker takes the study's
    val_fraction: float | None = None  # default 0.15
    cv: int | None = None  # k-fold cross-validation on the training file instead of one split
    seed: int | None = None  # default 0: seeds the sampler, the split and every trial's training
    out: Path | None = None  # default <runs_dir>/tune-<study>
    runs_dir: Path = Path("runs")
    log_url: str | None = None
    worker: bool = False  # only run trials: no final retrain, no report
    worker_index: int | None = None  # set for --jobs workers; a remote worker draws one from its pid
    until_trial: int | None = None  # internal: stop once the study holds this many trials
    deadline: float | None = None  # internal: the command's deadline (Unix time), shared with its --jobs workers
    device: str | None = None  # --device: where this process trains trials and the final run (None: the space's train.device)
    echo: object = None  # callable(str) for progress lines; default stderr


@dataclass
class TuneResult:
    study: str
    storage: str
    metric: str
    selection: str  # how trials were scored, in words
    counts: dict  # complete / pruned / failed trials in the study
    best: dict | None = None  # number, config, inner score and inner metrics of the best trial
    final_run_dir: Path | None = None
    final_run_id: str | None = None
    val_metrics: dict | None = None  # the best config retrained, scored on the --val file
    importances: dict = field(default_factory=dict)
    importance_note: str = ""
    files: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """The ``--json`` object."""
        scalars = {k: v for k, v in (self.val_metrics or {}).items() if isinstance(v, (int, float))}
        return {
            "study": self.study, "storage": self.storage, "metric": self.metric, "selection": self.selection,
            "best_trial": self.best["number"] if self.best else None,
            "best_config": self.best["config"] if self.best else None,
            "inner_score": self.best["value"] if self.best else None,
            "inner_metrics": self.best["metrics"] if self.best else None,
            "val_metrics": scalars or None, "final_run_dir": str(self.final_run_dir) if self.final_run_dir else None,
            "final_run_id": self.final_run_id, "n_trials": self.counts, "importances": self.importances,
            "files": {k: str(v) for k, v in self.files.items()},
        }  # fmt: skip


# -- the study ----------------------------------------------------------------------------------


def _optuna():
    try:
        import optuna
    except ImportError as exc:
        raise ConfigError("tweetsent tune needs Optuna: pip install 'tweetsent[tune]'") from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _storage(optuna, url: str):
    """RDB storage; SQLite waits for a busy database instead of failing (several local workers)."""
    url = with_pg_driver(url)
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    except Exception as exc:  # sqlalchemy / driver errors: an unreachable or unusable database
        raise DataError(f"cannot open the study storage {safe_url(url)}: {str(exc).splitlines()[0]}") from exc


_STUDY_DEFAULTS = {"metric": "f1_macro", "val_fraction": 0.15, "cv": None, "seed": 0}


def _load_study(optuna, storage, name: str):
    """The stored study of that name, or None."""
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None


def _open_study(optuna, opts: TuneOptions, storage, stored, sampler_seed: int):
    """Create or load the study. A new one records its space and settings; a resumed one, or a
    worker joining it, uses them: options left out are taken from the study, others must match."""
    name = opts.study
    attrs = stored.user_attrs if stored is not None else {}
    if opts.worker and stored is None:
        raise ConfigError(f"no study {name!r} in {safe_url(str(opts.storage))}; start it with `tweetsent tune` "
                          f"(without --worker) first")
    if stored is not None and "space_fingerprint" not in attrs:
        raise ConfigError(f"study {name!r} was not made by tweetsent tune; name another with --study")
    if opts.space is not None:
        space = load_space(opts.space, opts.fixed)
        if attrs and attrs["space_fingerprint"] != space.fingerprint():
            raise ConfigError(f"study {name!r} was started with another search space (or other --set values); "
                              f"resume it with the same ones{' or leave --space out' if opts.worker else ''}, "
                              f"or name a new study with --study")
    else:
        space = space_from_dict(attrs["space"], f"study {name}")
    settings = {}
    for key, default in _STUDY_DEFAULTS.items():
        given = getattr(opts, key)
        if attrs and given is not None and given != attrs[key]:
            raise ConfigError(f"--{key.replace('_', '-')} {given} differs from study {name!r}'s {attrs[key]}; "
                              f"leave it out to use the study's, or name a new study with --study")
        settings[key] = attrs[key] if attrs else default if given is None else given
    if settings["metric"] not in METRICS:
        raise ConfigError(f"--metric {settings['metric']!r} is not one of: {', '.join(METRICS)}")
    search = space.search
    sampler = optuna.samplers.TPESampler(seed=sampler_seed, n_startup_trials=search["sampler_startup_trials"])
    pruner = {"median": lambda: optuna.pruners.MedianPruner(search["pruner_startup_trials"],
                                                            search["pruner_warmup_epochs"]),
              "halving": lambda: optuna.pruners.SuccessiveHalvingPruner(max(1, search["pruner_warmup_epochs"]), 3),
              "none": optuna.pruners.NopPruner}[search["pruner"]]()
    study = optuna.create_study(storage=storage, study_name=name, sampler=sampler, pruner=pruner,
                                direction="maximize", load_if_exists=True)
    if "space_fingerprint" not in study.user_attrs:
        for key, value in {"space": space.to_dict(), "space_fingerprint": space.fingerprint(), **settings}.items():
            study.set_user_attr(key, value)
    return study, space, settings


def _counts(study, first: int = 0) -> dict:
    from optuna.trial import TrialState

    trials = [t for t in study.get_trials(deepcopy=False) if t.number >= first]
    states = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "failed": TrialState.FAIL,
              "running": TrialState.RUNNING}
    return {name: sum(t.state == s for t in trials) for name, s in states.items()}


def _worker_args(opts: TuneOptions, storage_url: str, index: int, deadline: float | None, until: int | None) -> list:
    """The command that starts one ``--jobs`` worker process (`tweetsent.tune.worker`) on this study."""
    worker = TuneOptions(train=opts.train, study=opts.study, storage=storage_url, runs_dir=opts.runs_dir,
                         log_url=opts.log_url, worker=True, worker_index=index, deadline=deadline, until_trial=until,
                         n_trials=opts.n_trials if until is not None else None, device=opts.device)
    fields = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(worker).items() if k != "echo"}
    return [sys.executable, "-m", "tweetsent.tune.worker", json.dumps(fields)]


def _work(study, space: SearchSpace, ctx: dict, until: int | None, first: int, n_new: int | None) -> None:
    """Run trials in this process until the trial count, the deadline or Ctrl-C says stop."""
    stop, echo, deadline = ctx["stop"], ctx["echo"], ctx["deadline"]
    failures = 0
    while not stop.requested and (deadline is None or time.time() < deadline):
        if until is not None and len(study.get_trials(deepcopy=False)) >= until:
            break
        trial = study.ask()
        started = time.perf_counter()
        state, value = run_trial(study, trial, space, ctx)
        failures = failures + 1 if state == "failed" else 0
        done = _counts(study, first)
        finished = done["complete"] + done["pruned"] + done["failed"]
        line = f"{ctx['prefix']}trial {finished}{f' of {n_new}' if n_new else ''} (#{trial.number}): "
        if state == "failed":
            line += f"failed: {str(study.get_trials(deepcopy=False)[trial.number].user_attrs.get('error', ''))[:160]}"
        else:
            line += f"{'pruned, ' if state == 'pruned' else ''}{ctx['metric']} {value:.4f}"
        line += f" in {time.perf_counter() - started:.1f} s"
        with contextlib.suppress(ValueError):  # no complete trial yet
            line += f" | best {study.best_value:.4f} (#{study.best_trial.number})"
        if deadline is not None:
            left = max(0, int(deadline - time.time()))
            line += f" | {left // 60}m{left % 60:02d}s left"
        echo(line)
        if failures >= _FAILURES_IN_A_ROW:
            raise TweetsentError(f"{failures} trials in a row failed; the last: "
                                 f"{study.get_trials(deepcopy=False)[trial.number].user_attrs.get('error')}")


def run_tune(opts: TuneOptions) -> TuneResult:
    """Run (or resume, or join) a study, then retrain the best config and write the report.

    Parameters
    ----------
    opts : TuneOptions
        The command's options.

    Returns
    -------
    TuneResult
        For a worker, only the study's counts.

    Raises
    ------
    TuneInterrupted
        After Ctrl-C; the finished trials are stored and the study can be resumed.
    """
    from tweetsent.data.tables import read_dataset
    from tweetsent.runlog.log import RunLog
    from tweetsent.util.files import sha256_file

    optuna = _optuna()
    echo = opts.echo or (lambda line: print(line, file=sys.stderr, flush=True))
    if opts.space is None and not opts.worker:
        raise ConfigError("give --space (a space file, or seed-space)")
    if opts.jobs < 1:
        raise ConfigError(f"--jobs {opts.jobs}: give at least 1")
    if opts.device:
        from tweetsent.training.device import resolve_device

        resolve_device(opts.device)  # cuda without a GPU fails here, not in every trial
    if not opts.worker and opts.val is None:
        raise ConfigError("give --val: the best config is retrained and scored on it once, at the end")
    if opts.worker and not opts.study:
        raise ConfigError("a --worker joins a study: give --study NAME (and the study's --storage)")
    opts.study = opts.study or Path(str(opts.space)).stem
    Path(opts.runs_dir).mkdir(parents=True, exist_ok=True)
    storage_url = opts.storage or f"sqlite:///{Path(opts.runs_dir) / 'tune.db'}"
    storage = _storage(optuna, storage_url)
    index = opts.worker_index if opts.worker_index is not None else (os.getpid() % 9973 if opts.worker else 0)
    stored = _load_study(optuna, storage, opts.study)
    seed0 = opts.seed if opts.seed is not None else stored.user_attrs.get("seed", 0) if stored is not None else 0
    existing = len(stored.get_trials(deepcopy=False)) if stored is not None else 0
    # Another seed per worker and per session: the same seed would redraw the same random start.
    study, space, settings = _open_study(optuna, opts, storage, stored, seed0 + 7919 * index + existing)
    first = len(study.get_trials(deepcopy=False))
    # --trials 0 runs no trial: it retrains the best so far and rewrites the report.
    until = opts.until_trial if opts.until_trial is not None else (
        first + opts.n_trials if opts.n_trials is not None else None)
    if opts.until_trial is not None and opts.n_trials is not None:
        first = opts.until_trial - opts.n_trials  # a --jobs worker counts the command's trials, not its own
    if until is None and opts.timeout is None and opts.deadline is None:
        raise ConfigError("give --trials or --timeout (or both): the search needs an end")
    deadline = opts.deadline or (time.time() + opts.timeout if opts.timeout else None)

    data_cfg = space.base["data"]
    data = read_dataset(opts.train, data_cfg["text_column"], data_cfg["label_column"], empty=data_cfg.get("empty", "error"))
    train_sha = sha256_file(opts.train)
    if study.user_attrs.get("train_sha256") is None:
        study.set_user_attr("train_sha256", train_sha)
    elif study.user_attrs["train_sha256"] != train_sha:
        raise DataError(f"{opts.train}: not the training file study {opts.study!r} uses (sha256 differs); "
                        f"every worker must search on the same data")
    splits = inner_splits(data.labels, settings["val_fraction"], settings["cv"], settings["seed"])
    selection = (f"{settings['cv']}-fold stratified cross-validation on {Path(opts.train).name}" if settings["cv"] else
                 f"a stratified {settings['val_fraction']:.0%} split of {Path(opts.train).name} "
                 f"({len(splits[0][1])} of {len(data)} tweets, seed {settings['seed']})")
    log = RunLog.open(opts.log_url, opts.runs_dir)
    fingerprints = {"train": train_sha}
    if ("embeddings" in space.base["features"]["input"] or "features.input" in space.params) and \
            "features.embeddings" not in space.params:
        from tweetsent.features.embeddings import load_embeddings

        spec = space.base["features"]["embeddings"]
        fingerprints["embeddings"] = load_embeddings(spec).fingerprint
    prefix = f"[worker {index}] " if opts.worker or opts.jobs > 1 else ""
    if not opts.worker:
        echo(f"study {opts.study} in {safe_url(storage_url)}: {first} trials so far; "
             f"{opts.n_trials or 'as many'} new trials{f' within {opts.timeout:.0f} s' if opts.timeout else ''}, "
             f"{opts.jobs} worker(s); trials scored by {settings['metric']} on {selection}")
    ctx = {"log": log, "data": data, "splits": splits, "metric": settings["metric"], "seed": settings["seed"],
           "deadline": deadline, "train_path": Path(opts.train).resolve(), "fingerprints": fingerprints,
           "echo": echo, "prefix": prefix, "one_thread": opts.worker or opts.jobs > 1, "device": opts.device}
    children = []
    with SignalStop() as stop:
        ctx["stop"] = stop
        try:
            for k in range(1, opts.jobs):
                children.append(subprocess.Popen(_worker_args(opts, storage_url, k, deadline, until),
                                                 stdout=subprocess.DEVNULL, start_new_session=True))
            _work(study, space, ctx, until, first, opts.n_trials)
        except BaseException:
            stop.requested = stop.aborted = True  # this process failed: the workers abort their trials too
            raise
        finally:
            _wait(children, stop)
    counts = _counts(study)
    result = TuneResult(opts.study, safe_url(storage_url), settings["metric"], selection, counts)
    if stop.requested:
        log.close()
        if opts.worker:
            raise TuneInterrupted(f"worker {index} stopped by {stop.signal_name} after its current trial; "
                                  f"study {opts.study} keeps every finished trial")
        raise TuneInterrupted(f"tune stopped by {stop.signal_name}; {counts['complete']} complete trial(s) are "
                              f"stored; resume with the same command (study {opts.study})")
    if any(child.returncode not in (0, None) for child in children):
        raise TweetsentError(f"{sum(c.returncode != 0 for c in children)} worker process(es) failed; "
                             f"see their messages above")
    if opts.worker:
        log.close()
        return result
    try:
        return finish_study(result, study, opts, log)
    finally:
        log.close()


def _wait(children: list, stop: SignalStop) -> None:
    """Wait for the worker processes, passing on each Ctrl-C (they run in their own session)."""
    told = 0
    while any(child.poll() is None for child in children):
        wanted = 2 if stop.aborted else 1 if stop.requested else 0
        for _ in range(wanted - told):
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGINT)
        told = max(told, wanted)
        time.sleep(0.2)

