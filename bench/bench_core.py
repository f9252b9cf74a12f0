"""Benchmarks of the core (issue: train, evaluate and predict with the feed-forward network).

    .venv/bin/python bench/bench_core.py [--data ../shared/data/vaccine] [--repeats 3] [--skip-quality]

Measures, on this machine:
1. quality: seed-prelu and seed-tanh, 3 seeds each, with the tweet-aware tokenization (the
   default: tweet tokenizer, punctuation-only tokens left out of the average) and the study's
   (lower-case, split on whitespace, every token averaged), on the validation file;
2. the whole `tweetsent train --config seed-prelu` process (imports, embedding load,
   featurisation, 50 epochs, figures), median of N runs;
3. featurisation throughput (tweets/s) next to scikit-learn's HashingVectorizer on the same tweets;
4. `tweetsent predict` on 1,000,000 tweets (the validation tweets repeated): throughput and peak memory.
Prints a Markdown report and writes bench/out/core.json.
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

from machine import machine

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def quality(train: Path, val: Path) -> list[dict]:
    from tweetsent.config.resolve import resolve_config
    from tweetsent.data.tables import read_dataset
    from tweetsent.evaluation.metrics import compute_metrics
    from tweetsent.models.classifier import TweetClassifier

    tr, va = read_dataset(train), read_dataset(val)
    rows = []
    for preset in ("seed-prelu", "seed-tanh"):
        for tokenizer, overrides in (("tweet-aware", []),
                                     ("study's", ["features.tokenizer=whitespace", "features.punctuation=true"])):
            for seed in (0, 1, 2):
                cfg = resolve_config(preset, overrides, seed=seed)
                started = time.perf_counter()
                clf = TweetClassifier(cfg).fit(tr.texts, tr.labels, va.texts, va.labels)
                m = compute_metrics(va.labels, clf.predict_proba(va.texts), clf.classes_)
                rows.append({"preset": preset, "tokenizer": tokenizer, "seed": seed, "accuracy": m["accuracy"],
                             "f1_weighted": m["f1_weighted"], "f1_macro": m["f1_macro"],
                             "f1_antivax": m["per_class"]["1"]["f1"], "fit_seconds": time.perf_counter() - started})
                print(f"  {preset:10s} {tokenizer:10s} seed {seed}: acc {m['accuracy']:.4f} "
                      f"wF1 {m['f1_weighted']:.4f} mF1 {m['f1_macro']:.4f}", file=sys.stderr)
    return rows


def whole_train(train: Path, val: Path, repeats: int) -> list[float]:
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            started = time.perf_counter()
            subprocess.run([str(BIN / "tweetsent"), "train", "--config", "seed-prelu", "--train", str(train),
                            "--val", str(val), "--out", f"{tmp}/run{i}", "--quiet", "--json"],
                           check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - started)
    return times


def featurisation(train: Path, repeats: int) -> dict:
    from sklearn.feature_extraction.text import HashingVectorizer

    from tweetsent.data.tables import read_dataset
    from tweetsent.features.embeddings import load_embeddings
    from tweetsent.features.pooling import EmbeddingAverager

    texts = read_dataset(train).texts * 10
    averager = EmbeddingAverager(load_embeddings("glove-6b-50d"), "tweet")
    hashing = HashingVectorizer(ngram_range=(1, 1))
    out = {"n_tweets": len(texts)}
    for name, fn in (("tweetsent", averager.transform), ("sklearn_hashing", hashing.transform)):
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            fn(texts)
            runs.append(len(texts) / (time.perf_counter() - started))
        out[name] = statistics.median(runs)
    out["ratio"] = out["tweetsent"] / out["sklearn_hashing"]
    return out


def predict_million(train: Path, val: Path, repeats: int) -> dict:
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        tweets = pd.read_csv(val, keep_default_na=False)["tweet"]
        reps = -(-1_000_000 // len(tweets))
        big = Path(tmp) / "million.csv"
        pd.DataFrame({"tweet": pd.concat([tweets] * reps, ignore_index=True)[:1_000_000]}).to_csv(big, index=False)
        subprocess.run([str(BIN / "tweetsent"), "train", "--config", "seed-prelu", "--train", str(train),
                        "--out", f"{tmp}/run", "--quiet", "--no-figures", "--json"], check=True, stdout=subprocess.DEVNULL)
        times, peaks = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            # /usr/bin/time is not everywhere: read the child's peak RSS from a wrapper instead.
            probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
                     "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
            result = subprocess.run([sys.executable, "-c", probe, str(BIN / "tweetsent"), "predict", f"{tmp}/run",
                                     "--data", str(big), "--out", f"{tmp}/pred.csv"],
                                    check=True, capture_output=True, text=True)
            times.append(time.perf_counter() - started)
            peaks.append(int(result.stdout.strip().splitlines()[-1]) / 1024)
        lines = len(pd.read_csv(f"{tmp}/pred.csv", usecols=["label"]))
    return {"n_tweets": lines, "seconds": statistics.median(times), "tweets_per_s": lines / statistics.median(times),
            "peak_mb": max(peaks), "runs": times}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "vaccine")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    train, val = args.data / "vaccine_train_set.csv", args.data / "vaccine_validation_set.csv"
    report: dict = {"date": date.today().isoformat(), "machine": machine(), "command": " ".join(sys.argv)}
    if not args.skip_quality:
        report["quality"] = quality(train, val)
    report["whole_train_seconds"] = whole_train(train, val, args.repeats)
    report["featurisation"] = featurisation(train, args.repeats)
    report["predict_million"] = predict_million(train, val, args.repeats)
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "core.json").write_text(json.dumps(report, indent=2))
    print(render(report))


def render(r: dict) -> str:
    lines = [f"Machine: {r['machine']}; date {r['date']}; command `{r['command']}`", ""]
    if "quality" in r:
        import pandas as pd

        q = pd.DataFrame(r["quality"])
        lines += ["| preset | tokenizer | accuracy (seeds 0,1,2) | mean | weighted F1 (seeds) | mean | macro F1 mean | anti-vax F1 mean |",
                  "|---|---|---|---|---|---|---|---|"]
        for (preset, tok), g in q.groupby(["preset", "tokenizer"], sort=False):
            lines.append(f"| {preset} | {tok} | {' / '.join(f'{v:.4f}' for v in g.accuracy)} | {g.accuracy.mean():.4f} | "
                         f"{' / '.join(f'{v:.4f}' for v in g.f1_weighted)} | {g.f1_weighted.mean():.4f} | "
                         f"{g.f1_macro.mean():.4f} | {g.f1_antivax.mean():.4f} |")
        lines.append("")
    t = r["whole_train_seconds"]
    f = r["featurisation"]
    p = r["predict_million"]
    lines += [
        f"- whole `tweetsent train --config seed-prelu` process: median {statistics.median(t):.2f} s "
        f"(runs: {', '.join(f'{x:.2f}' for x in t)})",
        f"- featurisation of {f['n_tweets']:,} tweets: {f['tweetsent']:,.0f} tweets/s; scikit-learn HashingVectorizer "
        f"on the same tweets {f['sklearn_hashing']:,.0f} tweets/s (ratio {f['ratio']:.2f})",
        f"- `tweetsent predict` on {p['n_tweets']:,} tweets: median {p['seconds']:.2f} s = {p['tweets_per_s']:,.0f} "
        f"tweets/s, peak memory {p['peak_mb']:.0f} MB",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
