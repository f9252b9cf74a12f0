"""The ``tweetsent tune`` command: hyperparameter search that runs unattended and scales out.

    tweetsent tune --space seed-space --train train.csv --val val.csv --timeout 10m --jobs 2

Registered by the main CLI as ``app.command("tune")(tune)``. The search itself
lives in `tweetsent.tune.study`. Errors take the one path of `tweetsent.cli.exits` (one
``error: ...`` line on stderr, exit 2); Ctrl-C exits 130 with the study resumable.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer

from tweetsent.cli.exits import handle_errors
from tweetsent.cli.options import TrainDeviceOpt
from tweetsent.errors import ConfigError

__all__ = ["parse_duration", "tune"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``10m``, ``1h30m`` or ``2h``."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ConfigError(f"--timeout {text!r}: write a duration such as 600, 90s, 10m or 1h30m")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def _print_result(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"study {summary['study']}: best trial #{summary['best_trial']}")
    for col in ("score", "accuracy", "f1_macro", "f1_weighted", "what it is"):
        table.add_column(col, justify="left" if col in ("score", "what it is") else "right")
    inner, val = summary["inner_metrics"] or {}, summary["val_metrics"] or {}
    fmt = lambda m, k: "-" if m.get(k) is None else f"{m[k]:.4f}"
    table.add_row("inner split", *[fmt(inner, k) for k in ("accuracy", "f1_macro", "f1_weighted")],
                  f"what the search maximised ({summary['metric']}) on {summary['selection']}")
    table.add_row("--val file", *[fmt(val, k) for k in ("accuracy", "f1_macro", "f1_weighted")],
                  "best config retrained on the whole training file, scored once")
    console.print(table)
    n = summary["n_trials"]
    console.print(f"trials: {n['complete']} complete, {n['pruned']} pruned, {n['failed']} failed", highlight=False)
    if summary["importances"]:
        top = list(summary["importances"].items())[:6]
        console.print("importance: " + ", ".join(f"{k} {v:.2f}" for k, v in top), highlight=False)
    files = summary["files"]
    console.print(f"final run: {summary['final_run_dir']}\nbest config: {files['best_toml']}\n"
                  f"report: {files['report']}\ntrials: {files['trials_csv']}", highlight=False)


@handle_errors(interrupted="the study is stored: rerun the same command to resume it")
def tune(
    space: Annotated[str | None, typer.Option("--space", help="Search space: a TOML file (docs/tune.md) or seed-space. A --worker may leave it out.")] = None,
    train_file: Annotated[Path, typer.Option("--train", help="Labelled training table; trials are scored on a split of it.")] = ...,
    val_file: Annotated[Path | None, typer.Option("--val", help="Labelled validation table, read once: to score the best config retrained.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="Pin a setting (section.key=value) and take it out of the search. Repeatable.")] = None,
    trials: Annotated[int | None, typer.Option("--trials", "-n", help="New trials to run (default 20, or unlimited with --timeout).")] = None,
    timeout: Annotated[str | None, typer.Option("--timeout", help="Time budget, e.g. 10m or 1h: then no trial starts and a running one stops at its next epoch.")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Worker processes on this machine (each on one thread).")] = 1,
    study: Annotated[str | None, typer.Option("--study", help="Study name; running again with it resumes the study (default: the space's name).")] = None,
    storage: Annotated[str | None, typer.Option("--storage", envvar="TWEETSENT_TUNE_STORAGE", help="Optuna storage URL (default sqlite:///RUNS_DIR/tune.db; postgresql://... to share between machines).")] = None,
    metric: Annotated[str | None, typer.Option("--metric", help="What trials maximise: f1_macro (default), f1_weighted or accuracy.")] = None,
    val_fraction: Annotated[float | None, typer.Option("--val-fraction", help="Share of the training file held out to score trials (default 0.15).")] = None,
    cv: Annotated[int | None, typer.Option("--cv", help="Score trials by K-fold cross-validation on the training file instead.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seeds the sampler, the split and every trial (default 0).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for best.toml, trials.csv, tune_report.html (default RUNS_DIR/tune-STUDY).")] = None,
    runs_dir: Annotated[Path, typer.Option("--runs-dir", envvar="TWEETSENT_RUNS_DIR", help="Where run directories, the log and the default study storage go.")] = Path("runs"),
    log_url: Annotated[str | None, typer.Option("--log-url", envvar="TWEETSENT_LOG_URL", help="Experiment log database URL (default: sqlite under --runs-dir).")] = None,
    worker: Annotated[bool, typer.Option("--worker", help="Only run trials of an existing study (another machine's share); no retrain, no report.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object on stdout.")] = False,
    device: TrainDeviceOpt = None,
    worker_index: Annotated[int | None, typer.Option("--worker-index", hidden=True)] = None,
    until_trial: Annotated[int | None, typer.Option("--until-trial", hidden=True)] = None,
    deadline: Annotated[float | None, typer.Option("--deadline", hidden=True)] = None,
) -> None:
    """Search hyperparameters with Optuna, then retrain the best config and score it on --val once."""
    from tweetsent.runs.outputs import check_can_create
    from tweetsent.tune.study import TuneOptions, run_tune

    seconds = parse_duration(timeout) if timeout else None
    if out is not None and not worker:
        check_can_create(out, "--out")  # written after the search: refuse it before
    n_trials = trials if trials is not None else (None if seconds or deadline else 20)
    opts = TuneOptions(train=train_file, space=space, val=val_file, fixed=set_ or [], study=study,
                       storage=storage, n_trials=n_trials, timeout=seconds, jobs=jobs, metric=metric,
                       val_fraction=val_fraction, cv=cv, seed=seed, out=out, runs_dir=runs_dir, log_url=log_url,
                       worker=worker, worker_index=worker_index, until_trial=until_trial, deadline=deadline,
                       device=device)
    result = run_tune(opts)
    summary = result.summary()
    if worker:
        n = summary["n_trials"]
        typer.echo(f"worker done: study {summary['study']} has {n['complete']} complete, {n['pruned']} pruned, "
                   f"{n['failed']} failed trials", err=True)
        if as_json:
            typer.echo(json.dumps(summary))
        return
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        _print_result(summary)

