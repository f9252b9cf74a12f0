"""``tweetsent explain``: why a trained run labels a tweet, token by token, as coloured text or JSON.

    tweetsent explain runs/best "vaccines are poison" --json
    tweetsent explain runs/best --data tweets.csv --limit 20
    tweetsent explain runs/minilm "vaccines are poison" --method integrated-gradients --steps 50

Each token is coloured by its contribution to the predicted class's probability (green raises
it, red lowers it; bold for a change of 0.1 or more), computed in `tweetsent.models.explain` by
occlusion (``--method auto``, for every kind: measured as comprehensive as integrated gradients
or more, and about 13 times faster on the encoder) or, for the fine-tuned encoder
and ensembles with one, by integrated gradients. Registered in `tweetsent.cli.main` as ``app.command("explain")(explain)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tweetsent.cli.exits import handle_errors
from tweetsent.errors import DataError

__all__ = ["explain"]

_STRONG = 0.1  # a contribution this large (in probability) is drawn bold
_FAINT = 0.005  # below this a token is left uncoloured


def _render(item: dict, names: dict | None = None):
    """One explanation as rich text: label and probabilities, then the tweet with its tokens coloured.

    ``names`` ({class as text: name}) names the classes: "anti-vax (1)", "p(anti-vax)"."""
    from rich.text import Text

    label = str(item["label"])
    names = names or {}
    head = Text(f"{names[label]} ({label})" if names.get(label, label) != label else label, style="bold")
    head.append("  " + "  ".join(f"p({names.get(c, c)}) = {p:.3f}" for c, p in item["proba"].items()), style="dim")
    body = Text(item["text"])
    for token in item["tokens"]:
        delta = token["contributions"][label]
        if abs(delta) < _FAINT:
            continue
        style = ("green" if delta > 0 else "red") + (" bold" if abs(delta) >= _STRONG else "")
        body.stylize(style, token["start"], token["end"])
    return Text("\n").join([head, body])


def _read_texts(data: Path, text_column: str | None, default_column: str, limit: int) -> tuple[list[str], int]:
    """The first ``limit`` tweets of a table, empty ones left out (and counted)."""
    from tweetsent.data.tables import iter_text_chunks

    chunk = next(iter(iter_text_chunks(data, default_column if text_column is None else text_column, limit)), None)
    texts = [] if chunk is None else [t for t in chunk.to_pylist() if t is not None]
    kept = [t for t in texts if t.strip()]
    return kept, len(texts) - len(kept)


@handle_errors
def explain(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by `tweetsent train` (or `ensemble`).")],
    text: Annotated[str | None, typer.Argument(help="The tweet to explain (or give --data).")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="A table of tweets (CSV, TSV, JSONL, Parquet) to explain instead.")] = None,
    text_column: Annotated[str | None, typer.Option("--text-column", help="Text column of --data (default: the run's, or found).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Explain at most this many tweets of --data (the first ones).")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document: a list with one explanation per tweet.")] = False,
    method: Annotated[str, typer.Option("--method", help="auto (occlusion, for every kind: measured as comprehensive or more, and ~13x faster on the encoder), occlusion, or integrated-gradients (the fine-tuned encoder, alone or in an ensemble; needs pip install 'tweetsent[explain]').")] = "auto",
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Integrated gradients: points on the path from the reference (default 50).")] = None,
) -> None:
    """Each token's contribution to each class's probability (occlusion or integrated gradients), as coloured text or JSON."""
    from tweetsent.runs.workflow import load_run

    if (text is None) == (data is None):
        raise DataError("give either a tweet as text or --data FILE, not both and not neither")
    clf = load_run(run_dir)
    if data is not None:
        texts, empty = _read_texts(data, text_column, clf.config_.data.text_column, limit)
        if empty:
            typer.echo(f"left out {empty} empty tweets of {data}", err=True)
        if not texts:
            raise DataError(f"{data}: no tweet with text in the first {limit} rows")
    else:
        texts = [text]
    explanations = clf.explain(texts, method=method, n_steps=steps)
    if as_json:
        typer.echo(json.dumps(explanations, ensure_ascii=False))
        return
    from rich.console import Console

    console = Console(highlight=False)
    for item in explanations:
        console.print(_render(item, dict(zip(map(str, clf.classes_), clf.class_names_))))
        console.print()
