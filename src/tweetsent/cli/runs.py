"""``tweetsent runs ...``: list, show, compare, star, annotate, remove and export logged runs; clean unfinished folders.

    tweetsent runs list --where "f1_macro>0.7 and optimizer=radam" --sort -f1_macro --dots

Mounted by the main CLI with ``app.add_typer(runs_app, name="runs")``. Errors take the one path
of `tweetsent.cli.exits` (one ``error: ...`` line on stderr, exit code 2); ``--json`` prints
exactly one JSON document on stdout.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer

from tweetsent.cli.exits import handle_errors
from tweetsent.errors import ConfigError
from tweetsent.runlog.records import value_text

__all__ = ["DOT", "dot_repeats", "runs_app"]

runs_app = typer.Typer(
    help="The experiment log: every train/evaluate/trial run, its config, epochs and scores.",
    no_args_is_help=True,
)

DOT = "·"
_STATUS_STYLE = {"finished": "green", "failed": "red", "interrupted": "yellow", "running": "cyan"}
# Columns every listing shows; the rest appear only when their values differ between runs.
_FIXED_METRICS = ("f1_macro", "accuracy")
_MAYBE_FIELDS = ("kind", "study", "best_epoch", "overfit")

LogUrl = Annotated[
    str | None,
    typer.Option("--log-url", help="sqlite:///PATH or postgresql://USER@HOST/DB [env TWEETSENT_LOG_URL]", show_default=False),
]
RunsDir = Annotated[str, typer.Option("--runs-dir", envvar="TWEETSENT_RUNS_DIR", help="Folder of the default SQLite log (runs.db).")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of a table.")]


def _open(log_url: str | None, runs_dir: str):
    from tweetsent.runlog.log import RunLog

    return RunLog.open(url=log_url, runs_dir=runs_dir)


def _console():
    from rich.console import Console

    # Piped output is read whole or by tools: do not squeeze the table into 80 columns.
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(width=200 if wide else None)


def _print_json(document) -> None:
    typer.echo(json.dumps(document, indent=2, default=str))


def _cell(value) -> str:
    """A value as rich markup text (escaped: ``[125,75]`` is data, not a style tag)."""
    from rich.markup import escape

    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(value_text(value))


def dot_repeats(rows: list[list[str]], keep: tuple[int, ...] = (0,)) -> list[list[str]]:
    """Replace each cell equal to the one above it by ``·``, as the hand-kept study sheet did.

    Parameters
    ----------
    rows : list of list of str
        Rendered table cells, first row on top.
    keep : tuple of int
        Column indices always written out (ids, names).

    Returns
    -------
    list of list of str
        A new table; the first row is never dotted, and neither are empty cells.
    """
    out = []
    for i, row in enumerate(rows):
        out.append([
            DOT if i and j not in keep and cell != "" and cell == rows[i - 1][j] else cell
            for j, cell in enumerate(row)
        ])  # fmt: skip
    return out


def _list_columns(records: list[dict]) -> list[tuple[str, object]]:
    """(header, getter) pairs: id, star, name, status, varying fields/config, then scores."""

    def varies(get) -> bool:
        return len({value_text(get(r)) for r in records}) > 1

    columns = [("id", lambda r: r["id"]), ("★", lambda r: "★" if r["starred"] else ""),
               ("name", lambda r: r["name"]), ("status", lambda r: r["status"])]  # fmt: skip
    for field in _MAYBE_FIELDS:
        get = lambda r, field=field: r.get(field)
        if varies(get):
            columns.append((field, get))
    fixed = ("id", "name", "status")
    config = list(dict.fromkeys(k for r in records for k in r["config"]))
    changing = [key for key in config if varies(lambda r, key=key: r["config"].get(key))
                # the config's own name is the run's name, already shown
                and not (key in fixed and all(value_text(r["config"].get(key)) == value_text(r.get(key))
                                              for r in records))]
    ends = [key.rsplit(".", 1)[-1] for key in changing]
    for key, end in zip(changing, ends):
        header = end if ends.count(end) == 1 and end not in fixed else key
        header = f"config.{header}" if header in fixed else header
        columns.append((header, lambda r, key=key: r["config"].get(key)))
    metrics = list(_FIXED_METRICS)
    if any("loss" in r["metrics"] for r in records):
        metrics.append("loss")
    for name in metrics:
        columns.append((name, lambda r, name=name: r["metrics"].get(name)))
    return columns


@runs_app.command("list")
@handle_errors
def list_runs(
    where: Annotated[str | None, typer.Option("--where", "-w", help='Filter, e.g. "f1_macro>0.7 and optimizer=radam".')] = None,
    sort: Annotated[str | None, typer.Option("--sort", "-s", help="Sort keys, '-' for descending, e.g. -f1_macro.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="At most N runs (the newest N without --sort).")] = None,
    dots: Annotated[bool, typer.Option("--dots", help=f"Print {DOT} where a value equals the row above.")] = False,
    as_json: Json = False,
    log_url: LogUrl = None,
    runs_dir: RunsDir = "runs",
) -> None:
    """List runs: the columns that differ between them, plus f1_macro and accuracy."""
    from tweetsent.runs.outputs import unfinished_runs

    with _open(log_url, runs_dir) as log:
        records = log.list(where=where, sort=sort, limit=limit)
    leftovers = sum(item.removable for item in unfinished_runs(runs_dir))
    if leftovers:
        typer.echo(f"{leftovers} unfinished run folders in {runs_dir} (from killed processes); "
                   f"`tweetsent runs clean` removes them", err=True)
    if as_json:
        _print_json(records)
        return
    from rich.table import Table

    columns = _list_columns(records)
    cells = [[_cell(get(r)) for _, get in columns] for r in records]
    if dots:
        cells = dot_repeats(cells, keep=(0, 1, 2, 3))
    table = Table(box=None, header_style="bold", pad_edge=False)
    for header, _ in columns:
        table.add_column(header, justify="right" if header in ("f1_macro", "accuracy", "loss") else "left")
    for record, row in zip(records, cells):
        styled = list(row)
        styled[3] = f"[{_STATUS_STYLE.get(row[3], 'default')}]{row[3]}[/]"
        table.add_row(*styled, style="green" if record["starred"] else None)
    console = _console()
    console.print(table)
    console.print(f"{len(records)} run(s)", style="dim")


@runs_app.command("show")
@handle_errors
def show(run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough) or name.")],
         as_json: Json = False, log_url: LogUrl = None, runs_dir: RunsDir = "runs") -> None:  # fmt: skip
    """Everything about one run: fields, config, metrics, per-class scores and epochs."""
    with _open(log_url, runs_dir) as log:
        record = log.get(run_id)
    if as_json:
        _print_json(record)
        return
    from rich.table import Table

    from tweetsent.runlog.records import flatten

    console = _console()
    fields = Table(box=None, show_header=False, title=f"run {record['id']}", title_justify="left")
    for key in ("name", "kind", "study", "parent", "status", "starred", "started_at", "ended_at", "duration_s",
                "best_epoch", "overfit", "overfit_evidence", "error", "note", "run_dir", "package_version",
                "git_commit", "hostname", "pid"):  # fmt: skip
        if record.get(key) not in (None, ""):
            fields.add_row(key, _cell(record[key]))
    for role, digest in record["fingerprints"].items():
        fields.add_row(f"fingerprint.{role}", str(digest))
    console.print(fields)
    _key_values(console, "config", flatten(record["config"]))
    metrics = record["metrics"]
    _key_values(console, "metrics", {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))})
    if metrics.get("per_class"):
        from tweetsent.data.labels import class_text

        table = Table(title="per class", title_justify="left", box=None, header_style="bold")
        for header in ("class", "precision", "recall", "f1", "support"):
            table.add_column(header, justify="left" if header == "class" else "right")
        for label, scores in metrics["per_class"].items():
            table.add_row(_cell(class_text(label, metrics.get("label_names"))),
                          *(_cell(scores.get(k)) for k in ("precision", "recall", "f1", "support")))
        console.print(table)
    if record["history"]:
        keys = list(dict.fromkeys(k for h in record["history"] for k in h))
        table = Table(title="epochs", title_justify="left", box=None, header_style="bold")
        for key in keys:
            table.add_column(key, justify="right")
        for h in record["history"]:
            best = h.get("epoch") == record.get("best_epoch")
            table.add_row(*(_cell(h.get(k)) for k in keys), style="bold green" if best else None)
        console.print(table)


def _key_values(console, title: str, values: dict) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=None, show_header=False)
    for key, value in values.items():
        table.add_row(key, _cell(value))
    console.print(table)


@runs_app.command("diff")
@handle_errors
def diff(a: Annotated[str, typer.Argument(help="First run (id prefix or name).")],
         b: Annotated[str, typer.Argument(help="Second run.")],
         as_json: Json = False, log_url: LogUrl = None, runs_dir: RunsDir = "runs") -> None:  # fmt: skip
    """Config keys that changed between two runs, and every metric with its delta (b - a)."""
    with _open(log_url, runs_dir) as log:
        result = log.diff(a, b)
    if as_json:
        _print_json(result)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold", title=f"{result['a']} -> {result['b']}", title_justify="left")
    for header in ("", "key", "a", "b", "delta"):
        table.add_column(header, justify="right" if header == "delta" else "left")
    for section in ("config", "fingerprints"):
        for key, pair in result[section].items():
            table.add_row(section, key, _cell(pair["a"]), _cell(pair["b"]), "")
    for key, triple in result["metrics"].items():
        delta = triple["delta"]
        shown = "" if delta is None else Text(f"{delta:+.4f}", style="green" if delta > 0 else "red" if delta < 0 else "")
        table.add_row("metrics", key, _cell(triple["a"]), _cell(triple["b"]), shown)
    _console().print(table)


def _curate(action: str, run_id: str, log_url: str | None, runs_dir: str, *args) -> str:
    with _open(log_url, runs_dir) as log:
        return getattr(log, action)(run_id, *args)


@runs_app.command("star")
@handle_errors
def star(run_id: str, log_url: LogUrl = None, runs_dir: RunsDir = "runs") -> None:
    """Star a run (green in the list and in the xlsx export)."""
    typer.echo(f"starred {_curate('star', run_id, log_url, runs_dir, True)}")


@runs_app.command("unstar")
@handle_errors
def unstar(run_id: str, log_url: LogUrl = None, runs_dir: RunsDir = "runs") -> None:
    """Remove a run's star."""
    typer.echo(f"unstarred {_curate('star', run_id, log_url, runs_dir, False)}")


@runs_app.command("note")
@handle_errors
def note(run_id: str, text: str, log_url: LogUrl = None, runs_dir: RunsDir = "runs") -> None:
    """Attach a note to a run (replaces the previous note; "" clears it)."""
    typer.echo(f"noted {_curate('note', run_id, log_url, runs_dir, text)}")


def _stdin_is_interactive() -> bool:
    return sys.stdin.isatty()


@runs_app.command("rm")
@handle_errors
def rm(run_id: str, yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
       log_url: LogUrl = None, runs_dir: RunsDir = "runs") -> None:  # fmt: skip
    """Remove a run and its epochs from the log (its run directory stays on disk)."""
    with _open(log_url, runs_dir) as log:
        record = log.get(run_id)
        if not yes:
            if not _stdin_is_interactive():
                raise ConfigError(f"not removing run {record['id']} without --yes: stdin is not a terminal to ask on")
            if not typer.confirm(f"remove run {record['id']} ({record['name'] or 'unnamed'}, {record['status']})?"):
                typer.echo("kept")
                return
        log.remove(record["id"])
    typer.echo(f"removed {record['id']}")


@runs_app.command("export")
@handle_errors
def export(csv: Annotated[str | None, typer.Option("--csv", help="Write all runs as CSV.")] = None,
           xlsx: Annotated[str | None, typer.Option("--xlsx", help="Write sheets 'runs' (starred green) and 'history'.")] = None,
           log_url: LogUrl = None, runs_dir: RunsDir = "runs") -> None:  # fmt: skip
    """Export the whole log as a spreadsheet like the hand-kept study sheet."""
    if not csv and not xlsx:
        raise ConfigError("export needs --csv FILE or --xlsx FILE (or both)")
    from tweetsent.runs.outputs import check_output_file

    with _open(log_url, runs_dir) as log:
        for path, option in ((csv, "--csv"), (xlsx, "--xlsx")):
            if path:
                check_output_file(path, option, inputs=[log.where])
        if csv:
            typer.echo(f"wrote {log.export_csv(csv)}")
        if xlsx:
            typer.echo(f"wrote {log.export_xlsx(xlsx)}")


@runs_app.command("clean")
@handle_errors
def clean(yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
          runs_dir: RunsDir = "runs") -> None:  # fmt: skip
    """Remove the unfinished run folders (.incomplete-*) in --runs-dir whose process has ended.

    A folder whose process still runs, that another host made, or that records no process is kept,
    and a line on stderr says why.
    """
    from pathlib import Path

    from tweetsent.errors import DataError
    from tweetsent.runs.outputs import remove_unfinished, unfinished_runs

    if not Path(runs_dir).is_dir():
        raise DataError(f"{runs_dir}: no such folder; give the --runs-dir that holds the runs")
    found = unfinished_runs(runs_dir)
    for item in found:
        if not item.removable:
            typer.echo(f"kept {item.path}: {item.reason}", err=True)
    removable = [item for item in found if item.removable]
    if not removable:
        typer.echo(f"no unfinished run folders to remove in {runs_dir}")
        return
    if not yes:
        if not _stdin_is_interactive():
            raise ConfigError(f"not removing {len(removable)} unfinished run folder(s) without --yes: stdin is not "
                              f"a terminal to ask on")
        for item in removable:
            typer.echo(f"{item.path}  ({item.reason})")
        if not typer.confirm(f"remove these {len(removable)} unfinished run folder(s)?"):
            typer.echo("kept")
            return
    for path in remove_unfinished(removable):
        typer.echo(f"removed {path}")
