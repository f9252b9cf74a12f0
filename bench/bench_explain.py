"""Do the explanations mean something? ERASER comprehensiveness of occlusion attributions (issue 15).

    .venv/bin/python bench/bench_explain.py [--data ../shared/data/vaccine] [--tweets 300] [--seed 0]

Trains seed-softmax, tfidf-softmax and seed-prelu on the vaccine training file, and an ensemble
of seed-softmax and tfidf-softmax (equal weights, `TweetClassifier.from_runs`). On a seeded
sample of validation tweets, each model explains each tweet (`tweetsent.models.explain`); then
its top-k tokens by contribution to the predicted class are removed (k = 1, 3 and 20% of the
tweet's tokens, at least 1), and so are k random tokens. Comprehensiveness (DeYoung et al.
2020) is the drop of the predicted class's probability: attributions mean something when the
top-k drop is larger than the random drop. Prints a Markdown table (mean and standard deviation
over tweets, time per explanation) and writes bench/out/explain.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from machine import machine

REPO = Path(__file__).resolve().parents[1]
MODELS = ("seed-softmax", "tfidf-softmax", "seed-prelu")
KS = ("1", "3", "20%")


def _k(which: str, n_tokens: int) -> int:
    return max(1, math.ceil(0.2 * n_tokens)) if which.endswith("%") else min(int(which), n_tokens)


def _without(text: str, tokens: list[dict], picked) -> str:
    """``text`` with the characters of the ``picked`` tokens replaced by spaces."""
    chars = list(text)
    for j in picked:
        for at in range(tokens[j]["start"], tokens[j]["end"]):
            chars[at] = " "
    return "".join(chars)


def comprehensiveness(clf, texts: list[str], seed: int) -> dict:
    """Per k: mean and standard deviation of the predicted class's drop, top-k and random, and the timing."""
    from tweetsent.models.explain import explain

    start = time.perf_counter()
    explained = explain(clf, texts)
    seconds = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    rows, variants = [], []
    for item in explained:
        tokens, label = item["tokens"], str(item["label"])
        order = sorted(range(len(tokens)), key=lambda j: -tokens[j]["contributions"][label])
        for which in KS:
            k = _k(which, len(tokens))
            variants += [_without(item["text"], tokens, order[:k]),
                         _without(item["text"], tokens, rng.choice(len(tokens), size=k, replace=False))]
            rows.append((which, item["proba"][label], clf.classes_.index(item["label"])))
    proba = clf.predict_proba(variants)  # (2 * n_tweets * len(KS), n_classes)
    out = {"seconds": seconds, "ms_per_tweet": 1000 * seconds / len(texts),
           "tokens_per_tweet": float(np.mean([len(i["tokens"]) for i in explained]))}
    for which in KS:
        drops = np.array([(p - proba[2 * r, col], p - proba[2 * r + 1, col])
                          for r, (w, p, col) in enumerate(rows) if w == which])  # (n_tweets, 2): top-k, random
        out[which] = {"top_mean": float(drops[:, 0].mean()), "top_sd": float(drops[:, 0].std()),
                      "random_mean": float(drops[:, 1].mean()), "random_sd": float(drops[:, 1].std())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "vaccine")
    parser.add_argument("--tweets", type=int, default=300, help="validation tweets sampled (seeded)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from tweetsent.config.resolve import resolve_config
    from tweetsent.data.tables import read_dataset
    from tweetsent.models.classifier import TweetClassifier

    train = read_dataset(args.data / "vaccine_train_set.csv")
    val = read_dataset(args.data / "vaccine_validation_set.csv")
    rng = np.random.default_rng(args.seed)
    texts = [val.texts[i] for i in sorted(rng.choice(len(val.texts), size=min(args.tweets, len(val.texts)), replace=False))]
    texts = [t for t in texts if t.strip()]
    results, fitted = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            start = time.perf_counter()
            fitted[name] = TweetClassifier(resolve_config(name, seed=args.seed)).fit(train.texts, train.labels)
            fitted[name].save(Path(tmp) / name)
            print(f"trained {name} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        ensemble = TweetClassifier.from_runs([Path(tmp) / "seed-softmax", Path(tmp) / "tfidf-softmax"])
        for name, clf in [*fitted.items(), ("ensemble(seed-softmax, tfidf-softmax)", ensemble)]:
            results[name] = comprehensiveness(clf, texts, args.seed)
            print(f"explained with {name}", file=sys.stderr)

    command = "python bench/bench_explain.py" + (f" --tweets {args.tweets}" if args.tweets != 300 else "")
    print(f"Comprehensiveness of occlusion attributions, {len(texts)} vaccine validation tweets (seed {args.seed}); "
          f"`{command}`, {machine()}, {date.today().isoformat()}.\n")
    print("| model | k | drop, top-k tokens | drop, k random tokens | ms per explanation | tokens per tweet |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        for which in KS:
            c = r[which]
            print(f"| {name} | {which} | {c['top_mean']:.3f} ± {c['top_sd']:.3f} | {c['random_mean']:.3f} ± "
                  f"{c['random_sd']:.3f} | {r['ms_per_tweet']:.1f} | {r['tokens_per_tweet']:.1f} |")
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "explain.json").write_text(json.dumps({"tweets": len(texts), "seed": args.seed, "machine": machine(),
                                                  "date": date.today().isoformat(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
