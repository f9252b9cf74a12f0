"""Did the model overfit? A stated rule applied to the per-epoch history and the final scores.

    overfit_verdict(history, train_scores=metrics["train"], val_scores=metrics)["evidence"]

The rule (`RULE`, also in the README): a run is **overfitting** when its validation loss rose
by more than 2% of its minimum after its best epoch while the training loss kept falling, or
when its train-minus-validation macro F1 exceeds 0.10. Otherwise it shows **no sign of
overfitting**; with neither validation losses nor train and validation scores the verdict is
**unknown**.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = ["overfit_verdict", "RULE", "LOSS_RISE", "F1_GAP"]

LOSS_RISE = 0.02  # a rise of validation loss above 2% of its minimum is more than epoch-to-epoch noise
F1_GAP = 0.10  # train macro F1 more than 10 points above validation: the model memorised its training set

RULE = (f"Overfitting when validation loss rose by more than {LOSS_RISE:.0%} of its minimum after its best "
        f"epoch while training loss kept falling, or when train-minus-validation macro F1 exceeds "
        f"{F1_GAP:.2f}; otherwise no sign of overfitting (unknown without validation data).")


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _loss_evidence(rows: list[dict]) -> tuple[dict, str, bool]:
    """Best epoch, rise of validation loss since then, change of training loss since then."""
    best = min(rows, key=lambda r: r["val_loss"])  # the first of equal minima
    last = rows[-1]
    rise = last["val_loss"] - best["val_loss"]
    relative = rise / best["val_loss"] if best["val_loss"] > 0 else (math.inf if rise > 0 else 0.0)
    train_change = None
    if _finite(best.get("train_loss")) and _finite(last.get("train_loss")):
        train_change = last["train_loss"] - best["train_loss"]
    facts = {"best_epoch": best["epoch"], "last_epoch": last["epoch"], "best_val_loss": best["val_loss"],
             "last_val_loss": last["val_loss"],
             "val_loss_rise": {"absolute": rise, "relative": relative},
             "train_loss_change_after_best": train_change}
    overfit = relative > LOSS_RISE and train_change is not None and train_change < 0
    if best is last:
        text = (f"validation loss was lowest ({best['val_loss']:.4f}) at the last epoch, {last['epoch']}: "
                f"still improving, more epochs may help")
    else:
        text = (f"validation loss was lowest ({best['val_loss']:.4f}) at epoch {best['epoch']} and was "
                f"{last['val_loss']:.4f} at epoch {last['epoch']} ({rise:+.4f}, {relative:+.1%} of its minimum)")
        if train_change is not None:
            text += f" while training loss {'fell' if train_change < 0 else 'rose'} by {abs(train_change):.4f}"
            if train_change >= 0 and relative > LOSS_RISE:
                text += (" (both losses rose: unstable training rather than overfitting; a lower learning rate "
                         "may help)")
    return facts, text, overfit


def overfit_verdict(history: Sequence[Mapping], train_scores: Mapping | None = None,
                    val_scores: Mapping | None = None) -> dict:
    """Apply `RULE` to a run and say why, with the numbers.

    Parameters
    ----------
    history : sequence of dict
        Per-epoch records with ``epoch``, ``train_loss`` and (when a validation set was used)
        ``val_loss``; may be empty (a model trained in one shot).
    train_scores, val_scores : dict, optional
        Final scores on the training and validation sets, with ``accuracy`` and ``f1_macro``
        (``metrics.json`` and its ``train`` sub-dict).

    Returns
    -------
    dict
        ``verdict`` ("overfitting", "no sign of overfitting" or "unknown"), ``best_epoch``
        (lowest validation loss), ``last_epoch``, ``best_val_loss``, ``last_val_loss``,
        ``val_loss_rise`` ({absolute, relative} or None), ``train_loss_change_after_best``
        (negative: still falling), ``train_val_gap`` ({accuracy, f1_macro}: train minus
        validation, or None), ``reasons`` (which parts of the rule fired), ``evidence`` (one
        sentence with the numbers) and ``rule``.
    """
    out: dict = {"verdict": "unknown", "best_epoch": None, "last_epoch": None, "best_val_loss": None,
                 "last_val_loss": None, "val_loss_rise": None, "train_loss_change_after_best": None,
                 "train_val_gap": None, "reasons": [], "evidence": "", "rule": RULE}
    sentences = []
    rows = [r for r in history if _finite(r.get("val_loss"))]
    if history:
        out["last_epoch"] = history[-1].get("epoch")
    if rows:
        facts, text, overfit = _loss_evidence(rows)
        out.update(facts)
        sentences.append(text)
        if overfit:
            out["reasons"].append("validation loss rose after its best epoch while training loss fell")

    if train_scores and val_scores:
        gap = {key: train_scores[key] - val_scores[key] for key in ("accuracy", "f1_macro")
               if _finite(train_scores.get(key)) and _finite(val_scores.get(key))}
        if gap:
            out["train_val_gap"] = gap
        if "f1_macro" in gap:
            sentences.append(f"train-minus-validation macro F1 is {gap['f1_macro']:+.3f} (train "
                             f"{train_scores['f1_macro']:.3f}, validation {val_scores['f1_macro']:.3f})")
            if gap["f1_macro"] > F1_GAP:
                out["reasons"].append(f"train macro F1 exceeds validation macro F1 by more than {F1_GAP:.2f}")

    if not sentences:
        out["evidence"] = "No validation losses and no train/validation scores: nothing to judge overfitting by."
        return out
    out["verdict"] = "overfitting" if out["reasons"] else "no sign of overfitting"
    body = "; ".join(sentences)
    out["evidence"] = body[0].upper() + body[1:] + "."
    return out
