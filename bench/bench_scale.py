"""Labelling at scale against fastText, and the fastText peer at its best settings (issue 16).

    .venv/bin/python bench/bench_scale.py [--data ../shared/data/vaccine] [--rows 1000000] [--repeats 3]
                                          [--presets seed-prelu seed-softmax glove-ngrams] [--memory-rows 4000000]

1. A file of ``--rows`` unlabelled tweets (training and validation tweets repeated, in a seeded
   order; bench/out/tweets-<rows>.csv, made once).
2. fastText (fasttext-wheel 0.9.2) at the settings its documentation gives for small supervised
   sets, word bigrams, 25 epochs, lr 0.5, against its default lr 0.1; three seeds each, scored on
   the validation file. Trained on the tweets lower-cased and split on whitespace (fastText's own
   preprocessing) and on tweetsent's tokens; and fastText's autotune (``--autotune`` seconds),
   validated on a seeded 10% of the training file.
3. Throughput on the same file, file to file, each run in its own process (peak memory from
   ``wait4``): ``tweetsent predict RUN --data FILE --out labels.csv`` for each preset (its run is
   bench/out/run-<preset>, trained if missing), pinned to one core with ``taskset -c 0`` and on
   every core; fastText reads the same CSV, lower-cases it, predicts one line at a time (its
   Python predict is single-threaded) and writes label and probabilities. Median of ``--repeats``,
   run round robin (each command once, then each again), so drift in the machine's speed weighs on
   all of them alike. The ratio is tweetsent's tweets/s over fastText's, both measured in this run.
4. Peak memory of ``tweetsent predict`` (seed-softmax) on ``--rows`` and on ``--memory-rows``
   tweets: flat memory means the two are close.

Prints Markdown and writes bench/out/scale.json. Nothing here reads the validation labels except
the quality scores of step 2.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from machine import machine

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
OUT = REPO / "bench" / "out"


def big_file(data: Path, rows: int) -> Path:
    """``rows`` tweets (train + validation, repeated in a seeded order) in one CSV column ``tweet``."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    from tweetsent.data.tables import read_dataset

    path = OUT / f"tweets-{rows}.csv"
    if path.exists():
        return path
    texts = read_dataset(data / "vaccine_train_set.csv").texts + read_dataset(data / "vaccine_validation_set.csv").texts
    rng = np.random.default_rng(0)
    tmp = path.with_suffix(".partial")
    with pcsv.CSVWriter(tmp, pa.schema([("tweet", pa.large_string())])) as writer:
        done = 0
        while done < rows:
            n = min(len(texts), rows - done)
            order = rng.permutation(len(texts))[:n]
            writer.write_table(pa.table({"tweet": pa.array([texts[i] for i in order], pa.large_string())}))
            done += n
    tmp.replace(path)
    return path


# Peak memory comes from wait4 in a small wrapper process: a child forked straight from this (large)
# process would report this process's resident size as its own peak.
_WRAPPER = r"""
import os, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
err = proc.stderr.read()
_, status, usage = os.wait4(proc.pid, 0)
if os.waitstatus_to_exitcode(status) != 0:
    sys.exit(err.decode(errors="replace")[-2000:])
print(time.perf_counter() - started, usage.ru_maxrss / 1024)
"""


def timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak resident MiB) of one child process."""
    done = subprocess.run([sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr}")
    wall, peak = done.stdout.split()
    return float(wall), float(peak)


def run_dir(preset: str, data: Path) -> Path:
    run = OUT / f"run-{preset}"
    if not (run / "model" / "model.json").exists():
        print(f"training {preset} ...", file=sys.stderr)
        subprocess.run([str(BIN / "tweetsent"), "train", "--config", preset, "--no-figures", "--no-log", "--quiet",
                        "--train", str(data / "vaccine_train_set.csv"), "--val", str(data / "vaccine_validation_set.csv"),
                        "--out", str(run)], check=True, stdout=subprocess.DEVNULL)
    return run


# -- fastText -------------------------------------------------------------------------------------

FASTTEXT_PREDICT = r'''
import sys, fasttext, pyarrow as pa, pyarrow.compute as pc, pyarrow.csv as pcsv
model = fasttext.load_model(sys.argv[1])
column = pcsv.read_csv(sys.argv[2], parse_options=pcsv.ParseOptions(newlines_in_values=True)).column("tweet")
lines = pc.replace_substring(pc.utf8_lower(column), "\n", " ").to_pylist()
labels, probs = [], [[], [], []]
for line in lines:
    row = [0.0, 0.0, 0.0]
    for p, label in model.f.predict(line, 3, 0.0, "strict"):
        row[int(label[9:])] = p
    labels.append(max(range(3), key=row.__getitem__))
    for k in range(3):
        probs[k].append(round(row[k], 4))
pcsv.write_csv(pa.table({"label": labels, **{f"p_{k}": probs[k] for k in range(3)}}), sys.argv[3])
'''


def fasttext_lines(texts: list[str], tokens: str) -> list[str]:
    if tokens == "tweetsent":
        from tweetsent.data.text import tokenize_batch

        return [" ".join(t) for t in tokenize_batch(texts)]
    return [" ".join(t.lower().split()) for t in texts]


def fasttext_quality(data: Path, seeds: list[int], autotune: int = 0) -> list[dict]:
    import fasttext
    from sklearn.metrics import accuracy_score, f1_score

    from tweetsent.data.tables import read_dataset

    tr = read_dataset(data / "vaccine_train_set.csv")
    va = read_dataset(data / "vaccine_validation_set.csv")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for tokens in ("whitespace", "tweetsent"):
            path = Path(tmp) / f"train-{tokens}.txt"
            path.write_text("\n".join(f"__label__{y} {t}" for y, t in zip(tr.labels, fasttext_lines(tr.texts, tokens))),
                            encoding="utf-8")
            val = fasttext_lines(va.texts, tokens)
            for lr in (0.1, 0.5):
                scores = []
                for seed in seeds:
                    started = time.perf_counter()
                    model = fasttext.train_supervised(str(path), epoch=25, wordNgrams=2, lr=lr, seed=seed, thread=1,
                                                      verbose=0)
                    fit = time.perf_counter() - started
                    pred = [int(model.f.predict(t, 1, 0.0, "strict")[0][1][9:]) for t in val]
                    scores.append({"accuracy": accuracy_score(va.labels, pred),
                                   "f1_macro": f1_score(va.labels, pred, average="macro"), "fit_s": fit})
                    if tokens == "whitespace" and lr == 0.5 and seed == seeds[0]:
                        model.save_model(str(OUT / "fasttext-bigrams-lr0.5.bin"))
                rows.append({"tokens": tokens, "lr": lr, "seeds": len(seeds),
                             **{k: (statistics.mean(s[k] for s in scores), statistics.pstdev(s[k] for s in scores))
                                for k in ("accuracy", "f1_macro", "fit_s")}})
                print(f"  fastText {tokens} lr {lr}: accuracy {rows[-1]['accuracy'][0]:.4f} "
                      f"macro F1 {rows[-1]['f1_macro'][0]:.4f}", file=sys.stderr)
        if autotune > 0:
            # fastText's own search (autotune), validated on a seeded 10% of the training file, never on
            # the validation file: the peer's best settings found the way its documentation advises.
            order = np.random.default_rng(0).permutation(len(tr.texts))
            hold = set(order[: len(order) // 10].tolist())
            lines = fasttext_lines(tr.texts, "whitespace")
            fit_path, hold_path = Path(tmp) / "fit.txt", Path(tmp) / "hold.txt"
            for path, keep in ((fit_path, False), (hold_path, True)):
                path.write_text("\n".join(f"__label__{y} {t}" for i, (y, t) in enumerate(zip(tr.labels, lines))
                                          if (i in hold) == keep), encoding="utf-8")
            started = time.perf_counter()
            model = fasttext.train_supervised(str(fit_path), autotuneValidationFile=str(hold_path),
                                              autotuneDuration=autotune, verbose=0)
            fit = time.perf_counter() - started
            val = fasttext_lines(va.texts, "whitespace")
            pred = [int(model.f.predict(t, 1, 0.0, "strict")[0][1][9:]) for t in val]
            args = model.f.getArgs()
            found = {k: getattr(args, k) for k in ("lr", "epoch", "wordNgrams", "dim", "minn", "maxn", "bucket")}
            rows.append({"tokens": "whitespace", "lr": f"autotune {autotune} s: {found}", "seeds": 1,
                         "accuracy": (accuracy_score(va.labels, pred), 0.0),
                         "f1_macro": (f1_score(va.labels, pred, average="macro"), 0.0), "fit_s": (fit, 0.0)})
            print(f"  fastText autotune: {found} accuracy {rows[-1]['accuracy'][0]:.4f}", file=sys.stderr)
    return rows


# -- throughput -----------------------------------------------------------------------------------

def throughput(big: Path, rows: int, presets: list[str], data: Path, repeats: int) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "ft_predict.py"
        script.write_text(FASTTEXT_PREDICT)
        target = Path(tmp) / "labels.csv"
        commands = {"fastText (1 thread)": ["taskset", "-c", "0", str(BIN / "python"), str(script),
                                            str(OUT / "fasttext-bigrams-lr0.5.bin"), str(big), str(target)]}
        for preset in presets:
            run = run_dir(preset, data)
            cmd = [str(BIN / "tweetsent"), "predict", str(run), "--data", str(big), "--out", str(target)]
            commands[f"{preset} (1 core)"] = ["taskset", "-c", "0", *cmd]
            commands[f"{preset} ({os.cpu_count()} cores)"] = cmd
        # Round robin: repeat r of every command runs before repeat r + 1 of any, so a machine that
        # speeds up or slows down over the minutes weighs on the peer and on tweetsent alike.
        walls: dict[str, list[float]] = {name: [] for name in commands}
        peaks: dict[str, list[float]] = {name: [] for name in commands}
        for r in range(repeats):
            for name, command in commands.items():
                wall, peak = timed(command)
                walls[name].append(wall)
                peaks[name].append(peak)
                print(f"  round {r + 1}, {name}: {rows / wall:,.0f} tweets/s, peak {peak:.0f} MiB", file=sys.stderr)
        for name in commands:
            median = statistics.median(walls[name])
            out.append({"name": name, "seconds": median, "runs": walls[name], "tweets_per_s": rows / median,
                        "peak_mib": max(peaks[name])})
    return out


def memory(big_small: Path, big_large: Path, data: Path) -> list[dict]:
    run = run_dir("seed-softmax", data)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in (big_small, big_large):
            wall, peak = timed([str(BIN / "tweetsent"), "predict", str(run), "--data", str(path),
                                "--out", str(Path(tmp) / "labels.csv")])
            out.append({"file": path.name, "seconds": wall, "peak_mib": peak})
            print(f"  memory {path.name}: peak {peak:.0f} MiB in {wall:.1f} s", file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "vaccine")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--memory-rows", type=int, default=4_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--autotune", type=int, default=300, help="seconds of fastText autotune on a training holdout (0: none)")
    ap.add_argument("--presets", nargs="+", default=["seed-prelu", "seed-softmax", "glove-ngrams"])
    ap.add_argument("--skip", nargs="*", default=[], choices=["quality", "throughput", "memory"])
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    result = {"command": "python bench/bench_scale.py " + " ".join(sys.argv[1:]), "machine": machine(),
              "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    big = big_file(args.data, args.rows)
    if "quality" not in args.skip or not (OUT / "fasttext-bigrams-lr0.5.bin").exists():
        result["fasttext_quality"] = fasttext_quality(args.data, [int(s) for s in args.seeds.split(",")], args.autotune)
    if "throughput" not in args.skip:
        result["throughput"] = throughput(big, args.rows, args.presets, args.data, args.repeats)
    if "memory" not in args.skip:
        result["memory"] = memory(big, big_file(args.data, args.memory_rows), args.data)
    result["seconds"] = time.perf_counter() - began

    lines = [f"`{result['command'].strip()}` on {result['machine']}, {result['date']}.", ""]
    if "fasttext_quality" in result:
        lines += ["| fastText (bigrams, 25 epochs) | tokens | lr | seeds | accuracy | macro F1 | fit s |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| | {r['tokens']} | {r['lr']} | {r['seeds']} | {r['accuracy'][0]:.4f} ± {r['accuracy'][1]:.4f} | "
                  f"{r['f1_macro'][0]:.4f} ± {r['f1_macro'][1]:.4f} | {r['fit_s'][0]:.1f} |"
                  for r in result["fasttext_quality"]]
        lines.append("")
    if "throughput" in result:
        peer = next(r for r in result["throughput"] if r["name"].startswith("fastText"))
        lines += [f"| {args.rows:,} tweets, file to file | median s | tweets/s | x fastText | peak MiB |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {r['name']} | {r['seconds']:.2f} | {r['tweets_per_s']:,.0f} | "
                  f"{r['tweets_per_s'] / peer['tweets_per_s']:.2f} | {r['peak_mib']:.0f} |" for r in result["throughput"]]
        lines.append("")
    if "memory" in result:
        lines += ["| `tweetsent predict` (seed-softmax) | seconds | peak MiB |", "| --- | ---: | ---: |"]
        lines += [f"| {m['file']} | {m['seconds']:.1f} | {m['peak_mib']:.0f} |" for m in result["memory"]]
        lines.append("")
    lines.append(f"Whole benchmark: {result['seconds']:.0f} s.")
    report = "\n".join(lines)
    print(report)
    (OUT / "scale.json").write_text(json.dumps(result, indent=2))
    (OUT / "scale.md").write_text(report + "\n")


if __name__ == "__main__":
    main()
