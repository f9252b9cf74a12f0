"""The end of a study: retrain the best config, score it once on --val, and write what was found.

    result = finish_study(result, study, opts, log)   # called by tune.run_tune
    # OUT/best.toml, OUT/trials.csv, OUT/tune_report.html, OUT/tune.json

The report is one self-contained HTML file (inline CSS, figures as base64 PNGs): the two scores
of the best config side by side with what each one means, the best config, every parameter's
importance (Optuna's fANOVA, or a note when too few trials finished), the optimisation history
and the best trials.
"""

from __future__ import annotations

import base64
import html
import io
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from tweetsent.errors import TweetsentError

__all__ = ["finish_study", "trial_rows", "importances", "write_report"]

_MIN_TRIALS_FOR_IMPORTANCE = 4  # fANOVA on fewer finished trials says nothing
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d232a;margin:0;background:#f6f7f9}
main{max-width:1120px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 10px;border-bottom:2px solid #e4e7eb;padding-bottom:4px}
.sub{color:#5b6570;margin:0 0 8px}table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #dde1e6;padding:4px 9px;text-align:right;vertical-align:top}
th{background:#f0f2f5;font-weight:600}td.l,th.l{text-align:left}.figs{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;max-width:calc(50% - 6px)}figure img{max-width:100%;border:1px solid #e4e7eb}
figcaption{font-size:12px;color:#5b6570;text-align:center}.note{color:#5b6570;font-style:italic}
"""


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


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _history_figure(rows: list[dict], metric: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for state, style in (("complete", {"color": "#0b5394", "marker": "o"}), ("pruned", {"color": "#9aa3ad", "marker": "x"})):
        pts = [(r["number"], r["value"]) for r in rows if r["state"] == state and r["value"] is not None]
        if pts:
            ax.scatter(*zip(*pts), label=f"{state} trials", s=22, **style)
    best, line = None, []
    for r in rows:
        if r["state"] == "complete" and r["value"] is not None:
            best = r["value"] if best is None else max(best, r["value"])
        line.append((r["number"], best))
    line = [p for p in line if p[1] is not None]
    if line:
        ax.step(*zip(*line), where="post", color="#c0392b", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{metric} on the inner split")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title("Optimisation history")
    return fig


def _importance_figure(found: dict):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(found)[::-1]
    fig, ax = plt.subplots(figsize=(6.4, 0.35 * len(names) + 1.2))
    ax.barh(names, [found[n] for n in names], color="#0b5394")
    ax.set_xlabel("importance (fANOVA)")
    ax.set_title("Hyperparameter importance")
    return fig


def _table(head: list[str], rows: list[list]) -> str:
    cells = "".join(f"<th{' class=l' if i == 0 else ''}>{html.escape(h)}</th>" for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f"<td{' class=l' if i == 0 else ''}>{html.escape(_fmt(v))}</td>"
                                    for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{cells}</tr>{body}</table>"


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return value if isinstance(value, str) else json.dumps(value)


def write_report(path: Path, summary: dict, rows: list[dict], found: dict, note: str) -> Path:
    """The self-contained HTML report of a finished study."""
    from tweetsent.util.files import atomic_path

    metric = summary["metric"]
    val = summary["val_metrics"] or {}
    inner = summary["inner_metrics"] or {}
    scores = _table(["score", "accuracy", "f1_macro", "f1_weighted", "what it is"], [
        ["inner split", inner.get("accuracy"), inner.get("f1_macro"), inner.get("f1_weighted"),
         f"best trial #{summary['best_trial']} on {summary['selection']}: the score the search maximised "
         f"({metric}), optimistic because it picked the best of many"],
        ["--val file", val.get("accuracy"), val.get("f1_macro"), val.get("f1_weighted"),
         "the best config retrained on the whole training file, scored once on the validation file"],
    ])
    config = _table(["key", "value"], [[f"{s}.{k}", v] for s, sec in summary["best_config"].items()
                                       if isinstance(sec, dict) for k, v in sec.items()])
    figs = [f'<figure><img alt="history" src="data:image/png;base64,{_png(_history_figure(rows, metric))}">'
            f"<figcaption>each trial's {html.escape(metric)} on the inner split</figcaption></figure>"]
    if found:
        figs.append(f'<figure><img alt="importance" src="data:image/png;base64,{_png(_importance_figure(found))}">'
                    f"<figcaption>{html.escape(note)}</figcaption></figure>")
    ranked = sorted([r for r in rows if r["state"] == "complete"], key=lambda r: -r["value"])[:10]
    params = sorted({k for r in ranked for k in r if k.startswith("param:")})
    best = _table(["trial", metric, "epochs", *[p[6:] for p in params]],
                  [[f"#{r['number']}", r["value"], r["epochs"], *[r.get(p) for p in params]] for r in ranked])
    n = summary["n_trials"]
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>tune: {html.escape(summary['study'])}</title>
<style>{_CSS}</style></head><body><main>
<h1>Study {html.escape(summary['study'])}</h1>
<p class="sub">{n['complete']} complete, {n['pruned']} pruned, {n['failed']} failed trials in {html.escape(summary['storage'])};
written {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; final run {html.escape(str(summary['final_run_dir']))}</p>
<h2>Scores of the best config</h2>{scores}
<h2>Best config</h2><p class="sub">also in best.toml: <code>tweetsent train --config best.toml</code></p>{config}
<h2>Search</h2><div class="figs">{''.join(figs)}</div>
{'' if found else f'<p class="note">{html.escape(note)}</p>'}
{_table(['parameter', 'importance'], [[k, v] for k, v in found.items()]) if found else ''}
<h2>Best trials</h2>{best}
</main></body></html>"""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return path


def finish_study(result, study, opts, log):
    """Retrain the best trial's config on the whole training file, score it on ``opts.val``, write
    ``best.toml``, ``trials.csv``, ``tune.json`` and ``tune_report.html`` into the output folder."""
    import pandas as pd

    from tweetsent.util.files import atomic_path, atomic_write_json
    from tweetsent.runs.workflow import train_run
    from tweetsent.tune.study import best_config

    try:
        best = study.best_trial
    except ValueError:
        raise TweetsentError(f"no trial of study {result.study!r} finished ({result.counts['pruned']} pruned, "
                             f"{result.counts['failed']} failed); widen the space or give more --trials") from None
    cfg = best_config(study)
    cfg.name = f"{result.study}-best"
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
    with atomic_path(out / "best.toml") as tmp:
        Path(tmp).write_text(header + cfg.to_toml(), encoding="utf-8")
    echo = opts.echo or (lambda line: print(line, flush=True, file=sys.stderr))
    echo(f"best trial #{best.number}: {result.metric} {best.value:.4f} on the inner split; "
         f"retraining it on all of {Path(opts.train).name} and scoring it once on {Path(opts.val).name}")
    final = train_run(cfg, opts.train, opts.val, runs_dir=opts.runs_dir, log=log, study=result.study)
    result.final_run_dir, result.final_run_id, result.val_metrics = final.run_dir, final.run_id, final.metrics
    result.importances, result.importance_note = importances(study, 0 if opts.seed is None else opts.seed)
    rows = trial_rows(study)
    with atomic_path(out / "trials.csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    result.files = {"best_toml": out / "best.toml", "trials_csv": out / "trials.csv",
                    "report": out / "tune_report.html", "summary": out / "tune.json"}
    summary = result.summary()
    write_report(out / "tune_report.html", summary, rows, result.importances, result.importance_note)
    atomic_write_json(out / "tune.json", result.summary())
    return result
