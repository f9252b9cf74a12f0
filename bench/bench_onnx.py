"""How fast, and how well, does `best` label tweets with each engine: torch fp32 and bf16, ONNX fp32 and int8?

    .venv/bin/python bench/bench_onnx.py [--run bench/out/run-best] [--data ../shared/data/vaccine]
        [--tweets 2000] [--repeats 3]

Takes a run of the ``best`` preset (made by ``tweetsent train --config best``; this script does
not train it) and copies its model folder to a temporary folder, where it exports the fine-tuned
encoder with ``tweetsent export``'s code (``model.onnx`` and ``model.int8.onnx``): the run itself is
not touched. Then, on the CPU, ``best`` (the encoder and the TF-IDF softmax, averaged) labels the
first ``--tweets`` tweets of the validation file with each engine:

- torch fp32: ``--engine torch`` (what ``finetune.precision = "auto"`` does on a CPU without AVX-512 BF16 or AMX);
- torch bf16: ``--engine torch`` with bfloat16 autocast forced (``finetune.precision = "bf16"``);
- ONNX fp32: ``--engine onnx``;
- ONNX int8: ``--engine onnx-int8``.

Tweets per second is the median of ``--repeats`` timed passes over all of them (one pass for
torch bf16, which a CPU without bfloat16 arithmetic runs about six times slower), after a warm-up
on 64 tweets: the whole ``predict_proba``, tokenizing, the encoder, the softmax member, the
temperature and thresholds. Accuracy and macro F1 are on those tweets, with the difference to
torch fp32 in points; "agree" is the share of tweets given torch fp32's label, "max |dp|" the
largest change of a probability. Prints a Markdown table and writes bench/out/onnx.json. The goal
of the issue: ``best`` at 1,000 tweets per second or more on a 2-core CPU, within 0.3 points of
torch's accuracy and macro F1.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from machine import machine

REPO = Path(__file__).resolve().parents[1]
ENGINES = {  # name: (engine, finetune.precision forced on the encoder, or None for the run's own)
    "torch fp32": ("torch", "fp32"),
    "torch bf16": ("torch", "bf16"),
    "ONNX fp32": ("onnx", None),
    "ONNX int8": ("onnx-int8", None),
}
GOAL_TWEETS_PER_S, GOAL_POINTS = 1000, 0.3


def _load(folder: Path, engine: str, precision: str | None):
    from tweetsent.models.classifier import TweetClassifier
    from tweetsent.models.finetune import FinetunedEncoder

    clf = TweetClassifier.load(folder, device="cpu", engine=engine)
    encoders = [part for part in clf.model_.parts() if isinstance(part, FinetunedEncoder)]
    if not encoders:
        sys.exit(f"{folder}: no fine-tuned encoder; give a run of the best (or minilm-finetune) preset")
    for part in encoders:
        if precision is not None:
            part.cfg.finetune.precision = precision
    return clf


def measure(folder: Path, texts: list[str], labels: np.ndarray, repeats: int) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    out, reference = {}, None
    for name, (engine, precision) in ENGINES.items():
        clf = _load(folder, engine, precision)
        clf.predict_proba(texts[:64])  # warm-up: ONNX Runtime's first run, torch's first batch
        seconds = []
        for _ in range(1 if precision == "bf16" else repeats):  # emulated bf16 is ~6x slower: one pass
            start = time.perf_counter()
            proba = clf.predict_proba(texts)
            seconds.append(time.perf_counter() - start)
        predicted = np.asarray(clf.classes_)[proba.argmax(axis=1)]
        reference = (proba, predicted) if reference is None else reference
        out[name] = {"engine": engine, "precision": precision or clf.config_.finetune.precision,
                     "seconds": statistics.median(seconds), "tweets_per_s": len(texts) / statistics.median(seconds),
                     "accuracy": float(accuracy_score(labels, predicted)),
                     "f1_macro": float(f1_score(labels, predicted, average="macro")),
                     "agree": float((predicted == reference[1]).mean()),
                     "max_abs_dp": float(np.abs(proba - reference[0]).max())}
        print(f"{name}: {out[name]['tweets_per_s']:.0f} tweets/s", file=sys.stderr, flush=True)
    base = out["torch fp32"]
    for row in out.values():
        row["accuracy_delta_points"] = 100 * (row["accuracy"] - base["accuracy"])
        row["f1_macro_delta_points"] = 100 * (row["f1_macro"] - base["f1_macro"])
        row["meets_goal"] = bool(row["tweets_per_s"] >= GOAL_TWEETS_PER_S
                                 and abs(row["accuracy_delta_points"]) <= GOAL_POINTS
                                 and abs(row["f1_macro_delta_points"]) <= GOAL_POINTS)
    return out


def table(rows: dict, n: int) -> str:
    lines = [f"`best` on the first {n:,} validation tweets, CPU, whole `predict_proba` ({machine()}):", "",
             "| engine | tweets/s | accuracy | macro F1 | vs torch fp32 (points) | agree | max \\|dp\\| | goal |",
             "|---|---:|---:|---:|---:|---:|---:|:-:|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['tweets_per_s']:,.0f} | {r['accuracy']:.4f} | {r['f1_macro']:.4f} | "
                     f"{r['accuracy_delta_points']:+.2f} / {r['f1_macro_delta_points']:+.2f} | {r['agree']:.3f} | "
                     f"{r['max_abs_dp']:.4f} | {'yes' if r['meets_goal'] else 'no'} |")
    lines += ["", f"goal: >= {GOAL_TWEETS_PER_S:,} tweets/s, accuracy and macro F1 within {GOAL_POINTS} points of "
                  f"torch fp32"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=REPO / "bench" / "out" / "run-best")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "vaccine")
    parser.add_argument("--tweets", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "onnx.json")
    args = parser.parse_args()

    from tweetsent.data.tables import read_dataset
    from tweetsent.runs.export import export_run

    model = args.run / "model" if (args.run / "model").is_dir() else args.run
    if not (model / "model.json").is_file():
        sys.exit(f"{args.run}: no run here; train it with tweetsent train --config best --out {args.run}")
    val = read_dataset(args.data / "vaccine_validation_set.csv")
    texts, labels = list(val.texts[:args.tweets]), np.asarray(val.labels[:args.tweets])
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as tmp:
        copy = Path(tmp) / "model"
        shutil.copytree(model, copy)  # the run stays as it is: the exports go into the copy
        started = time.perf_counter()
        written = export_run(copy, quantize="int8")
        export_seconds = time.perf_counter() - started
        sizes = {p.name: p.stat().st_size for p in written}
        rows = measure(copy, texts, labels, args.repeats)
    print(table(rows, len(texts)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": date.today().isoformat(), "machine": machine(), "run": str(args.run),
                                    "tweets": len(texts), "repeats": args.repeats,
                                    "export_seconds": export_seconds, "file_bytes": sizes, "engines": rows},
                                   indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
