"""The study's protocol, rerun: seed-tanh, seed-prelu and seed-softmax, a learning curve, one report.

    result = reproduce_study("vaccine_train_set.csv", "vaccine_validation_set.csv", "study")
    result.report       # study/report.html

Each preset is trained into ``out/<preset>``; the softmax regression's score curve goes to
``out/softmax_learning_curve.json`` / ``.png``, and ``out/report.html`` compares the three runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tweetsent.errors import DataError
from tweetsent.runs.outputs import check_can_create
from tweetsent.runs.workflow import RunResult

__all__ = ["STUDY_PRESETS", "StudyResult", "reproduce_study"]

STUDY_PRESETS = ("seed-tanh", "seed-prelu", "seed-softmax")  # the study's three models, in its order


@dataclass
class StudyResult:
    runs: dict[str, RunResult]  # preset name -> its trained run
    curve: list[dict]  # the softmax regression's learning-curve rows
    report: Path


def reproduce_study(train_path: str | Path, val_path: str | Path, out: str | Path = "study",
                    embeddings: str | None = None, seed: int = 0, log=None, progress: bool = True,
                    on_run: Callable[[str, RunResult], None] | None = None) -> StudyResult:
    """Run the study's protocol and write its comparison report.

    Parameters
    ----------
    train_path, val_path : path
        Labelled tables (the study's vaccine_train_set.csv and vaccine_validation_set.csv).
    out : path
        Folder for the three runs, the learning curve and report.html; must be empty or missing.
    embeddings : str, optional
        Word vectors for the two networks (default: the presets' GloVe 6B 50d).
    seed : int
        Seeds every training and the learning curve's samples.
    log : RunLog, optional
        The experiment log; the runs are filed under study "reproduce-study".
    progress : bool
        Show each training's epochs on stderr.
    on_run : callable, optional
        Called with (preset, RunResult) after each training.

    Returns
    -------
    StudyResult
    """
    from tweetsent.config.resolve import resolve_config
    from tweetsent.reporting.report import write_report
    from tweetsent.runs.curves import learning_curve, save_curve_figure
    from tweetsent.runs.workflow import train_run
    from tweetsent.training.progress import EpochProgress
    from tweetsent.util.files import atomic_write_json

    out = Path(out)
    check_can_create(out, "--out")
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: a file is there, not a folder; choose another --out")
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out}: the folder is not empty; choose another --out or remove it")
    runs = {}
    for preset in STUDY_PRESETS:
        overrides = [f"features.embeddings={embeddings}"] if embeddings and preset != "seed-softmax" else []
        cfg = resolve_config(preset, overrides, seed)
        runs[preset] = train_run(cfg, train_path, val_path, out=out / preset, log=log, study="reproduce-study",
                                 callbacks=[EpochProgress(preset)] if progress else [])
        if on_run:
            on_run(preset, runs[preset])
    # The study's score curve for the softmax regression.
    rows = learning_curve(resolve_config("seed-softmax", [], seed), train_path, val_path)
    atomic_write_json(out / "softmax_learning_curve.json", rows)
    save_curve_figure(rows, "f1_macro", "Learning curve: seed-softmax", out / "softmax_learning_curve.png")
    report = write_report([r.run_dir for r in runs.values()], out / "report.html")
    return StudyResult(runs, rows, Path(report))
