"""The ``tweetsent`` command line: the app, its sub-apps and the commands that train, evaluate and predict.

    tweetsent train --train train.csv --val val.csv --config seed-prelu --json

Heavy modules (torch, pandas, matplotlib) are imported inside the commands so that
``tweetsent --help`` answers at once. Every command is wrapped by `tweetsent.cli.exits.handle_errors`:
errors become one ``error: ...`` line on stderr and exit code 2, Ctrl-C exits 130 and SIGTERM 143.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tweetsent.cli.backprop import backprop
from tweetsent.cli.compare import compare, report
from tweetsent.cli.ensemble import ensemble
from tweetsent.cli.exits import handle_errors, install_sigterm
from tweetsent.cli.explain import explain
from tweetsent.cli.export import export
from tweetsent.cli.options import DeviceOpt, EngineOpt, TrainDeviceOpt
from tweetsent.cli.runs import runs_app
from tweetsent.cli.serve import serve
from tweetsent.cli.tune import tune
from tweetsent.config.settings import CHUNK_SIZE

__all__ = ["app", "main"]

app = typer.Typer(help="Train, tune, evaluate, compare and explain tweet classifiers.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
data_app = typer.Typer(help="Get datasets and inspect tables.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(runs_app, name="runs", help="The experiment log: list, show, diff, star, note, export runs; clean unfinished run folders.")
app.command("compare", help="Compare runs side by side, with paired significance tests.")(compare)
app.command("report", help="Write an HTML or Markdown report of one run or a comparison.")(report)
app.command("ensemble", help="Average several runs' probabilities into one model directory.")(ensemble)
app.command("tune", help="Search hyperparameters with Optuna; every trial lands in the experiment log.")(tune)
app.command("backprop", help="Backpropagation through a small expression, node by node.")(backprop)
app.command("explain", help="Each token's contribution to each class's probability, as coloured text or JSON.")(explain)
app.command("serve", help="Serve a trained run over HTTP: /predict, /explain, /health, /model (FastAPI + uvicorn).")(serve)
app.command("export", help="Write an ONNX copy (and an int8 one) of a run's fine-tuned encoder beside its weights.")(export)


def _print_version(value: bool) -> None:
    if value:
        from tweetsent.util.meta import package_version

        typer.echo(f"tweetsent {package_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Train, tune, evaluate, compare and explain tweet classifiers."""


ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="A preset name (tfidf-softmax, best, seed-prelu, ...; `tweetsent presets`) or a TOML file. Default: tfidf-softmax.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", help="Override one setting: section.key=value (TOML value). Repeatable.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object on stdout.")]
RunsDirOpt = Annotated[Path, typer.Option("--runs-dir", envvar="TWEETSENT_RUNS_DIR", help="Where run directories and the default log (runs.db) go.")]
LogUrlOpt = Annotated[str | None, typer.Option("--log-url", envvar="TWEETSENT_LOG_URL", help="Experiment log database URL (default: sqlite under --runs-dir).")]
NoLogOpt = Annotated[bool, typer.Option("--no-log", help="Do not record this in the experiment log.")]


def _open_log(no_log: bool, log_url: str | None, runs_dir: Path):
    if no_log:
        return None
    from tweetsent.runlog.log import RunLog

    return RunLog.open(log_url, runs_dir)


def _print_metrics(metrics: dict, title: str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from tweetsent.data.labels import class_text

    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("accuracy", "f1_macro", "f1_weighted", "f1_micro", "precision_macro", "recall_macro",
                "precision_weighted", "recall_weighted", "loss", "roc_auc_macro"):
        value = metrics.get(key)
        table.add_row(key, "-" if value is None else f"{value:.4f}")
    per_class = Table(title="per class")
    for col in ("class", "precision", "recall", "f1", "support"):
        per_class.add_column(col, justify="right" if col != "class" else "left")
    for cls, row in metrics["per_class"].items():  # "1 (anti-vax)" when the classes are named
        per_class.add_row(escape(class_text(cls, metrics.get("label_names"))), f"{row['precision']:.4f}",
                          f"{row['recall']:.4f}", f"{row['f1']:.4f}", str(row["support"]))
    console = Console()
    console.print(f"[bold]{title}[/bold]")
    console.print(table)
    console.print(per_class)


@app.command()
@handle_errors
def train(
    train_file: Annotated[Path, typer.Option("--train", help="Labelled training table (CSV, TSV, JSONL, Parquet).")],
    val_file: Annotated[Path | None, typer.Option("--val", help="Labelled validation table, scored every epoch.")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (train.seed).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run directory to write; must not exist (default: runs/<time>-<name>-s<seed>, with -<4 random characters> added when taken).")] = None,
    runs_dir: RunsDirOpt = Path("runs"),
    as_json: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="Write PNG figures.")] = True,
    log_url: LogUrlOpt = None,
    no_log: NoLogOpt = False,
    device: TrainDeviceOpt = None,
) -> None:
    """Train a classifier and write a run directory (config, history, metrics, model, figures)."""
    from tweetsent.config.resolve import DEFAULT_PRESET, resolve_config
    from tweetsent.data.labels import label_names_beside
    from tweetsent.runs.workflow import train_run
    from tweetsent.training.loop import schedule_warning
    from tweetsent.training.progress import EpochProgress

    cfg = resolve_config(config or DEFAULT_PRESET, [*(set_ or []), *([f"train.device={device}"] if device else [])], seed)
    found = None if cfg.data.label_names else label_names_beside(train_file)
    if found:
        typer.echo(f"class names from {found[1]}: {_names_text(found[0])}", err=True)
    callbacks = [] if quiet else [EpochProgress(cfg.name or "train")]
    log = _open_log(no_log, log_url, runs_dir)
    result = train_run(cfg, train_file, val_file, out=out, runs_dir=runs_dir, callbacks=callbacks, figures=figures,
                       log=log)
    warning = schedule_warning(result.classifier.schedule_)
    if warning:
        typer.echo(f"warning: {warning}", err=True)
    for role, path in (("train", train_file), ("val", val_file)):
        if (result.dropped_empty or {}).get(role):
            typer.echo(f"left out {result.dropped_empty[role]} empty tweets of {path} (data.empty = drop)", err=True)
    if as_json:
        typer.echo(json.dumps({**(result.metrics or {}), "run_dir": str(result.run_dir), "run_id": result.run_id}))
        return
    if result.metrics:
        _print_metrics(result.metrics, f"{cfg.name or 'run'} on {val_file.name}")
    typer.echo(f"run directory: {result.run_dir}" + (f"  (logged as {result.run_id})" if result.run_id else ""))


@app.command()
@handle_errors
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by `tweetsent train`.")],
    data: Annotated[Path, typer.Option("--data", help="Labelled table to score.")],
    predictions: Annotated[Path | None, typer.Option("--predictions", help="Also write each tweet's prediction here (CSV).")] = None,
    as_json: JsonOpt = False,
    runs_dir: RunsDirOpt = Path("runs"),
    log_url: LogUrlOpt = None,
    no_log: NoLogOpt = False,
    device: DeviceOpt = "auto",
    engine: EngineOpt = "auto",
) -> None:
    """Score a trained run on any labelled file (every metric of `train`)."""
    from tweetsent.runs.workflow import evaluate_run

    metrics = evaluate_run(run_dir, data, predictions, log=_open_log(no_log, log_url, runs_dir), device=device,
                           engine=engine)
    if as_json:
        typer.echo(json.dumps({**metrics, "run_dir": str(run_dir)}))
    else:
        _print_metrics(metrics, f"{run_dir.name} on {data.name}")


@app.command()
@handle_errors
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by `tweetsent train`.")],
    data: Annotated[str, typer.Option("--data", help="Table of tweets, or - for one tweet per line on stdin. A folder of Parquet files or a quoted pattern ('tweets/*.parquet') labels each file on Dask, into its own Parquet file in the --out folder.")] = "-",
    out: Annotated[str, typer.Option("--out", help="Output CSV, or - for stdout: one row per input row (text, label, label_name when the run names its classes, p_<class>..., empty); an empty tweet gets no label or probabilities and empty=true. An existing file is replaced when the output is complete; a link is written through, a device or FIFO in place; a folder or the input file is refused. With many --data files: a folder, one <input name>.parquet per input; files already labelled there are skipped.")] = "-",
    text_column: Annotated[str | None, typer.Option("--text-column", help="Text column (default: the run's, or found).")] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", help="Tweets per chunk (memory stays flat).")] = CHUNK_SIZE,
    device: DeviceOpt = "auto",
    engine: EngineOpt = "auto",
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="Label many files on Dask: local (a cluster on this machine; the default for a folder or pattern) or a running scheduler's address, tcp://HOST:8786. Needs tweetsent[dask].")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Workers of the local cluster (default: one per core, at most one per file).")] = None,
) -> None:
    """Label unlabelled tweets with class and per-class probabilities, streaming in chunks.

    One output row per input row, in order; empty (or whitespace-only) tweets are marked, not guessed.
    Many files (a folder or a pattern) are labelled in parallel on Dask, one Parquet file per input;
    running the same command again labels only the files not done yet.
    """
    from tweetsent.runs.distributed import wants_partitions

    if wants_partitions(data, scheduler, workers):
        from tweetsent.runs.distributed import PartitionProgress, predict_partitions

        progress = PartitionProgress()
        try:
            report = predict_partitions(run_dir, data, out, scheduler or "local", workers, chunk_size, text_column,
                                        on_start=progress.start, on_done=progress.done, device=device, engine=engine)
        finally:
            progress.close()
        skipped = f"; {len(report.skipped)} already there, skipped" if report.skipped else ""
        removed = (f"; removed {len(report.removed)} temporary file(s) an interrupted run had left"
                   if report.removed else "")
        typer.echo(f"{len(report.written)} file(s) labelled ({report.rows} tweets) -> {report.out}{skipped}{removed}",
                   err=True)
        return
    from tweetsent.runs.workflow import predict_file

    n = predict_file(run_dir, data, sys.stdout.buffer if out == "-" else out, chunk_size, text_column,
                     device=device, engine=engine)
    if out != "-":
        typer.echo(f"{n} tweets labelled -> {out}", err=True)


@app.command("learning-curve")
@handle_errors
def learning_curve_cmd(
    train_file: Annotated[Path, typer.Option("--train", help="Labelled training table.")],
    val_file: Annotated[Path, typer.Option("--val", help="Labelled validation table.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seeds the samples and the training.")] = None,
    fractions: Annotated[str, typer.Option("--fractions", help="Comma-separated shares of the training file.")] = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0",
    out: Annotated[Path, typer.Option("--out", help="Folder for learning_curve.csv / .json / .png.")] = Path("learning-curve"),
    metric: Annotated[str, typer.Option("--metric", help="Score plotted: f1_macro, f1_weighted, accuracy or loss.")] = "f1_macro",
    as_json: JsonOpt = False,
) -> None:
    """Scores against training-set size (training sample and validation), as a table and a figure."""
    from rich.console import Console
    from rich.table import Table

    from tweetsent.config.resolve import resolve_config
    from tweetsent.errors import ConfigError
    from tweetsent.runs.curves import write_learning_curve

    try:
        shares = [float(x) for x in fractions.split(",") if x.strip()]
    except ValueError as exc:
        raise ConfigError(f"--fractions {fractions!r}: give numbers separated by commas, e.g. 0.25,0.5,1") from exc
    err = Console(stderr=True)

    def show(r: dict) -> None:
        err.print(f"{r['fraction']:.0%} of the training set ({r['n_train']} tweets): train {metric} "
                  f"{r['train_' + metric]:.4f}, validation {metric} {r['val_' + metric]:.4f} ({r['seconds']:.1f} s)")

    cfg = resolve_config(config, set_ or [], seed)
    written = write_learning_curve(cfg, train_file, val_file, out, shares, metric, on_step=show)
    rows = written["rows"]
    if as_json:
        typer.echo(json.dumps({"rows": rows, "out": str(out)}))
        return
    table = Table(title=f"Learning curve ({metric})")
    for col in ("share", "tweets", f"train {metric}", f"validation {metric}", "seconds"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(f"{r['fraction']:.0%}", str(r["n_train"]), f"{r['train_' + metric]:.4f}",
                      f"{r['val_' + metric]:.4f}", f"{r['seconds']:.1f}")
    Console().print(table)
    typer.echo(f"wrote {written['csv']}, {written['png']}")


@app.command("reproduce-study")
@handle_errors
def reproduce_study(
    train_file: Annotated[Path, typer.Option("--train", help="Labelled training table (the study's vaccine_train_set.csv).")],
    val_file: Annotated[Path, typer.Option("--val", help="Labelled validation table.")],
    embeddings: Annotated[str | None, typer.Option("--embeddings", help="Word vectors for the networks (default: bundled GloVe 6B 50d; the study's best used 300d).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the three runs, the learning curve and report.html.")] = Path("study"),
    seed: Annotated[int, typer.Option("--seed")] = 0,
    runs_dir: RunsDirOpt = Path("runs"),
    log_url: LogUrlOpt = None,
    no_log: NoLogOpt = False,
) -> None:
    """Run the study's protocol (seed-tanh, seed-prelu, seed-softmax) and write its comparison report."""
    from tweetsent.runs.study import reproduce_study as run_study

    def said(preset, result) -> None:
        typer.echo(f"{preset}: accuracy {result.metrics['accuracy']:.4f}, weighted F1 {result.metrics['f1_weighted']:.4f}, "
                   f"macro F1 {result.metrics['f1_macro']:.4f}", err=True)

    result = run_study(train_file, val_file, out, embeddings, seed, log=_open_log(no_log, log_url, runs_dir),
                       on_run=said)
    typer.echo(f"report: {result.report}")


@app.command()
@handle_errors
def presets(name: Annotated[str | None, typer.Argument(help="Show this preset resolved.")] = None) -> None:
    """List the shipped presets, or print one resolved as TOML."""
    from tweetsent.config.resolve import DEFAULT_PRESET, preset_names, preset_summary, resolve_config

    if name is None:
        names = preset_names()
        width = max(map(len, names)) + len(" (default)")
        for preset in names:
            label = f"{preset} (default)" if preset == DEFAULT_PRESET else preset
            typer.echo(f"{label:<{width}}  {preset_summary(preset)}")
    else:
        typer.echo(resolve_config(name).to_toml())


@data_app.command("get")
@handle_errors
def data_get(
    name: Annotated[str, typer.Argument(help="Dataset name (vaccine).")] = "vaccine",
    dest: Annotated[Path | None, typer.Option("--dest", help="Folder to put the files in (default data/<name>).")] = None,
    source: Annotated[str | None, typer.Option("--from", envvar="TWEETSENT_DATA_MIRROR", help="Local folder or mirror URL to copy from instead of the public copy.")] = None,
) -> None:
    """Download a dataset (checksums verified), or copy it from a local folder or mirror; its class names go to labels.toml."""
    from tweetsent.data.download import get_dataset
    from tweetsent.data.labels import label_names_beside

    files = get_dataset(name, dest or Path("data") / name, source=source, progress=sys.stderr.isatty())
    for path in files.values():
        typer.echo(str(path))
    found = label_names_beside(next(iter(files.values())))
    if found:
        typer.echo(str(found[1]))
        typer.echo(f"class names: {_names_text(found[0])} (edit {found[1]} to rename them)", err=True)


def _names_text(names: dict) -> str:
    return ", ".join(f"{value} = {name}" for value, name in names.items())


@data_app.command("embeddings")
@handle_errors
def data_embeddings(
    url: Annotated[str, typer.Argument(help="URL (or local path) of a GloVe / word2vec file, e.g. .../glove.6B.zip")],
    sha256: Annotated[str | None, typer.Option("--sha256", help="Expected checksum; the download is refused if it differs.")] = None,
    member: Annotated[str | None, typer.Option("--member", help="File inside a .zip to convert now, e.g. glove.6B.300d.txt.")] = None,
) -> None:
    """Download word vectors into the cache (once), optionally convert them, and print the spec to use."""
    from tweetsent.data.download import fetch_embeddings
    from tweetsent.features.embeddings import load_embeddings

    path = fetch_embeddings(url, sha256=sha256, progress=sys.stderr.isatty())
    spec = f"{path}:{member}" if member else str(path)
    if member or path.suffix != ".zip":
        emb = load_embeddings(spec)
        typer.echo(f"{len(emb.words)} words x {emb.dim} dimensions, cached", err=True)
    typer.echo(f"use: --set features.embeddings={spec}")


@data_app.command("inspect")
@handle_errors
def data_inspect(
    path: Annotated[Path, typer.Argument(help="A table of tweets.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Rows, classes (named as data.label_names or a labels.toml beside the table name them) and the
    out-of-vocabulary rate of a table under a config's tokenizer."""
    from tweetsent.config.resolve import resolve_config
    from tweetsent.data.labels import class_text, label_names_beside
    from tweetsent.runs.inspect import inspect_table

    cfg = resolve_config(config, set_ or [])
    facts = inspect_table(path, cfg)
    typer.echo(f"{path}: {facts['n']} tweets, text column {facts['text_column']!r}")
    if facts["classes"] is not None:
        names = cfg.data.label_names or (label_names_beside(path) or ({}, None))[0]
        typer.echo("classes: " + ", ".join(f"{class_text(v, names)}: {c} ({c / facts['n']:.1%})"
                                           for v, c in facts["classes"]))
    typer.echo(f"tokenizer {facts['tokenizer']!r} with {facts['embeddings']}: "
               f"{facts['tokens_per_tweet']:.1f} tokens per tweet, out-of-vocabulary {facts['oov_rate']:.2%} "
               f"of tokens, {facts['empty_docs']} tweet(s) with no known word")


def main() -> None:
    """Run the command line with SIGTERM exiting 143, as the ``tweetsent`` console script does."""
    install_sigterm()
    app()


if __name__ == "__main__":
    main()
