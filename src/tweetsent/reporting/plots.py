"""Figures from saved run data: loss and F1 curves, ROC curves, confusion matrices, a study's search.

    fig = loss_curves(history)            # a matplotlib Figure; fig.savefig("loss.png")
    png = figure_png(fig)                 # PNG bytes, for a report; the figure is closed

Every function takes plain data (a history list, metrics dict, labels and probabilities) and
returns a Figure (classes named ``"1 (anti-vax)"`` where ``names``, ``{str(class): name}``, is given), so notebooks show them inline and runs save them as PNG. matplotlib is
imported inside the functions: ``tweetsent --help`` stays instant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from tweetsent.data.labels import class_text

__all__ = [
    "confusion_figure",
    "f1_curves",
    "figure_png",
    "importance_figure",
    "learning_curve_figure",
    "loss_curves",
    "reliability_figure",
    "roc_curves",
    "save_run_figures",
    "search_history_figure",
]


def _plt():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline", "inline"):
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _epoch_axes(histories):
    """(figure, axes, {name: history}) for per-epoch curves of one run or several."""
    fig, ax = _plt().subplots(figsize=(6.4, 4.0), layout="constrained")
    return fig, ax, (histories if isinstance(histories, Mapping) else {"": histories})


def loss_curves(histories: Mapping[str, Sequence[dict]] | Sequence[dict]):
    """Training vs validation loss per epoch, one colour per run (solid: train, dashed: val)."""
    fig, ax, histories = _epoch_axes(histories)
    for i, (name, hist) in enumerate(histories.items()):
        colour = f"C{i}"
        epochs = [r["epoch"] for r in hist]
        prefix = f"{name} " if name else ""
        ax.plot(epochs, [r["train_loss"] for r in hist], color=colour, label=f"{prefix}train")
        if hist and "val_loss" in hist[0]:
            ax.plot(epochs, [r["val_loss"] for r in hist], color=colour, linestyle="--", label=f"{prefix}validation")
            best = min(hist, key=lambda r: r["val_loss"])
            ax.plot(best["epoch"], best["val_loss"], "o", color=colour, markersize=5)
    ax.set(xlabel="epoch", ylabel="loss", title="Training and validation loss (dot: lowest validation loss)")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def f1_curves(histories: Mapping[str, Sequence[dict]] | Sequence[dict]):
    """Validation macro and weighted F1 per epoch."""
    fig, ax, histories = _epoch_axes(histories)
    for i, (name, hist) in enumerate(histories.items()):
        if not hist or "val_f1_macro" not in hist[0]:
            continue
        epochs = [r["epoch"] for r in hist]
        prefix = f"{name} " if name else ""
        ax.plot(epochs, [r["val_f1_macro"] for r in hist], color=f"C{i}", label=f"{prefix}macro F1")
        ax.plot(epochs, [r["val_f1_weighted"] for r in hist], color=f"C{i}", linestyle=":", label=f"{prefix}weighted F1")
    ax.set(xlabel="epoch", ylabel="F1", title="Validation F1 per epoch")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def roc_curves(y_true, probas: Mapping[str, np.ndarray] | np.ndarray, classes: Sequence,
               names: Mapping[str, str] | None = None):
    """One-vs-rest ROC curve per class with its AUC; one panel per class, one line per model."""
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _plt()
    if not isinstance(probas, Mapping):
        probas = {"": probas}
    y_true = np.asarray(y_true)
    fig, axes = plt.subplots(1, len(classes), figsize=(3.2 * len(classes), 3.4), layout="constrained", squeeze=False)
    for k, (cls, ax) in enumerate(zip(classes, axes[0])):
        positive = y_true.astype(str) == str(cls)
        for i, (name, proba) in enumerate(probas.items()):
            if 0 < positive.sum() < len(positive):
                fpr, tpr, _ = roc_curve(positive, proba[:, k])
                auc = roc_auc_score(positive, proba[:, k])
                ax.plot(fpr, tpr, color=f"C{i}", label=f"{name + ' ' if name else ''}AUC {auc:.3f}")
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":")
        ax.set(title=f"class {class_text(cls, names)}", xlabel="false positive rate", ylabel="true positive rate" if k == 0 else None)
        ax.legend(loc="lower right", fontsize="small")
    return fig


def confusion_figure(matrix: Sequence[Sequence[int]], labels: Sequence, title: str = "Confusion matrix",
                     names: Mapping[str, str] | None = None):
    """Counts with row-normalised shading (rows: true class, columns: predicted)."""
    plt = _plt()
    m = np.asarray(matrix)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2.4, 1.1 * len(labels) + 1.6), layout="constrained")
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{m[i, j]}\n{share[i, j]:.0%}", ha="center", va="center",
                    color="white" if share[i, j] > 0.6 else "black", fontsize=9)
    ticks = [class_text(x, names) for x in labels]
    ax.set_xticks(range(len(labels)), labels=ticks)
    ax.set_yticks(range(len(labels)), labels=ticks)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return fig


def reliability_figure(y_true, proba: np.ndarray, classes: Sequence, n_bins: int = 15):
    """Accuracy against confidence (top probability) in equal-width bins, with the ECE in the title.

    Bars on the diagonal are a calibrated model; bars below it, an over-confident one.
    """
    from tweetsent.evaluation.metrics import (
        calibration_bins,
        expected_calibration_error,
    )

    plt = _plt()
    bins = calibration_bins(y_true, proba, list(classes), n_bins)
    ece = expected_calibration_error(y_true, proba, list(classes), n_bins)
    edges = np.asarray(bins["edges"])
    width = edges[1] - edges[0]
    acc = [0.0 if a is None else a for a in bins["accuracy"]]
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5.2, 5.6), layout="constrained", sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1]})
    ax.bar(edges[:-1], acc, width=width, align="edge", edgecolor="black", linewidth=0.5, label="accuracy")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="calibrated")
    ax.set(ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), title=f"Reliability (ECE {ece:.3f}, {n_bins} bins)")
    ax.legend(loc="upper left")
    hist.bar(edges[:-1], bins["count"], width=width, align="edge", color="C1")
    hist.set(xlabel="confidence (top probability)", ylabel="tweets")
    return fig


def save_run_figures(folder, history: Sequence[dict], metrics: dict, y_true, proba: np.ndarray, classes: Sequence) -> list[str]:
    """Write loss.png, f1.png, roc.png, confusion.png and reliability.png into ``folder``; return their names.

    The classes are named as ``metrics["label_names"]`` names them, when it does."""
    from pathlib import Path

    plt = _plt()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = metrics.get("label_names")
    figures = {"confusion.png": confusion_figure(metrics["confusion_matrix"], metrics["labels"], names=names),
               "roc.png": roc_curves(y_true, proba, classes, names),
               "reliability.png": reliability_figure(y_true, proba, classes)}
    if history:
        figures["loss.png"] = loss_curves(history)
        if "val_f1_macro" in history[0]:
            figures["f1.png"] = f1_curves(history)
    for name, fig in figures.items():
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)
    return sorted(figures)


def learning_curve_figure(rows: Sequence[dict], metric: str = "f1_macro", title: str = "Learning curve"):
    """Training-sample and validation scores against the number of training tweets."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
    sizes = [r["n_train"] for r in rows]
    ax.plot(sizes, [r[f"train_{metric}"] for r in rows], "o-", label=f"training sample {metric}")
    ax.plot(sizes, [r[f"val_{metric}"] for r in rows], "o-", label=f"validation {metric}")
    ax.set(xlabel="training tweets", ylabel=metric, title=title)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def search_history_figure(rows: Sequence[dict], metric: str):
    """Each trial's score (dots: complete, crosses: pruned) and the best so far, against the trial number.

    ``rows`` are a study's trials as `tweetsent.tune.finish.trial_rows` gives them.
    """
    plt = _plt()
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


def importance_figure(found: Mapping[str, float]):
    """Horizontal bars of each searched parameter's importance, the most important on top."""
    plt = _plt()
    names = list(found)[::-1]
    fig, ax = plt.subplots(figsize=(6.4, 0.35 * len(names) + 1.2))
    ax.barh(names, [found[n] for n in names], color="#0b5394")
    ax.set_xlabel("importance (fANOVA)")
    ax.set_title("Hyperparameter importance")
    return fig


def figure_png(fig, dpi: int = 90, tight: bool = False) -> bytes:
    """The figure as PNG bytes, for reports; the figure is closed (reports draw many).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    dpi : int
        Resolution; the run report's figures use 90, the study report's 110.
    tight : bool
        Crop to the drawn content (``bbox_inches="tight"``), for figures without a constrained layout.
    """
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, **({"bbox_inches": "tight"} if tight else {}))
    _plt().close(fig)
    return buffer.getvalue()
