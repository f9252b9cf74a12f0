"""Do the explanations mean something? ERASER comprehensiveness of the attributions (issue 15).

    .venv/bin/python bench/bench_explain.py [--data ../shared/data/vaccine] [--tweets 300] [--seed 0]
        [--run-best bench/out/run-best --encoder-tweets 100 --steps 20 --sweep-tweets 10]

Trains seed-softmax, tfidf-softmax and seed-prelu on the vaccine training file, and an ensemble
of seed-softmax and tfidf-softmax (equal weights, `TweetClassifier.from_runs`). On a seeded
sample of validation tweets, each model explains each tweet (`tweetsent.models.explain`); then
its top-k tokens by contribution to the predicted class are removed (k = 1, 3 and 20% of the
tweet's tokens, at least 1), and so are k random tokens. Comprehensiveness (DeYoung et al.
2020) is the drop of the predicted class's probability: attributions mean something when the
top-k drop is larger than the random drop.

With ``--run-best`` (a run of the ``best`` preset, made by ``tweetsent train --config best``;
this script does not train it), its fine-tuned MiniLM member (``minilm-finetune``) and the
ensemble itself are measured too, by occlusion and by integrated gradients (``--steps`` points),
on a seeded subset of ``--encoder-tweets`` of the sample (the encoder is slow on a CPU); and on
``--sweep-tweets`` of them, integrated gradients' convergence delta (how far the contributions'
sum is from p(tweet) - p(reference)) for 5 to 50 steps. Prints Markdown tables (mean and
standard deviation over tweets, time per explanation) and writes bench/out/explain.json.
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


def comprehensiveness(clf, texts: list[str], seed: int, method: str = "occlusion", n_steps: int | None = None) -> dict:
    """Per k: mean and standard deviation of the predicted class's drop, top-k and random, and the timing."""
    from tweetsent.models.explain import explain

    start = time.perf_counter()
    explained = explain(clf, texts, method=method, n_steps=n_steps)
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
    out = {"method": method, "tweets": len(texts), "seconds": seconds, "ms_per_tweet": 1000 * seconds / len(texts),
           "tokens_per_tweet": float(np.mean([len(i["tokens"]) for i in explained]))}
    for which in KS:
        drops = np.array([(p - proba[2 * r, col], p - proba[2 * r + 1, col])
                          for r, (w, p, col) in enumerate(rows) if w == which])  # (n_tweets, 2): top-k, random
        out[which] = {"top_mean": float(drops[:, 0].mean()), "top_sd": float(drops[:, 0].std()),
                      "random_mean": float(drops[:, 1].mean()), "random_sd": float(drops[:, 1].std())}
    return out


def convergence(clf, texts: list[str], steps=(5, 10, 20, 50)) -> dict:
    """Integrated gradients' convergence delta (|sum of contributions - (p(tweet) - p(reference))|) and time, by steps."""
    from tweetsent.models.explain import WORDS, segment
    from tweetsent.models.gradients import integrated_gradients

    words, out = segment(texts, WORDS), {}
    for n in steps:
        start = time.perf_counter()
        _, deltas = integrated_gradients(clf, texts, words, n)  # (n_tweets, n_classes)
        seconds = time.perf_counter() - start
        out[str(n)] = {"mean_abs_delta": float(np.abs(deltas).mean()), "max_abs_delta": float(np.abs(deltas).max()),
                       "ms_per_tweet": 1000 * seconds / len(texts)}
        print(f"steps {n}: mean |delta| {out[str(n)]['mean_abs_delta']:.2e}", file=sys.stderr)
    return out


def _encoder_of(best):
    """The fine-tuned encoder among the members of a ``best`` run."""
    members = getattr(best.model_, "members_", None) or []
    found = [m for m in members if m.config_.model.kind == "finetune"]
    if not found:
        raise SystemExit("--run-best: give a run of the best preset (an ensemble with a fine-tuned encoder member)")
    return found[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "vaccine")
    parser.add_argument("--tweets", type=int, default=300, help="validation tweets sampled (seeded)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-best", type=Path, default=None,
                        help="a run of the best preset: measure its minilm-finetune member and the ensemble too")
    parser.add_argument("--encoder-tweets", type=int, default=100, help="of the sample, for the encoder rows (seeded)")
    parser.add_argument("--steps", type=int, default=None, help="integrated gradients' points (default: the library's)")
    parser.add_argument("--sweep-tweets", type=int, default=10, help="encoder tweets for the convergence sweep (0: none)")
    args = parser.parse_args()

    from tweetsent.config.resolve import resolve_config
    from tweetsent.data.tables import read_dataset
    from tweetsent.models.classifier import TweetClassifier
    from tweetsent.models.gradients import N_STEPS

    train = read_dataset(args.data / "vaccine_train_set.csv")
    val = read_dataset(args.data / "vaccine_validation_set.csv")
    rng = np.random.default_rng(args.seed)
    drawn = rng.choice(len(val.texts), size=min(args.tweets, len(val.texts)), replace=False)  # in random order
    texts = [t for t in (val.texts[i] for i in sorted(drawn)) if t.strip()]
    encoder_texts = [t for t in (val.texts[i] for i in sorted(drawn[:args.encoder_tweets])) if t.strip()]
    steps = args.steps or N_STEPS
    results, fitted, sweep = {}, {}, None
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
    if args.run_best is not None:
        import captum.attr  # noqa: F401  (imported before the clock starts)

        best = TweetClassifier.load(args.run_best)
        encoder = _encoder_of(best)
        for name, clf in [("minilm-finetune", encoder), ("best", best)]:
            for method in ("occlusion", "integrated-gradients"):
                results[f"{name} / {method}"] = comprehensiveness(clf, encoder_texts, args.seed, method, steps)
                print(f"explained with {name} by {method}", file=sys.stderr)
        if args.sweep_tweets:
            sweep = convergence(encoder, encoder_texts[:args.sweep_tweets])
    else:
        print("no --run-best: the encoder rows are left out (make one with `tweetsent train --config best`)", file=sys.stderr)

    command = "python bench/bench_explain.py" + (f" --tweets {args.tweets}" if args.tweets != 300 else "")
    if args.run_best is not None:
        command += f" --run-best {args.run_best} --encoder-tweets {args.encoder_tweets}" + (
            f" --steps {args.steps}" if args.steps else "")
    print(f"Comprehensiveness of the attributions, {len(texts)} vaccine validation tweets ({len(encoder_texts)} of "
          f"them for the encoder rows; seed {args.seed}, integrated gradients with {steps} steps); `{command}`, "
          f"{machine()}, {date.today().isoformat()}.\n")
    print("| model | method | tweets | k | drop, top-k tokens | drop, k random tokens | ms per explanation | tokens per tweet |")
    print("|---|---|---:|---|---|---|---:|---:|")
    for name, r in results.items():
        for which in KS:
            c = r[which]
            print(f"| {name.split(' / ')[0]} | {r['method']} | {r['tweets']} | {which} | {c['top_mean']:.3f} ± "
                  f"{c['top_sd']:.3f} | {c['random_mean']:.3f} ± {c['random_sd']:.3f} | {r['ms_per_tweet']:.1f} | "
                  f"{r['tokens_per_tweet']:.1f} |")
    if sweep:
        print(f"\nIntegrated gradients' convergence delta, minilm-finetune, {args.sweep_tweets} tweets x 3 classes:\n")
        print("| steps | mean abs(delta) | max abs(delta) | ms per explanation |")
        print("|---:|---:|---:|---:|")
        for n, d in sweep.items():
            print(f"| {n} | {d['mean_abs_delta']:.1e} | {d['max_abs_delta']:.1e} | {d['ms_per_tweet']:.0f} |")
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "explain.json").write_text(json.dumps({"tweets": len(texts), "encoder_tweets": len(encoder_texts),
                                                  "seed": args.seed, "steps": steps, "machine": machine(),
                                                  "date": date.today().isoformat(), "results": results,
                                                  "convergence": sweep}, indent=2))


if __name__ == "__main__":
    main()
