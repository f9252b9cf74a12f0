"""Acceptance benchmarks of `tweetsent tune` (issue 5) on the vaccine data.

    .venv/bin/python bench/bench_tune.py [--data ../shared/data/vaccine] [--minutes 10] [--throughput-minutes 3]
    .venv/bin/python bench/bench_tune.py --minutes 1 --throughput-minutes 0.5     # smoke-sized

Measures, on this machine, each as a separate `tweetsent tune` process with a fresh study:
A. the search restricted to averaged GloVe-50d (``--set features.input=embeddings --set
   features.embeddings=glove-6b-50d``) for ``--minutes``: best inner-split macro F1, then the
   best config retrained and scored once on the validation file (accuracy, weighted and macro F1);
B. the full seed space (every feature option) for ``--minutes``, reported the same way;
C. trial throughput of the restricted search: trials per minute with 1 worker and with
   ``--jobs 2``, ``--throughput-minutes`` each (complete + pruned trials; the trial cut by the
   time budget counts as pruned).
Prints a Markdown report (machine, date, the exact commands) and writes bench/out/tune.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from machine import machine

REPO = Path(__file__).resolve().parents[1]
RESTRICTED = ["--set", "features.input=embeddings", "--set", "features.embeddings=glove-6b-50d"]


def _tune(label: str, slug: str, extra: list[str], minutes: float, data: Path, work: Path, jobs: int = 1) -> dict:
    """One `tweetsent tune` process; its --json summary plus the command and wall time."""
    study = f"bench-{slug}-{datetime.now():%Y%m%d-%H%M%S}"
    args = ["--space", "seed-space", *extra, "--train", str(data / "vaccine_train_set.csv"),
            "--val", str(data / "vaccine_validation_set.csv"), "--timeout", f"{round(minutes * 60)}s",
            "--jobs", str(jobs), "--study", study, "--runs-dir", str(work), "--out", str(work / study), "--json"]
    command = [sys.executable, "-m", "tweetsent", "tune", *args]
    print(f"[{label}] tweetsent tune {' '.join(args)}", file=sys.stderr, flush=True)
    env = {**os.environ, "TWEETSENT_LOG_URL": f"sqlite:///{work / 'runs.db'}"}
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"[{label}] tweetsent tune failed with exit code {proc.returncode}")
    summary = json.loads(proc.stdout)
    return {"label": label, "command": "tweetsent tune " + " ".join(args).replace(str(work), "$WORK"),
            "minutes": minutes, "jobs": jobs, "wall_s": round(wall, 1), "summary": summary}


def _found(summary: dict) -> str:
    """The settings that tell configs apart, on one line."""
    c = summary["best_config"]
    f, m, t = c["features"], c["model"], c["train"]
    parts = [f"input={f['input']}", f"tokenizer={f['tokenizer']}"]
    if "ngrams" in f["input"]:
        parts += [f"word_ngrams={f['word_ngrams']}", f"char_ngrams={f['char_ngrams']}", f"tfidf={f['tfidf']}",
                  f"n_features={f['n_features']}"]
    parts.append(f"kind={m['kind']}")
    if m["kind"] == "network":
        parts += [f"hidden={m['hidden']}", f"activation={m['activation']}", f"dropout={m['dropout']}",
                  f"batch_norm={m['batch_norm']}"]
    parts += [f"optimizer={t['optimizer']}", f"lr={t['lr']:.2g}", f"batch_size={t['batch_size']}",
              f"loss={t['loss']}", f"class_weight={t['class_weight']}", f"patience={t['patience']}"]
    return ", ".join(parts)


def _quality_rows(runs: list[dict]) -> list[str]:
    lines = ["| run | trials (complete / pruned / failed) | best inner score (the metric searched) | val accuracy | val weighted F1 "
             "| val macro F1 | wall |", "|---|---|---|---|---|---|---|"]
    for r in runs:
        s, n = r["summary"], r["summary"]["n_trials"]
        v = s["val_metrics"]
        lines.append(f"| {r['label']} | {n['complete']} / {n['pruned']} / {n['failed']} | {s['inner_score']:.4f} "
                     f"| {v['accuracy']:.4f} | {v['f1_weighted']:.4f} | {v['f1_macro']:.4f} | {r['wall_s']:.0f} s |")
    return lines


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "vaccine")
    parser.add_argument("--minutes", type=float, default=10.0, help="budget of each acceptance search (A, B)")
    parser.add_argument("--throughput-minutes", type=float, default=3.0, help="budget of each throughput run")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: a, b, throughput")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "tune.json")
    args = parser.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if not (args.data / "vaccine_train_set.csv").exists():
        raise SystemExit(f"no vaccine data in {args.data}; give --data")
    results: dict = {"machine": machine(), "date": datetime.now().isoformat(timespec="seconds"), "runs": []}
    with tempfile.TemporaryDirectory(prefix="bench-tune-") as tmp:
        work = Path(tmp)
        if "a" not in skip:
            # Each search optimises the score its acceptance is judged by.
            results["runs"].append(_tune("A: GloVe-50d averaged", "a", [*RESTRICTED, "--metric", "f1_weighted"],
                                         args.minutes, args.data, work))
        if "b" not in skip:
            results["runs"].append(_tune("B: full seed space", "b", ["--metric", "accuracy"], args.minutes, args.data, work))
        throughput = []
        if "throughput" not in skip:
            for jobs in (1, 2):
                run = _tune(f"throughput, {jobs} worker(s)", f"jobs{jobs}", RESTRICTED, args.throughput_minutes, args.data, work, jobs)
                n = run["summary"]["n_trials"]
                run["trials_per_minute"] = (n["complete"] + n["pruned"]) / args.throughput_minutes
                throughput.append(run)
        results["throughput"] = throughput
    lines = [f"## tweetsent tune on the vaccine data ({results['date'][:10]})", "",
             f"Machine: {results['machine']}. Trials are scored on a stratified 15% split of the training file; "
             f"the val columns are the best config retrained on the whole training file, scored once.", ""]
    if results["runs"]:
        lines += _quality_rows(results["runs"]) + [""]
        for r in results["runs"]:
            lines += [f"- **{r['label']}** found: {_found(r['summary'])}", f"  `{r['command']}`"]
        lines.append("")
    if throughput:
        lines += ["| workers | budget | trials (complete / pruned) | trials per minute |", "|---|---|---|---|"]
        for r in throughput:
            n = r["summary"]["n_trials"]
            lines.append(f"| {r['jobs']} | {r['minutes']:g} min | {n['complete']} / {n['pruned']} "
                         f"| {r['trials_per_minute']:.1f} |")
        lines += ["", *[f"`{r['command']}`" for r in throughput]]
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
