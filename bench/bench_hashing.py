"""Hashed n-grams: tweetsent's Arrow/NumPy hasher against scikit-learn's HashingVectorizer.

    .venv/bin/python bench/bench_hashing.py [--data ../shared/data/vaccine] [--repeats 7]

On the training tweets, already tokenised by the tweet tokenizer (tokenising is not timed), in
batches of 8,192 (what `predict` featurises at once), 32 and 1 (`serve` requests): word 1-2-grams
(seed-softmax) and character 2-5-grams within word boundaries (tfidf-softmax, glove-ngrams).
tweetsent's functions as called (a batch under `SMALL_WORD_BATCH` / `SMALL_CHAR_BATCH` rows goes to
HashingVectorizer itself).
scikit-learn hashes the tokens joined by spaces, as tweetsent did before (the join, in Arrow, and the
vectorizer's construction are timed with it, as they were part of every call then). Every batch's two
matrices are checked equal (indices, counts) before timing. Median of ``--repeats`` passes over
all the batches; one thread. Prints Markdown and writes bench/out/hashing.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from machine import machine

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"


def main() -> None:
    from sklearn.feature_extraction.text import HashingVectorizer

    from tweetsent.data.tables import read_dataset
    from tweetsent.data.text import tokenize_arrow
    from tweetsent.features.hashing import hashed_char_ngrams, hashed_word_ngrams

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "vaccine")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    texts = read_dataset(args.data / "vaccine_train_set.csv").texts
    tokens = tokenize_arrow(texts, "tweet")
    kinds = {"word 1-2-grams": (hashed_word_ngrams, (1, 2), "word"),
             "char 2-5-grams": (hashed_char_ngrams, (2, 5), "char_wb")}
    rows = []
    for batch in (8192, 32, 1):
        slices = [tokens.slice(s, batch) for s in range(0, len(tokens), batch)]
        if batch < 8192:
            slices = slices[:100]  # 100 requests: enough for a stable median
        n = sum(len(part) for part in slices)
        for name, (ours, ngrams, analyzer) in kinds.items():
            def theirs(part, ngrams=ngrams, analyzer=analyzer):
                vectorizer = HashingVectorizer(ngram_range=ngrams, analyzer=analyzer, token_pattern=r"\S+",
                                               lowercase=False, n_features=2**18, alternate_sign=False, norm=None,
                                               dtype=np.float32)
                return vectorizer.transform(pc.binary_join(part, pa.scalar(" ", pa.large_string())).to_pylist())

            for part in slices:
                a, b = ours(part, ngrams, 2**18), theirs(part)
                assert (a.indptr == b.indptr).all() and (a.indices == b.indices).all() and (a.data == b.data).all()
            times = {"tweetsent": [], "scikit-learn": []}
            for _ in range(args.repeats):
                started = time.perf_counter()
                for part in slices:
                    ours(part, ngrams, 2**18)
                times["tweetsent"].append(time.perf_counter() - started)
                started = time.perf_counter()
                for part in slices:
                    theirs(part)
                times["scikit-learn"].append(time.perf_counter() - started)
            times = {k: statistics.median(v) for k, v in times.items()}
            rows.append({"batch": batch, "features": name, "tweets": n,
                         "tweetsent_us": 1e6 * times["tweetsent"] / n, "sklearn_us": 1e6 * times["scikit-learn"] / n})
            print(f"  batch {batch}, {name}: {rows[-1]['tweetsent_us']:.1f} vs {rows[-1]['sklearn_us']:.1f} µs/tweet")
    result = {"command": "python bench/bench_hashing.py", "machine": machine(),
              "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "rows": rows}
    lines = [f"`{result['command']}` on {result['machine']}, {result['date']}.", "",
             "| batch | features | tweets | tweetsent µs/tweet | before (HashingVectorizer) µs/tweet | speed-up |",
             "| ---: | --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['batch']:,} | {r['features']} | {r['tweets']:,} | {r['tweetsent_us']:.1f} | {r['sklearn_us']:.1f} | "
              f"{r['sklearn_us'] / r['tweetsent_us']:.1f}x |" for r in rows]
    report = "\n".join(lines)
    print(report)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "hashing.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
