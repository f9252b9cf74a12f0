"""``tweetsent ensemble``: average the probabilities of several runs into one model directory.

    tweetsent ensemble runs/minilm runs/tfidf --out runs/ens --weights 1,1 --val val.csv

The directory is written by `tweetsent.runs.ensemble.build_ensemble_run` (see there what it
holds); `evaluate`, `predict`, `compare` and `report` accept it. Registered in
`tweetsent.cli.main` as ``app.command("ensemble")(ensemble)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tweetsent.cli.exits import handle_errors
from tweetsent.errors import ConfigError

__all__ = ["ensemble"]


def _weights(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise ConfigError(f"--weights {text!r}: give comma-separated numbers, e.g. 2,1") from exc


@handle_errors
def ensemble(
    run_dirs: Annotated[list[Path], typer.Argument(help="Two or more run directories (same classes).")],
    out: Annotated[Path, typer.Option("--out", help="The ensemble directory to write.")],
    weights: Annotated[str | None, typer.Option("--weights", help="Comma-separated weight per run (default: equal).")] = None,
    val: Annotated[Path | None, typer.Option("--val", help="Labelled table: also write metrics, predictions and figures.")] = None,
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="Write PNG figures (with --val).")] = True,
) -> None:
    """Average (optionally weighted) the probabilities of several runs into one model that evaluate/predict accept."""
    from tweetsent.runs.ensemble import build_ensemble_run

    metrics = build_ensemble_run(run_dirs, out, _weights(weights), val, figures)
    if metrics:
        typer.echo(f"accuracy {metrics['accuracy']:.4f}  macro F1 {metrics['f1_macro']:.4f}  on {val.name}")
    typer.echo(f"ensemble directory: {out}")
