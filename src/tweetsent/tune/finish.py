"""The end of a study: retrain the best config, score it once on --val, and write what was found.

    result = finish_study(result, study, opts, log)   # called by tweetsent.tune.study.run_tune
    # OUT/best.toml, OUT/trials.csv, OUT/tune_report.html, OUT/tune.json

The best trial's config is retrained on the whole training file as a normal run (through
`tweetsent.runs.workflow.train_run`), so the validation file is read once, here, and never chose
anything. The study's trials, each parameter's importance and the two scores then go to
`tweetsent.tune.report`, which only renders them.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from tweetsent.config.resolve import config_from_dict
from tweetsent.config.settings import RunConfig
from tweetsent.errors import TweetsentError
from tweetsent.tune.report import write_report
from tweetsent.util.files import atomic_path, atomic_write_json, atomic_write_text

__all__ = ["best_config", "finish_study", "importances", "trial_rows"]

_MIN_TRIALS_FOR_IMPORTANCE = 4  # fANOVA on fewer finished trials says nothing


def best_config(study) -> RunConfig:
    """The best complete trial's config (as trained, seed included)."""
    return config_from_dict(study.best_trial.user_attrs["config"], f"study {study.study_name}, best trial")


def trial_rows(study) -> list[dict]:
    """One flat row per trial: number, state, inner scores, epochs, run id, then the drawn params."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        metrics = t.user_attrs.get("metrics", {})
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else None
        row = {"number": t.number, "state": t.state.name.lower(), "value": t.value,
               **{f"inner_{k}": metrics.get(k) for k in ("accuracy", "f1_macro", "f1_weighted", "loss")},
               "epochs": t.user_attrs.get("epochs"), "seconds": seconds, "run_id": t.user_attrs.get("run_id"),
               "note": t.user_attrs.get("pruned") or t.user_attrs.get("error")}
        row.update({f"param:{k}": v for k, v in t.params.items()})
        rows.append(row)
    return rows


def importances(study, seed: int = 0) -> tuple[dict, str]:
    """Each searched parameter's share of the score's variance across complete trials, and a note."""
    import optuna
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < _MIN_TRIALS_FOR_IMPORTANCE:
        return {}, (f"importances need at least {_MIN_TRIALS_FOR_IMPORTANCE} complete trials; "
                    f"this study has {len(complete)}")
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
        found = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (ValueError, RuntimeError) as exc:  # e.g. every complete trial drew the same values
        return {}, f"importances could not be computed: {str(exc).splitlines()[0]}"
    return {k: float(v) for k, v in found.items()}, (
        f"fANOVA over {len(complete)} complete trials (share of the score's variance; they sum to 1); pruned "
        f"trials are left out, so a setting whose bad values were all pruned can look unimportant")


def finish_study(result, study, opts, log):
    """Retrain the best trial's config and write the study's files.

    Parameters
    ----------
    result : tweetsent.tune.study.TuneResult
        The study's counts; filled in here (best trial, final run, scores, importances, files).
    study : optuna.Study
    opts : tweetsent.tune.study.TuneOptions
        ``train``, ``val``, ``out``, ``runs_dir``, ``seed``, ``device`` and ``echo`` are read.
    log : tweetsent.runlog.log.RunLog
        Where the final run is logged.

    Returns
    -------
    TuneResult
        ``result``, with ``best.toml``, ``trials.csv``, ``tune.json`` and ``tune_report.html``
        written into ``opts.out`` (default ``<runs_dir>/tune-<study>``).

    Raises
    ------
    TweetsentError
        When no trial of the study finished.
    """
    import pandas as pd

    from tweetsent.runs.workflow import train_run

    try:
        best = study.best_trial
    except ValueError:
        raise TweetsentError(f"no trial of study {result.study!r} finished ({result.counts['pruned']} pruned, "
                             f"{result.counts['failed']} failed); widen the space or give more --trials") from None
    cfg = best_config(study)
    cfg.name = f"{result.study}-best"
    # A trial may have run on another machine's GPU: best.toml gets the space's device, the retrain this process's.
    cfg.train.device = study.user_attrs.get("space", {}).get("base", {}).get("train", {}).get("device", "auto")
    stopped = ""
    if cfg.train.early_stopping:
        # Early stopping would pick the epoch by the --val file's loss; the inner split chose it instead,
        # so that --val only scores the final model.
        cfg.train.epochs, cfg.train.early_stopping = int(best.user_attrs["best_epoch"]), False
        stopped = (f"# Early stopping on the inner split chose {cfg.train.epochs} epochs; they are fixed here so that "
                   f"the --val file plays no part in training.\n")
    result.best = {"number": best.number, "value": best.value, "config": cfg.to_dict(),
                   "metrics": best.user_attrs.get("metrics", {})}
    out = Path(opts.out or Path(opts.runs_dir) / f"tune-{result.study}")
    out.mkdir(parents=True, exist_ok=True)
    header = (f"# Best config of study {result.study} (trial #{best.number}, {result.metric} {best.value:.4f} on "
              f"{result.selection}).\n{stopped}# Train it: tweetsent train --config best.toml --train ... --val ...\n")
    atomic_write_text(out / "best.toml", header + cfg.to_toml())
    echo = opts.echo or (lambda line: print(line, flush=True, file=sys.stderr))
    echo(f"best trial #{best.number}: {result.metric} {best.value:.4f} on the inner split; "
         f"retraining it on all of {Path(opts.train).name} and scoring it once on {Path(opts.val).name}")
    here = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, device=opts.device)) if opts.device else cfg
    final = train_run(here, opts.train, opts.val, runs_dir=opts.runs_dir, log=log, study=result.study)
    result.final_run_dir, result.final_run_id, result.val_metrics = final.run_dir, final.run_id, final.metrics
    result.importances, result.importance_note = importances(study, 0 if opts.seed is None else opts.seed)
    rows = trial_rows(study)
    with atomic_path(out / "trials.csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    result.files = {"best_toml": out / "best.toml", "trials_csv": out / "trials.csv",
                    "report": out / "tune_report.html", "summary": out / "tune.json"}
    write_report(out / "tune_report.html", result.summary(), rows, result.importances, result.importance_note)
    atomic_write_json(out / "tune.json", result.summary())
    return result
