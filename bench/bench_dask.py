"""Labelling 4M tweets on Dask with 1 and 2 local workers, against one `tweetsent predict` process (issue 16).

    .venv/bin/python bench/bench_dask.py [--preset seed-prelu] [--rows 4000000] [--partitions 16]
                                         [--workers 1 2] [--repeats 2]

1. ``--rows`` tweets (bench_scale's file: training and validation tweets repeated in a seeded order)
   split into ``--partitions`` Parquet files of equal size (bench/out/parts-<rows>-<partitions>/,
   made once).
2. The same tweets in one process: ``tweetsent predict RUN --data tweets-<rows>.csv --out labels.csv``
   (no Dask), the baseline.
3. ``tweetsent predict RUN --data 'parts/*.parquet' --out labelled/ --workers W`` for each W: a local
   Dask cluster of W worker processes (one thread each), one task per partition, one Parquet file
   out per partition. The output folder is emptied before every run, so each run labels everything.

Wall time is the whole command (starting the cluster, loading the model in each worker, reading,
labelling, writing), median of ``--repeats``. Scaling efficiency is tweets/s with W workers over W
times tweets/s with one. Prints Markdown and writes bench/out/dask.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench_scale import BIN, OUT, big_file, run_dir
from machine import machine

REPO = Path(__file__).resolve().parents[1]


def partitions(big: Path, rows: int, parts: int) -> Path:
    """``big`` split into ``parts`` Parquet files of ``rows / parts`` tweets each (made once)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    folder = OUT / f"parts-{rows}-{parts}"
    if folder.is_dir() and len(list(folder.glob("*.parquet"))) == parts:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    per = -(-rows // parts)
    reader = pcsv.open_csv(big, read_options=pcsv.ReadOptions(block_size=1 << 24),
                           parse_options=pcsv.ParseOptions(newlines_in_values=True),
                           convert_options=pcsv.ConvertOptions(column_types={"tweet": pa.large_string()}))
    pending: list[pa.RecordBatch] = []
    held = written = 0

    def flush(n: int) -> None:
        nonlocal pending, held, written
        table = pa.Table.from_batches(pending).combine_chunks()
        pq.write_table(table.slice(0, n), tmp / f"part-{written:03d}.parquet")
        rest = table.slice(n)
        pending, held, written = rest.to_batches(), rest.num_rows, written + 1

    for batch in reader:
        pending.append(batch)
        held += batch.num_rows
        while held >= per:
            flush(per)
    if held:
        flush(held)
    tmp.replace(folder)
    return folder


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "vaccine")
    ap.add_argument("--preset", default="seed-prelu")
    ap.add_argument("--rows", type=int, default=4_000_000)
    ap.add_argument("--partitions", type=int, default=16)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    started = time.perf_counter()

    big = big_file(args.data, args.rows)
    folder = partitions(big, args.rows, args.partitions)
    run = run_dir(args.preset, args.data)
    tweetsent = str(BIN / "tweetsent")
    rows = []
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        commands = {"one process, no Dask": [tweetsent, "predict", str(run), "--data", str(big),
                                             "--out", str(Path(tmp) / "labels.csv")]}
        for w in args.workers:
            commands[f"Dask, {w} local worker{'s' if w > 1 else ''}"] = [
                tweetsent, "predict", str(run), "--data", str(folder / "*.parquet"),
                "--out", str(Path(tmp) / "labelled"), "--workers", str(w)]
        for name, command in commands.items():
            walls = []
            for _ in range(args.repeats):
                shutil.rmtree(Path(tmp) / "labelled", ignore_errors=True)
                walls.append(wall(command))
            rows.append({"name": name, "workers": int(command[-1]) if "--workers" in command else None,
                         "seconds": statistics.median(walls), "runs": walls,
                         "tweets_per_s": args.rows / statistics.median(walls)})
            print(f"  {name}: {rows[-1]['tweets_per_s']:,.0f} tweets/s ({walls})", file=sys.stderr)
        written = sorted((Path(tmp) / "labelled").glob("*.parquet"))
        assert len(written) == args.partitions, f"expected {args.partitions} outputs, found {len(written)}"

    one = next((r for r in rows if r["workers"] == 1), None)
    for r in rows:
        r["efficiency"] = r["tweets_per_s"] / (r["workers"] * one["tweets_per_s"]) if one and r["workers"] else None
    command = "python bench/bench_dask.py " + " ".join(sys.argv[1:])
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"`{command.strip()}` ({args.preset}, {args.rows:,} tweets in {args.partitions} Parquet partitions) "
             f"on {machine()}, {when}.", "",
             "| labeller | median s | tweets/s | scaling efficiency |", "| --- | ---: | ---: | ---: |"]
    for r in rows:
        eff = f"{r['efficiency']:.2f}" if r["efficiency"] is not None else "-"
        lines.append(f"| {r['name']} | {r['seconds']:.1f} | {r['tweets_per_s']:,.0f} | {eff} |")
    lines += ["", f"Whole benchmark: {time.perf_counter() - started:.0f} s."]
    print("\n".join(lines))
    (OUT / "dask.json").write_text(json.dumps({"command": command, "date": when, "machine": machine(),
                                               "preset": args.preset, "rows": args.rows,
                                               "partitions": args.partitions, "results": rows}, indent=2))
    (OUT / "dask.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
