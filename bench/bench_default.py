"""Which preset `tweetsent train` trains without --config: the candidates that fit in well under a minute.

    .venv/bin/python bench/bench_default.py [--data ../shared/data/vaccine] [--seeds 0,1,2]

Fits each candidate on the vaccine training file and scores it on the validation file (3 seeds),
timing the fit alone (`TweetClassifier.fit`, one process, nothing else running). The candidates:
the configuration `tweetsent train` used before it had a default preset (the dataclass defaults:
a 256-128-64-32 ReLU network on averaged GloVe-50d), the study's presets, and the n-gram softmax
presets. Prints a Markdown table and writes bench/out/default.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date
from pathlib import Path

from machine import machine

REPO = Path(__file__).resolve().parents[1]
CANDIDATES = {
    "defaults (no preset; before 0.2)": None,
    "seed-prelu": "seed-prelu",
    "seed-tanh": "seed-tanh",
    "seed-softmax": "seed-softmax",
    "tfidf-softmax": "tfidf-softmax",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "vaccine")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    from tweetsent.config.resolve import resolve_config
    from tweetsent.config.settings import RunConfig
    from tweetsent.data.tables import read_dataset
    from tweetsent.evaluation.metrics import compute_metrics
    from tweetsent.models.classifier import TweetClassifier

    train = read_dataset(args.data / "vaccine_train_set.csv")
    val = read_dataset(args.data / "vaccine_validation_set.csv")
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for label, preset in CANDIDATES.items():
        for seed in seeds:
            cfg = resolve_config(preset or RunConfig(), seed=seed)
            started = time.perf_counter()
            clf = TweetClassifier(cfg).fit(train.texts, train.labels)
            seconds = time.perf_counter() - started
            m = compute_metrics(val.labels, clf.predict_proba(val.texts), clf.classes_, thresholds=clf.decision())
            rows.append({"model": label, "seed": seed, "accuracy": m["accuracy"], "f1_macro": m["f1_macro"],
                         "f1_antivax": m["per_class"]["1"]["f1"], "fit_seconds": seconds})
            print(f"{label:34s} seed {seed}: acc {m['accuracy']:.4f} macro F1 {m['f1_macro']:.4f} "
                  f"anti-vax F1 {m['per_class']['1']['f1']:.4f} in {seconds:.1f} s", file=sys.stderr)
    print(f"\nMachine: {machine()}. Date: {date.today()}. Command: {' '.join(sys.argv)}\n")
    print("| model | accuracy | macro F1 | anti-vax F1 | fit (median) |\n|---|---|---|---|---|")
    for label in CANDIDATES:
        mine = [r for r in rows if r["model"] == label]
        mean = {k: statistics.mean(r[k] for r in mine) for k in ("accuracy", "f1_macro", "f1_antivax")}
        print(f"| {label} | {mean['accuracy']:.4f} | {mean['f1_macro']:.4f} | {mean['f1_antivax']:.4f} | "
              f"{statistics.median(r['fit_seconds'] for r in mine):.1f} s |")
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "default.json").write_text(json.dumps({"machine": machine(), "date": str(date.today()), "rows": rows},
                                                 indent=1))


if __name__ == "__main__":
    main()
