"""Benchmarks for the study's comparisons: the softmax regression and `reproduce-study`.

    .venv/bin/python bench/bench_study.py [--data ../shared/data/vaccine] [--repeats 3]

Measures on this machine:
1. `tweetsent train --config seed-softmax` and `--config seed-prelu` as whole processes
   (median of N), with their validation scores;
2. the solver: the same softmax regression on the same hashed features fitted by
   scikit-learn's LogisticRegression (L-BFGS, multinomial, C in 1 and 4) vs tweetsent's Adam loop;
3. `tweetsent reproduce-study` end to end (one run).
Prints a Markdown report and writes bench/out/study.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / "bench"))
from bench_core import _machine  # noqa: E402


def whole(preset: str, train: Path, val: Path, repeats: int) -> dict:
    times, metrics = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            started = time.perf_counter()
            out = subprocess.run([str(BIN / "tweetsent"), "train", "--config", preset, "--train", str(train), "--val",
                                  str(val), "--out", f"{tmp}/r{i}", "--quiet", "--json", "--no-log"],
                                 check=True, capture_output=True, text=True)
            times.append(time.perf_counter() - started)
            metrics = json.loads(out.stdout)
    return {"seconds": statistics.median(times), "runs": times, "accuracy": metrics["accuracy"],
            "f1_weighted": metrics["f1_weighted"], "f1_macro": metrics["f1_macro"]}


def solvers(train: Path, val: Path) -> list[dict]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    from tweetsent.config.resolve import resolve_config
    from tweetsent.data.tables import read_dataset
    from tweetsent.features.ngrams import NgramHasher

    tr, va = read_dataset(train), read_dataset(val)
    f = resolve_config("seed-softmax").features
    hasher = NgramHasher(tuple(f.word_ngrams), tuple(f.char_ngrams), f.n_features, f.tfidf, f.tokenizer).fit(tr.texts)
    X, Xv = hasher.transform(tr.texts), hasher.transform(va.texts)
    rows = []
    for C in (1.0, 4.0):
        started = time.perf_counter()
        model = LogisticRegression(C=C, max_iter=1000).fit(X, tr.labels)
        seconds = time.perf_counter() - started
        pred = model.predict(Xv)
        rows.append({"solver": f"scikit-learn LogisticRegression L-BFGS, C={C:g}", "fit_seconds": seconds,
                     "accuracy": accuracy_score(va.labels, pred), "f1_weighted": f1_score(va.labels, pred, average="weighted"),
                     "f1_macro": f1_score(va.labels, pred, average="macro")})
    return rows


def reproduce(train: Path, val: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run([str(BIN / "tweetsent"), "reproduce-study", "--train", str(train), "--val", str(val),
                        "--out", f"{tmp}/study", "--no-log"], check=True, capture_output=True)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "vaccine")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    train, val = args.data / "vaccine_train_set.csv", args.data / "vaccine_validation_set.csv"
    r = {"date": date.today().isoformat(), "machine": _machine(), "command": " ".join(sys.argv)}
    r["softmax"] = whole("seed-softmax", train, val, args.repeats)
    r["prelu"] = whole("seed-prelu", train, val, args.repeats)
    r["solvers"] = solvers(train, val)
    r["reproduce_seconds"] = reproduce(train, val)
    (REPO / "bench" / "out").mkdir(exist_ok=True)
    (REPO / "bench" / "out" / "study.json").write_text(json.dumps(r, indent=2))
    lines = [f"Machine: {r['machine']}; date {r['date']}; command `{r['command']}`", "",
             "| model | whole `tweetsent train` (median) | accuracy | weighted F1 | macro F1 |", "|---|---|---|---|---|"]
    for name, key in (("seed-softmax", "softmax"), ("seed-prelu", "prelu")):
        x = r[key]
        lines.append(f"| {name} | {x['seconds']:.2f} s | {x['accuracy']:.4f} | {x['f1_weighted']:.4f} | {x['f1_macro']:.4f} |")
    lines += ["", "| solver (same hashed features) | fit time | accuracy | weighted F1 | macro F1 |", "|---|---|---|---|---|"]
    for s in r["solvers"]:
        lines.append(f"| {s['solver']} | {s['fit_seconds']:.2f} s | {s['accuracy']:.4f} | {s['f1_weighted']:.4f} | {s['f1_macro']:.4f} |")
    lines += ["", f"`tweetsent reproduce-study` end to end: {r['reproduce_seconds']:.1f} s"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
