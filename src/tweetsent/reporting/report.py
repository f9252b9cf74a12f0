"""A report of one run or a comparison: one self-contained HTML file, or Markdown with PNGs beside it.

    write_report(["runs/a", "runs/b"], "report.html")    # opens from disk, no server, no network

The report renders what `tweetsent.evaluation.compare.compare_summaries` returns (the runs' own
``metrics.json`` values, the overfitting verdicts and the paired tests) and draws its figures
with `tweetsent.reporting.plots` from each run's history and ``predictions.csv``. The pages come
from the templates ``report.html.j2`` and ``report.md.j2`` (see `tweetsent.reporting.render`);
tweets are HTML-escaped in both: a tweet is data, never markup.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from tweetsent.errors import ConfigError
from tweetsent.evaluation.compare import compare_summaries, load_run_summary
from tweetsent.reporting.plots import (
    confusion_figure,
    f1_curves,
    figure_png,
    loss_curves,
    roc_curves,
)
from tweetsent.reporting.render import render
from tweetsent.runlog.records import flatten
from tweetsent.training.loop import schedule_warning
from tweetsent.util.files import atomic_write_bytes, atomic_write_text

__all__ = ["FORMATS", "format_value", "render_report", "write_report"]

FORMATS = ("html", "md")
_CONFUSION = "confusion-"  # file stem prefix of the per-run confusion matrices


def format_value(key: str, value) -> str:
    """The one place numbers become text, so HTML, Markdown and the terminal show the same digits."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.2f}" if key == "seconds" else f"{value:.4f}"


def _figures(result: dict, summaries: Sequence[dict]) -> dict[str, tuple[str, bytes]]:
    """{file stem: (caption, PNG bytes)}: overlaid curves and ROC, one confusion matrix per run."""
    names, labels = result["names"], result["labels"]
    histories = {n: s["history"] for n, s in zip(names, summaries)
                 if s["history"] and all("train_loss" in r for r in s["history"])}
    figures = {}
    if histories:
        figures["loss"] = ("Training (solid) and validation (dashed) loss per epoch", figure_png(loss_curves(histories)))
        with_f1 = {n: h for n, h in histories.items() if "val_f1_macro" in h[0]}
        if with_f1:
            figures["f1"] = ("Validation macro (solid) and weighted (dotted) F1 per epoch", figure_png(f1_curves(with_f1)))
    probas = {n: s["predictions"][[f"p_{c}" for c in labels]].to_numpy() for n, s in zip(names, summaries)}
    y_true = summaries[0]["predictions"]["label"].to_numpy()
    figures["roc"] = ("One-vs-rest ROC curve per class",
                      figure_png(roc_curves(y_true, probas, labels, result.get("label_names"))))
    for i, (name, s) in enumerate(zip(names, summaries)):
        fig = confusion_figure(s["metrics"]["confusion_matrix"], labels, title=name, names=result.get("label_names"))
        figures[f"{_CONFUSION}{i + 1}"] = (f"Confusion matrix of {name} (rows: true, columns: predicted)", figure_png(fig))
    return figures


def _misclassified(summaries: Sequence[dict], names: Sequence[str], labels: Sequence[str], k: int,
                   highlight: bool = True) -> dict:
    """{run: (up to k wrong tweets per true class, most confident first; why tokens are not highlighted)}.

    The tweets come from predictions.csv. With ``highlight``, the run's own model (``model/`` in
    the run directory) explains them (`tweetsent.models.explain`), and each row gets ``segments``:
    the tweet cut into ``(text, contribution to the predicted class or None)`` pieces.
    """
    out = {}
    for name, s in zip(names, summaries):
        frame = s["predictions"]
        wrong = frame[frame["label"] != frame["predicted"]].copy()
        wrong["confidence"] = [row[f"p_{row['predicted']}"] if f"p_{row['predicted']}" in wrong.columns else None
                               for _, row in wrong.iterrows()]
        rows = [r for cls in labels for r in wrong[wrong["label"] == cls]
                .sort_values("confidence", ascending=False, kind="stable")
                .head(k)[["text", "label", "predicted", "confidence"]].to_dict("records")]
        rows.sort(key=lambda r: -(r["confidence"] or 0.0))
        why = _highlight(rows, Path(s["dir"])) if highlight and rows else None
        out[name] = (rows, why)
    return out


def _highlight(rows: list[dict], run_dir: Path) -> str | None:
    """Add ``segments`` to each row from the run's model; the reason when it cannot be done, else None."""
    from tweetsent.errors import TweetsentError
    from tweetsent.models.classifier import TweetClassifier
    from tweetsent.models.explain import explain

    if not (run_dir / "model" / "model.json").is_file():
        return f"no model in {run_dir}"
    try:
        clf = TweetClassifier.load(run_dir)
        explained = explain(clf, [str(r["text"]) for r in rows])
    except (TweetsentError, ImportError, OSError) as exc:
        return f"the model of {run_dir} could not explain them ({str(exc).splitlines()[0]})"
    for row, item in zip(rows, explained):
        row["segments"] = _segments(item["text"], item["tokens"], str(row["predicted"]))
        row["scale"] = max((abs(v) for _, v in row["segments"] if v is not None), default=0.0)
    return None


def _segments(text: str, tokens: list[dict], cls: str) -> list[tuple[str, float | None]]:
    """``text`` as consecutive pieces: each token's characters with its contribution to ``cls``, the rest with None."""
    pieces, at = [], 0
    for token in sorted(tokens, key=lambda t: t["start"]):
        start, end = max(token["start"], at), token["end"]
        if end <= start:  # a token sharing characters with the previous one (e.g. "do n't") adds to it
            if pieces and pieces[-1][1] is not None:
                pieces[-1] = (pieces[-1][0], pieces[-1][1] + token["contributions"].get(cls, 0.0))
            continue
        if start > at:
            pieces.append((text[at:start], None))
        pieces.append((text[start:end], token["contributions"].get(cls, 0.0)))
        at = end
    if at < len(text):
        pieces.append((text[at:], None))
    return pieces


def _shade(contribution: float | None, scale: float = 0.0) -> str:
    """CSS background for a token: red when it pushed towards the (wrong) predicted class, blue when
    against; the strongest token of the tweet (``scale``, the largest absolute contribution) darkest."""
    if contribution is None:
        return ""
    alpha = 0.75 * abs(contribution) / scale if scale > 0 else 0.0
    colour = "220, 38, 38" if contribution > 0 else "37, 99, 235"
    return f"background: rgba({colour}, {alpha:.2f})"


def _marked(segments: list[tuple[str, float | None]], n: int = 3) -> str:
    """Markdown: the ``n`` tokens that pushed most towards the predicted class, with their contributions."""
    top = sorted((s for s in segments if s[1] is not None and s[1] > 0), key=lambda s: -s[1])[:n]
    return ", ".join(f"{piece} (+{value:.2f})" for piece, value in top) or "–"


def _config_rows(result: dict) -> list[tuple[str, list[str], bool]]:
    """(key, value per run, differs) for every config key of any run."""
    flats = [{key: json.dumps(value) if isinstance(value, (list, str)) else str(value)
              for key, value in flatten(r["config"]).items()} for r in result["runs"]]
    keys = list(dict.fromkeys(k for flat in flats for k in flat))
    rows = []
    for key in keys:
        values = [flat.get(key, "–") for flat in flats]
        rows.append((key, values, len(flats) > 1 and len(set(values)) > 1))
    return rows


def _title(result: dict) -> str:
    names = result["names"]
    return f"tweetsent report: {names[0]}" if len(names) == 1 else "tweetsent comparison: " + " vs ".join(names)


def _verdict_class(verdict: str) -> str:
    return {"overfitting": "overfitting", "no sign of overfitting": "no-sign"}.get(verdict, "unknown")


def _context(result: dict, examples: dict) -> dict:
    """What both templates show: the comparison itself, the config table and the wrong tweets."""
    return {
        "title": _title(result), "result": result, "names": result["names"], "fmt": format_value,
        "rule": next(iter(result["overfit"].values()))["rule"], "config_rows": _config_rows(result),
        "misclassified": [(name, *examples[name]) for name in result["names"]],
        "shade": _shade, "marked": _marked,
        "highlighted": any(r.get("segments") for rows, _ in examples.values() for r in rows),
    }  # fmt: skip


def _html(result: dict, figures: dict, examples: dict) -> str:
    # Rows of figures: the curves side by side, the ROC panels on their own, then the confusion matrices.
    groups = (["loss", "f1"], ["roc"], [k for k in figures if k.startswith(_CONFUSION)])
    figure_groups = [[{"caption": figures[key][0], "png": figures[key][1], "wide": key == "roc"}
                      for key in group if key in figures] for group in groups]
    pairs = result["pairs"]
    return render("report.html.j2", **_context(result, examples), figure_groups=figure_groups,
                  verdict_class=_verdict_class, schedule_text=schedule_warning,
                  generated=f"{datetime.now(UTC):%Y-%m-%d %H:%M}",
                  resamples=pairs[0]["accuracy"]["bootstrap"]["n_resamples"] if pairs else None)


def _markdown(result: dict, images: dict, examples: dict) -> str:
    return render("report.md.j2", **_context(result, examples), images=list(images.values()),
                  schedule_text=schedule_warning)


def write_report(run_dirs: Sequence[str | Path], out: str | Path, format: str = "html", n_examples: int = 3,
                 n_resamples: int = 2000, seed: int = 0, highlight: bool = True) -> Path:
    """Write the report of one run, or the comparison of several, and return its path.

    Parameters
    ----------
    run_dirs : sequence of path
        One run directory, or several scored on the same validation file.
    out : path
        The report file. For ``"md"``, the figures are written beside it as
        ``<stem>-<figure>.png``.
    format : {"html", "md"}
        ``"html"``: one file with inline CSS and base64 PNGs, no external resource.
    n_examples : int
        Misclassified tweets shown per true class and run (most confident first).
    n_resamples, seed : int
        Bootstrap settings for the paired tests.
    highlight : bool
        Load each run's model and highlight the tokens of the misclassified tweets by their
        contribution to the wrong prediction (`tweetsent.models.explain`).

    Returns
    -------
    Path
        ``out``.
    """
    if format not in FORMATS:
        raise ConfigError(f"unknown report format {format!r}; choose one of {', '.join(FORMATS)}")
    summaries = [load_run_summary(d) for d in run_dirs]
    return render_report(summaries, compare_summaries(summaries, n_resamples, seed), out, format, n_examples,
                         highlight)


def render_report(summaries: Sequence[dict], result: dict, out: str | Path, format: str = "html",
                  n_examples: int = 3, highlight: bool = True) -> Path:
    """`write_report` for runs already read and compared (`load_run_summary`, `compare_summaries`)."""
    if format not in FORMATS:
        raise ConfigError(f"unknown report format {format!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    figures = _figures(result, summaries)
    examples = _misclassified(summaries, result["names"], result["labels"], n_examples, highlight)
    if format == "html":
        atomic_write_text(out, _html(result, figures, examples))
        return out
    images = {}
    for key, (caption, png) in figures.items():
        images[key] = (caption, f"{out.stem}-{key}.png")
        atomic_write_bytes(out.parent / images[key][1], png)
    atomic_write_text(out, _markdown(result, images, examples))
    return out
