"""The report of a finished study: one self-contained HTML file, rendered from what the study found.

    write_report(out / "tune_report.html", result.summary(), trial_rows(study), found, note)

The page (template ``tune_report.html.j2``, the stylesheet all reports share, figures as base64
PNGs) shows the two scores of the best config side by side with what each one means, the best
config, every parameter's importance (Optuna's fANOVA, or a note when too few trials finished),
the optimisation history and the best trials. This module only renders: `tweetsent.tune.finish`
retrains the best config and gathers what is shown here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tweetsent.reporting.plots import (
    figure_png,
    importance_figure,
    search_history_figure,
)
from tweetsent.reporting.render import render
from tweetsent.util.files import atomic_write_text

__all__ = ["write_report"]

_BEST_TRIALS = 10  # rows of the best-trials table
_DPI = 110


def _fmt(value) -> str:
    """How a cell reads: 4 decimals for scores, text as is, anything else (ints, lists) as JSON."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return value if isinstance(value, str) else json.dumps(value)


def write_report(path: Path, summary: dict, rows: list[dict], found: dict, note: str) -> Path:
    """Write the self-contained HTML report of a finished study.

    Parameters
    ----------
    path : Path
        The HTML file; replaced atomically.
    summary : dict
        `TuneResult.summary()` of the study, after the final retrain.
    rows : list of dict
        One per trial, as `tweetsent.tune.finish.trial_rows` gives them.
    found, note : dict, str
        Each parameter's importance (may be empty) and the sentence that explains it.

    Returns
    -------
    Path
        ``path``.
    """
    metric = summary["metric"]
    val = summary["val_metrics"] or {}
    inner = summary["inner_metrics"] or {}
    scores = [
        ["inner split", inner.get("accuracy"), inner.get("f1_macro"), inner.get("f1_weighted"),
         (f"best trial #{summary['best_trial']} on {summary['selection']}: the score the search maximised "
          f"({metric}), optimistic because it picked the best of many")],
        ["--val file", val.get("accuracy"), val.get("f1_macro"), val.get("f1_weighted"),
         "the best config retrained on the whole training file, scored once on the validation file"],
    ]  # fmt: skip
    config = [[f"{s}.{k}", v] for s, sec in summary["best_config"].items() if isinstance(sec, dict) for k, v in sec.items()]
    figures = [{"alt": "history", "png": figure_png(search_history_figure(rows, metric), _DPI, tight=True),
                "caption": f"each trial's {metric} on the inner split"}]
    if found:
        figures.append({"alt": "importance", "png": figure_png(importance_figure(found), _DPI, tight=True),
                        "caption": note})
    ranked = sorted([r for r in rows if r["state"] == "complete"], key=lambda r: -r["value"])[:_BEST_TRIALS]
    params = sorted({k for r in ranked for k in r if k.startswith("param:")})
    page = render(
        "tune_report.html.j2", summary=summary, fmt=_fmt, scores=scores, config=config, figures=figures,
        importances=[[k, v] for k, v in found.items()], note=note,
        best_head=["trial", metric, "epochs", *[p[len("param:"):] for p in params]],
        best=[[f"#{r['number']}", r["value"], r["epochs"], *[r.get(p) for p in params]] for r in ranked],
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )  # fmt: skip
    atomic_write_text(path, page)
    return path
