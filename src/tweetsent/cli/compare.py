"""The ``tweetsent compare`` and ``tweetsent report`` commands: runs side by side, and reports.

    tweetsent compare runs/a runs/b --report comparison.html
    tweetsent report runs/a --out report.md --format md

Registered by the main CLI as ``app.command("compare")(compare)`` and
``app.command("report")(report)``. All numbers come from `tweetsent.evaluation.compare`; this module
only renders them. Errors take the one path of `tweetsent.cli.exits`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tweetsent.cli.exits import handle_errors
from tweetsent.errors import ConfigError

__all__ = ["compare", "report"]

RunDirs = Annotated[list[Path], typer.Argument(help="Run directories made by `tweetsent train`, scored on the same --val file.")]
FormatOpt = Annotated[str | None, typer.Option(
    "--format", help="Report format: html (one self-contained file) or md (Markdown, PNGs beside it). "
                     "Default: from the file's suffix, else html.")]


def _format(out: Path, fmt: str | None) -> str:
    if fmt is None:
        return "md" if out.suffix.lower() in (".md", ".markdown") else "html"
    if fmt.lower() not in ("html", "md"):
        raise ConfigError(f"--format {fmt!r}: choose html or md")
    return fmt.lower()


def _print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from tweetsent.reporting.report import format_value

    console = Console()
    table = Table(title=f"{len(result['names'])} runs on {result['val']} ({result['n']} tweets); bold: best")
    table.add_column("metric")
    for name in result["names"]:
        table.add_column(name, justify="right")
    for row in result["table"]:
        cells = [format_value(row["key"], row["values"][n]) for n in result["names"]]
        table.add_row(row["label"], *[f"[bold]{c}[/bold]" if n in row["best"] else c
                                      for n, c in zip(result["names"], cells)])
    console.print(table)
    for name in result["names"]:
        verdict = result["overfit"][name]
        console.print(f"[bold]{name}[/bold]: {verdict['verdict']}. {verdict['evidence']}", highlight=False)
    for pair in result["pairs"]:
        for metric in ("accuracy", "f1_macro"):
            console.print(pair[metric]["statement"], highlight=False)


@handle_errors
def compare(
    run_dirs: RunDirs,
    as_json: Annotated[bool, typer.Option("--json", help="Print the table and the tests as one JSON object on stdout.")] = False,
    report_file: Annotated[Path | None, typer.Option("--report", help="Also write a report (HTML or Markdown) here.")] = None,
    fmt: FormatOpt = None,
    resamples: Annotated[int, typer.Option("--resamples", help="Bootstrap resamples for the confidence intervals.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
) -> None:
    """Every metric of several runs side by side, and whether their differences are real."""
    from tweetsent.evaluation.compare import compare_summaries, load_run_summary

    if len(run_dirs) < 2:
        raise ConfigError("compare needs at least two run directories; for one run use `tweetsent report`")
    summaries = [load_run_summary(d) for d in run_dirs]
    result = compare_summaries(summaries, n_resamples=resamples, seed=seed)
    if report_file is not None:
        from tweetsent.reporting.report import render_report

        render_report(summaries, result, report_file, _format(report_file, fmt))
    if as_json:
        typer.echo(json.dumps({
            "runs": [{"name": r["name"], "dir": r["dir"]} for r in result["runs"]],
            "val": result["val"], "val_sha256": result["val_sha256"], "n": result["n"],
            "table": result["table"], "overfit": result["overfit"], "significance": result["pairs"],
            "report": None if report_file is None else str(report_file)}))
        return
    _print_table(result)
    if report_file is not None:
        typer.echo(f"report: {report_file}")


@handle_errors
def report(
    run_dirs: RunDirs,
    out: Annotated[Path, typer.Option("--out", "-o", help="The report file to write (.html or .md).")],
    fmt: FormatOpt = None,
    examples: Annotated[int, typer.Option("--examples", help="Misclassified tweets shown per class and run.")] = 3,
    resamples: Annotated[int, typer.Option("--resamples", help="Bootstrap resamples for the confidence intervals.")] = 2000,
    highlight: Annotated[bool, typer.Option("--highlight/--no-highlight", help="Load each run's model and highlight the misclassified tweets' tokens by their contribution to the wrong label.")] = True,
) -> None:
    """Write a report of one run, or a comparison of several: metrics, curves, verdicts, tweets."""
    from tweetsent.reporting.report import write_report

    path = write_report(run_dirs, out, _format(out, fmt), n_examples=examples, n_resamples=resamples,
                        highlight=highlight)
    typer.echo(f"report: {path}")
