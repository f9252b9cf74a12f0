"""A report of one run or a comparison: one self-contained HTML file, or Markdown with PNGs beside it.

    write_report(["runs/a", "runs/b"], "report.html")    # opens from disk, no server, no network

The report renders what `tweetsent.evaluation.compare.compare_summaries` returns (the runs' own
``metrics.json`` values, the overfitting verdicts and the paired tests) and draws its figures
with `tweetsent.reporting.plots` from each run's history and ``predictions.csv``. Tweets are
HTML-escaped: a tweet is data, never markup.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from tweetsent.evaluation.compare import compare_summaries, load_run_summary
from tweetsent.errors import ConfigError
from tweetsent.util.files import atomic_path

__all__ = ["write_report", "render_report", "format_value", "FORMATS"]

FORMATS = ("html", "md")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d232a;margin:0;background:#f6f7f9}
main{max-width:1120px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 10px;border-bottom:2px solid #e4e7eb;padding-bottom:4px}
h3{font-size:15px;margin:6px 0 6px}.sub{color:#5b6570;margin:0 0 8px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #dde1e6;padding:4px 9px;text-align:right;vertical-align:top}
th{background:#f0f2f5;font-weight:600}td.l,th.l{text-align:left}
tr.diff td{background:#fff6d6}strong{color:#0b5394}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px}
.overfitting{background:#fde2e1;color:#9b1c1c}.no-sign{background:#e1f5e4;color:#1b6b2f}.unknown{background:#eceff3;color:#4a5560}
.figs{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start;margin-bottom:12px}
.figs figure{margin:0;max-width:calc(50% - 6px)}.figs figure.wide{max-width:100%}
figure img{max-width:100%;height:auto;border:1px solid #e4e7eb}td.nw{white-space:nowrap}figcaption{font-size:12px;color:#5b6570;text-align:center}
ul.sig li{margin:4px 0}.rule{color:#5b6570;font-style:italic}td.tweet{text-align:left;max-width:620px;word-break:break-word}
"""


def format_value(key: str, value) -> str:
    """The one place numbers become text, so HTML, Markdown and the terminal show the same digits."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.2f}" if key == "seconds" else f"{value:.4f}"


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def _figures(result: dict, summaries: Sequence[dict]) -> dict[str, tuple[str, bytes]]:
    """{file stem: (caption, PNG bytes)}: overlaid curves and ROC, one confusion matrix per run."""
    from tweetsent.reporting.plots import confusion_figure, f1_curves, loss_curves, roc_curves

    names, labels = result["names"], result["labels"]
    histories = {n: s["history"] for n, s in zip(names, summaries)
                 if s["history"] and all("train_loss" in r for r in s["history"])}
    figures = {}
    if histories:
        figures["loss"] = ("Training (solid) and validation (dashed) loss per epoch", _png(loss_curves(histories)))
        with_f1 = {n: h for n, h in histories.items() if "val_f1_macro" in h[0]}
        if with_f1:
            figures["f1"] = ("Validation macro (solid) and weighted (dotted) F1 per epoch", _png(f1_curves(with_f1)))
    probas = {n: s["predictions"][[f"p_{c}" for c in labels]].to_numpy() for n, s in zip(names, summaries)}
    y_true = summaries[0]["predictions"]["label"].to_numpy()
    figures["roc"] = ("One-vs-rest ROC curve per class", _png(roc_curves(y_true, probas, labels)))
    for i, (name, s) in enumerate(zip(names, summaries)):
        fig = confusion_figure(s["metrics"]["confusion_matrix"], labels, title=name)
        figures[f"confusion-{i + 1}"] = (f"Confusion matrix of {name} (rows: true, columns: predicted)", _png(fig))
    return figures


def _misclassified(summaries: Sequence[dict], names: Sequence[str], labels: Sequence[str], k: int) -> dict:
    """{run: {true class: up to k wrong tweets, most confident first}} from predictions.csv."""
    out = {}
    for name, s in zip(names, summaries):
        frame = s["predictions"]
        wrong = frame[frame["label"] != frame["predicted"]].copy()
        wrong["confidence"] = [row[f"p_{row['predicted']}"] if f"p_{row['predicted']}" in wrong.columns else None
                               for _, row in wrong.iterrows()]
        out[name] = {cls: wrong[wrong["label"] == cls].sort_values("confidence", ascending=False, kind="stable")
                     .head(k)[["text", "label", "predicted", "confidence"]].to_dict("records") for cls in labels}
    return out


def _flat_config(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flat_config(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = json.dumps(value) if isinstance(value, (list, str)) else str(value)
    return flat


def _config_rows(result: dict) -> list[tuple[str, list[str], bool]]:
    """(key, value per run, differs) for every config key of any run."""
    flats = [_flat_config(r["config"]) for r in result["runs"]]
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


def _html(result: dict, figures: dict, examples: dict) -> str:
    e, names = html.escape, result["names"]
    heads = "".join(f"<th>{e(n)}</th>" for n in names)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(_title(result))}</title>"
             f"<style>{_CSS}</style></head><body><main><h1>{e(_title(result))}</h1>",
             f"<p class='sub'>Validation data: {e(str(result['val']))} ({result['n']} tweets, sha256 "
             f"{e(str(result['val_sha256'])[:12])}); classes {e(', '.join(result['labels']))}. Generated "
             f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.</p>"]
    if result["pairs"]:
        parts.append("<h2>Is the difference real?</h2><ul class='sig'>")
        for pair in result["pairs"]:
            for metric in ("accuracy", "f1_macro"):
                parts.append(f"<li>{e(pair[metric]['statement'])}</li>")
        resamples = result["pairs"][0]["accuracy"]["bootstrap"]["n_resamples"]
        parts.append(f"</ul><p class='rule'>Paired bootstrap over tweets (95% CI of the difference, {resamples:,} "
                     "resamples) and McNemar's test on the tweets the two models disagree on; a difference is real "
                     "when the CI excludes 0 (and McNemar p &lt; 0.05 for accuracy).</p>")
    parts.append(f"<h2>Metrics</h2><div class='figs'><div><table><tr><th class='l'>metric</th>{heads}</tr>")
    for row in result["table"]:
        cells = "".join(f"<td>{'<strong>' if n in row['best'] else ''}{e(format_value(row['key'], row['values'][n]))}"
                        f"{'</strong>' if n in row['best'] else ''}</td>" for n in names)
        parts.append(f"<tr><td class='l'>{e(row['label'])}</td>{cells}</tr>")
    parts.append("</table><p class='sub'>Bold: best per row. All values are the runs' own metrics.json and "
                 "run.json numbers.</p></div><div><h3>Per class</h3><table><tr><th class='l'>class</th><th class='l'>run</th>"
                 "<th>precision</th><th>recall</th><th>F1</th><th>support</th><th>ROC AUC</th></tr>")
    for cls in result["labels"]:
        for run in result["runs"]:
            pc = run["metrics"]["per_class"][cls]
            parts.append(f"<tr><td class='l'>{e(cls)}</td><td class='l'>{e(run['name'])}</td>" + "".join(
                f"<td>{format_value(k, pc[k])}</td>" for k in ("precision", "recall", "f1", "support", "roc_auc")) + "</tr>")
    parts.append("</table></div></div><h2>Overfitting</h2><table><tr><th class='l'>run</th><th class='l'>verdict</th>"
                 "<th class='l'>evidence</th></tr>")
    for name in names:
        v = result["overfit"][name]
        parts.append(f"<tr><td class='l nw'>{e(name)}</td><td class='l nw'><span class='badge "
                     f"{_verdict_class(v['verdict'])}'>{e(v['verdict'])}</span></td><td class='l'>{e(v['evidence'])}</td></tr>")
    parts.append(f"</table><p class='rule'>Rule: {e(next(iter(result['overfit'].values()))['rule'])}</p><h2>Figures</h2>")
    for group in (["loss", "f1"], ["roc"], [k for k in figures if k.startswith("confusion-")]):
        parts.append("<div class='figs'>")
        for key in (k for k in group if k in figures):
            caption, png = figures[key]
            parts.append(f"<figure{' class=wide' if key == 'roc' else ''}><img alt='{e(caption)}' src='data:image/png;base64,"
                         f"{base64.b64encode(png).decode('ascii')}'><figcaption>{e(caption)}</figcaption></figure>")
        parts.append("</div>")
    left_heads = "".join(f"<th class='l'>{e(n)}</th>" for n in names)
    parts.append(f"<h2>Configuration</h2><table><tr><th class='l'>setting</th>{left_heads}</tr>")
    for key, values, differs in _config_rows(result):
        cells = "".join(f"<td class='l'>{e(v)}</td>" for v in values)
        parts.append(f"<tr{' class=diff' if differs else ''}><td class='l'>{e(key)}</td>{cells}</tr>")
    parts.append("</table>" + ("<p class='sub'>Highlighted: settings that differ.</p>" if len(names) > 1 else ""))
    parts.append("<h2>Misclassified tweets</h2><p class='sub'>The most confidently wrong predictions per true class.</p>")
    for name in names:
        parts.append(f"<h3>{e(name)}</h3><table><tr><th class='l'>true</th><th class='l'>predicted</th>"
                     f"<th>confidence</th><th class='l'>tweet</th></tr>")
        rows = [r for cls in result["labels"] for r in examples[name][cls]]
        for r in rows:
            parts.append(f"<tr><td class='l'>{e(r['label'])}</td><td class='l'>{e(r['predicted'])}</td>"
                         f"<td>{format_value('confidence', r['confidence'])}</td><td class='tweet'>{e(r['text'])}</td></tr>")
        if not rows:
            parts.append("<tr><td colspan='4' class='l'>none: every validation tweet is right</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Runs</h2><ul>" + "".join(f"<li>{e(r['name'])}: {e(r['dir'])}</li>" for r in result["runs"]))
    parts.append("</ul></main></body></html>\n")
    return "".join(parts)


def _md_cell(text) -> str:
    return html.escape(str(text)).replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _markdown(result: dict, images: dict, examples: dict) -> str:
    names = result["names"]
    head = "| " + " | ".join(["metric"] + [_md_cell(n) for n in names]) + " |\n|" + "---|" * (len(names) + 1)
    lines = [f"# {_title(result)}", "",
             f"Validation data: `{result['val']}` ({result['n']} tweets, sha256 {str(result['val_sha256'])[:12]}); "
             f"classes {', '.join(result['labels'])}.", ""]
    if result["pairs"]:
        lines += ["## Is the difference real?", ""]
        lines += [f"- {_md_cell(p[m]['statement'])}" for p in result["pairs"] for m in ("accuracy", "f1_macro")]
        lines.append("")
    lines += ["## Metrics", "", head]
    for row in result["table"]:
        cells = [f"**{format_value(row['key'], row['values'][n])}**" if n in row["best"] else format_value(row["key"], row["values"][n])
                 for n in names]
        lines.append("| " + " | ".join([_md_cell(row["label"])] + [_md_cell(c) for c in cells]) + " |")
    lines += ["", "Bold: best per row.", "", "## Overfitting", ""]
    for name in names:
        v = result["overfit"][name]
        lines.append(f"- **{_md_cell(name)}**: {v['verdict']}. {_md_cell(v['evidence'])}")
    lines += ["", f"Rule: {next(iter(result['overfit'].values()))['rule']}", "", "## Figures", ""]
    lines += [f"![{caption}]({file})" for caption, file in images.values()]
    lines += ["", "## Configuration", "", head.replace("metric", "setting", 1)]
    for key, values, differs in _config_rows(result):
        mark = (lambda v: f"**{_md_cell(v)}**") if differs else _md_cell
        lines.append("| " + " | ".join([_md_cell(key)] + [mark(v) for v in values]) + " |")
    lines += ["", "## Misclassified tweets", ""]
    for name in names:
        lines += [f"### {_md_cell(name)}", "", "| true | predicted | confidence | tweet |", "|---|---|---|---|"]
        lines += [f"| {_md_cell(r['label'])} | {_md_cell(r['predicted'])} | {format_value('confidence', r['confidence'])} | "
                  f"{_md_cell(r['text'])} |" for cls in result["labels"] for r in examples[name][cls]]
        lines.append("")
    return "\n".join(lines) + "\n"


def write_report(run_dirs: Sequence[str | Path], out: str | Path, format: str = "html", n_examples: int = 3,
                 n_resamples: int = 2000, seed: int = 0) -> Path:
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
        Misclassified tweets shown per true class and run.
    n_resamples, seed : int
        Bootstrap settings for the paired tests.

    Returns
    -------
    Path
        ``out``.
    """
    if format not in FORMATS:
        raise ConfigError(f"unknown report format {format!r}; choose one of {', '.join(FORMATS)}")
    summaries = [load_run_summary(d) for d in run_dirs]
    return render_report(summaries, compare_summaries(summaries, n_resamples, seed), out, format, n_examples)


def render_report(summaries: Sequence[dict], result: dict, out: str | Path, format: str = "html",
                  n_examples: int = 3) -> Path:
    """`write_report` for runs already read and compared (`load_run_summary`, `compare_summaries`)."""
    if format not in FORMATS:
        raise ConfigError(f"unknown report format {format!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    figures = _figures(result, summaries)
    examples = _misclassified(summaries, result["names"], result["labels"], n_examples)
    if format == "html":
        _write(out, _html(result, figures, examples).encode("utf-8"))
        return out
    images = {}
    for key, (caption, png) in figures.items():
        images[key] = (caption, f"{out.stem}-{key}.png")
        _write(out.parent / images[key][1], png)
    _write(out, _markdown(result, images, examples).encode("utf-8"))
    return out


def _write(path: Path, data: bytes) -> None:
    """Atomically, and readable by others as a normal file is (temporary files start private)."""
    umask = os.umask(0)
    os.umask(umask)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
        tmp.chmod(0o666 & ~umask)
