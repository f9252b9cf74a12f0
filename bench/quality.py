"""Every representation and model tweetsent offers, side by side with fastText and scikit-learn.

    .venv/bin/python bench/quality.py [--data ../shared/data/vaccine] [--seeds 0,1,2] [--best-seeds 0,1,2] [--only 7,sklearn,best]

Trains each model on the vaccine training file and scores it on the validation file: accuracy,
macro and weighted F1, anti-vax (label 1) F1 as mean and spread over seeds, training time and
prediction throughput (validation tweets x 20; x 1 for MiniLM inputs, whose encoder is slow). Peers measured in the same run: fastText
(fasttext-wheel 0.9.2, word bigrams, 25 epochs) and scikit-learn's TF-IDF word 1-2 + char 2-5
logistic regression. Every choice a model makes (early stopping, calibration, thresholds) uses
data carved from the training file, never the validation file. With `best` come each of its
members alone and `glove-distilled`, taught by the MiniLM member just trained. Writes
bench/out/quality.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / "bench"))
from bench_core import _machine  # noqa: E402

CHAR_SOFTMAX = ["features.char_ngrams=[2,5]", "features.tfidf=true", "train.class_weight=balanced"]
MODELS = [
    # name, preset, overrides, seeds?  (False: one run, the model is deterministic or too slow for three)
    ("seed-tanh: network on mean GloVe-50d", "seed-tanh", [], True),
    ("seed-prelu: network on mean GloVe-50d", "seed-prelu", [], True),
    ("network on mean+max GloVe-50d", "seed-tanh", ["features.pooling=mean+max"], True),
    ("network on SIF-weighted GloVe-50d (a = 1e-3, the paper's)", "seed-tanh", ["features.pooling=sif"], True),
    ("network on SIF-weighted GloVe-50d (a = 1e-2)", "seed-tanh", ["features.pooling=sif", "features.sif_a=0.01"], True),
    ("seed-softmax: softmax on hashed word 1-2-grams", "seed-softmax", [], True),
    ("tfidf-softmax: softmax on TF-IDF word 1-2 + char 2-5-grams, balanced, tuned thresholds", "tfidf-softmax", [], True),
    ("glove-ngrams: network on mean+max GloVe-50d + TF-IDF word 1-3 + char 2-5-grams", "glove-ngrams", [], True),
    ("network on MiniLM sentence embeddings", "seed-tanh", ["features.input=minilm", "model.hidden=[256]",
                                                           "model.dropout=0.2", "train.lr=0.001"], True),
    ("softmax on MiniLM + word/char TF-IDF n-grams, balanced", "seed-softmax",
     ["features.input=minilm+ngrams", *CHAR_SOFTMAX], True),
]


def _summary(name: str, runs: list[dict]) -> dict:
    out = {"model": name, "seeds": len(runs), "runs": runs}
    for key in ("accuracy", "f1_macro", "f1_weighted", "f1_antivax", "fit_seconds", "tweets_per_s"):
        values = [r[key] for r in runs]
        out[key] = statistics.mean(values)
        out[f"{key}_spread"] = (max(values) - min(values)) / 2 if len(values) > 1 else 0.0
    return out


def _scores(y, proba, classes) -> dict:
    from tweetsent.evaluation.metrics import compute_metrics

    m = compute_metrics(y, proba, classes)
    return {"accuracy": m["accuracy"], "f1_macro": m["f1_macro"], "f1_weighted": m["f1_weighted"],
            "f1_antivax": m["per_class"]["1"]["f1"]}


def tweetsent_model(preset, overrides, seeds, tr, va) -> list[dict]:
    from tweetsent.config.resolve import resolve_config
    from tweetsent.models.classifier import TweetClassifier

    runs = []
    for seed in seeds:
        cfg = resolve_config(preset, overrides, seed=seed)
        started = time.perf_counter()
        clf = TweetClassifier(cfg).fit(tr.texts, tr.labels, va.texts, va.labels)
        fit = time.perf_counter() - started
        proba = clf.predict_proba(va.texts)
        # MiniLM is slow and caches encodings by content: time it once on validation tweets altered
        # by a token no earlier run used, so the cache cannot answer.
        nonce = f" {time.time_ns()}"
        big = [t + nonce for t in va.texts] if "minilm" in cfg.features.input else va.texts * 20
        started = time.perf_counter()
        clf.predict_proba(big)
        runs.append({**_scores(va.labels, proba, clf.classes_), "seed": seed, "fit_seconds": fit,
                     "tweets_per_s": len(big) / (time.perf_counter() - started)})
        print(f"    seed {seed}: {runs[-1]}", file=sys.stderr, flush=True)
    return runs


def sklearn_peer(tr, va) -> list[dict]:
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)
    X = sp.hstack([words.fit_transform(tr.texts), chars.fit_transform(tr.texts)]).tocsr()
    model = LogisticRegression(C=4.0, max_iter=2000).fit(X, tr.labels)
    fit = time.perf_counter() - started

    def proba(texts):
        return model.predict_proba(sp.hstack([words.transform(texts), chars.transform(texts)]).tocsr())

    p = proba(va.texts)
    big = va.texts * 20
    started = time.perf_counter()
    proba(big)
    return [{**_scores(va.labels, p, list(model.classes_)), "seed": 0, "fit_seconds": fit,
             "tweets_per_s": len(big) / (time.perf_counter() - started)}]


def fasttext_peer(tr, va, seeds) -> list[dict]:
    import fasttext

    from tweetsent.data.text import tokenize_batch

    def lines(texts):
        return [" ".join(tokens) for tokens in tokenize_batch(texts)]

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.txt"
        path.write_text("\n".join(f"__label__{y} {t}" for y, t in zip(tr.labels, lines(tr.texts))), encoding="utf-8")
        val_lines = lines(va.texts)
        for seed in seeds:
            started = time.perf_counter()
            model = fasttext.train_supervised(str(path), epoch=25, wordNgrams=2, seed=seed, verbose=0)
            fit = time.perf_counter() - started

            def proba(texts, model=model):
                # fastText 0.9.2's predict() breaks on numpy 2 and its multilinePredict repeats the top
                # probability; the per-line binding returns correct (probability, label) pairs.
                out = np.zeros((len(texts), 3))
                for i, text in enumerate(texts):
                    for p, label in model.f.predict(text, 3, 0.0, "strict"):
                        out[i, int(label.replace("__label__", ""))] = p
                return out

            p = proba(val_lines)
            big = val_lines * 20
            started = time.perf_counter()
            proba(big)
            runs.append({**_scores(va.labels, p, [0, 1, 2]), "seed": seed, "fit_seconds": fit,
                         "tweets_per_s": len(big) / (time.perf_counter() - started)})
    return runs


def best_preset(train: Path, val: Path, seeds: list[int]) -> list[dict]:
    """`tweetsent train --config best` (in process), then each of its members scored on its own.

    Training time is the whole run (both members, scoring, saving); a member's is its training
    loop's (the sum of its epochs)."""
    from tweetsent.config.resolve import resolve_config
    from tweetsent.data.tables import read_dataset
    from tweetsent.models.classifier import TweetClassifier
    from tweetsent.runs.workflow import train_run

    tr, va = read_dataset(train), read_dataset(val)
    rows: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            started = time.perf_counter()
            result = train_run(resolve_config("best", seed=seed), train, val, out=f"{tmp}/best-s{seed}", figures=False)
            total = time.perf_counter() - started
            ens = TweetClassifier.load(result.run_dir)
            members = result.classifier.model_.members_
            # glove-distilled, its teacher the minilm-finetune member just trained (training it again
            # would cost 12 minutes); the time is the student's own fit, teacher inference included
            started = time.perf_counter()
            student = TweetClassifier(resolve_config("glove-distilled", seed=seed)).fit(
                tr.texts, tr.labels, teacher=next(m for m in members if m.config_.name == "minilm-finetune"))
            student_fit = time.perf_counter() - started
            for name, model, fit in [*((f"member: {m.config_.name}", m, sum(r["seconds"] for r in m.history_))
                                       for m in members),
                                     ("best: ensemble of minilm-finetune and tfidf-softmax", ens, total),
                                     ("glove-distilled: glove-ngrams taught by that minilm-finetune", student,
                                      student_fit)]:
                clock = time.perf_counter()
                proba = model.predict_proba(va.texts)
                speed = len(va.texts) / (time.perf_counter() - clock)
                if model is student:  # fast: time it on more tweets
                    clock = time.perf_counter()
                    model.predict_proba(va.texts * 20)
                    speed = 20 * len(va.texts) / (time.perf_counter() - clock)
                rows.setdefault(name, []).append({**_scores(va.labels, proba, model.classes_), "seed": seed,
                                                  "fit_seconds": fit, "tweets_per_s": speed})
                print(f"    {name} seed {seed}: {rows[name][-1]}", file=sys.stderr, flush=True)
    return [_summary(name, runs) for name, runs in rows.items()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "vaccine")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--best-seeds", default="0", help="seeds of the `best` preset (about 14 minutes each); '' skips it")
    parser.add_argument("--only", default="", help="comma-separated model numbers, 'best', 'sklearn', 'fasttext' (e.g. 7,sklearn,best)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "quality.json")
    args = parser.parse_args()
    from tweetsent.data.tables import read_dataset

    seeds = [int(s) for s in args.seeds.split(",")]
    train, val = args.data / "vaccine_train_set.csv", args.data / "vaccine_validation_set.csv"
    tr, va = read_dataset(train), read_dataset(val)
    rows = []
    best_seeds = [int(s) for s in args.best_seeds.split(",") if s.strip()]
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    chosen = {int(x) for x in only if x.isdigit()} or ({-1} if only else set())
    for i, (name, preset, overrides, multi) in enumerate(MODELS):
        if chosen and i not in chosen:
            continue
        print(f"[{i}] {name}", file=sys.stderr, flush=True)
        rows.append(_summary(name, tweetsent_model(preset, overrides, seeds if multi else seeds[:1], tr, va)))
    if "fasttext" in only:
        rows.append(_summary("peer: fastText, word bigrams, 25 epochs", fasttext_peer(tr, va, seeds)))
    if "best" in only:
        rows += best_preset(train, val, best_seeds)
    if "sklearn" in only:
        rows.append(_summary("peer: scikit-learn TF-IDF word 1-2 + char 2-5, logistic regression", sklearn_peer(tr, va)))
    if not chosen:
        print("peers", file=sys.stderr, flush=True)
        rows.append(_summary("peer: scikit-learn TF-IDF word 1-2 + char 2-5, logistic regression", sklearn_peer(tr, va)))
        rows.append(_summary("peer: fastText, word bigrams, 25 epochs", fasttext_peer(tr, va, seeds)))
        if best_seeds:
            rows += best_preset(train, val, best_seeds)
    report = {"date": date.today().isoformat(), "machine": _machine(), "command": " ".join(sys.argv), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(render(report))


def render(r: dict) -> str:
    lines = [f"Machine: {r['machine']}; date {r['date']}; command `{r['command']}`", "",
             "| model | seeds | accuracy | macro F1 | weighted F1 | anti-vax F1 | training time | predict tweets/s |",
             "|---|---|---|---|---|---|---|---|"]

    def cell(row, key, fmt="{:.4f}"):
        value = fmt.format(row[key])
        return value + (f" ± {fmt.format(row[key + '_spread'])}" if row["seeds"] > 1 else "")

    for row in r["rows"]:
        speed = "-" if np.isnan(row["tweets_per_s"]) else f"{row['tweets_per_s']:,.0f}"
        lines.append(f"| {row['model']} | {row['seeds']} | {cell(row, 'accuracy')} | {cell(row, 'f1_macro')} | "
                     f"{cell(row, 'f1_weighted')} | {cell(row, 'f1_antivax')} | {row['fit_seconds']:.1f} s | {speed} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
