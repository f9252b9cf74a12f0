"""How fast the run log lists 10,000 runs: the API, the CLI path in-process, and a cold CLI process.

    PYTHONPATH=src python bench/bench_runlog.py [--runs 10000] [--repeat 5]

Inserts N finished runs with realistic configs and full metrics (per-class scores, confusion
matrix) into a temporary SQLite log in batches, then reports the median of ``--repeat`` timings
as a markdown table with the machine it ran on. Goal: listing 10,000 runs in under a second.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from machine import cpu_model

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

from tweetsent.runlog.log import RunLog  # noqa: E402

__all__ = ["make_records", "main"]

LABELS = ["negative", "neutral", "positive"]


def make_records(n: int, seed: int = 0) -> list[dict]:
    """``n`` finished-run records shaped like ``RunLog.get`` output (without history)."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    records = []
    for i in range(n):
        began = start + timedelta(minutes=7 * i)
        f1 = round(rng.uniform(0.45, 0.82), 4)
        accuracy = round(min(0.95, f1 + rng.uniform(0.0, 0.08)), 4)
        config = {
            "features": {"embeddings": rng.choice(["glove-6b-50d", "glove-6b-100d"]), "tokenizer": "tweet"},
            "model": {"kind": "network", "hidden": rng.choice([[125, 125, 75, 30], [256, 64], [64]]),
                      "activation": rng.choice(["relu", "prelu", "gelu", "tanh"]),
                      "dropout": rng.choice([[0.3, 0.2, 0.1, 0.0], [0.5, 0.5], [0.0]]),
                      "batch_norm": rng.random() < 0.5},
            "train": {"optimizer": rng.choice(["adam", "radam", "sgd", "adamw"]),
                      "lr": rng.choice([1e-4, 2e-4, 5e-4, 1e-3]), "batch_size": rng.choice([64, 128, 450]),
                      "epochs": 50, "loss": "cross_entropy", "seed": i % 10},
        }  # fmt: skip
        per_class = {
            label: {"precision": rng.random(), "recall": rng.random(), "f1": rng.random(), "support": 300}
            for label in LABELS
        }
        metrics = {
            "accuracy": accuracy, "precision_weighted": f1 + 0.01, "recall_weighted": accuracy,
            "f1_weighted": f1 + 0.02, "precision_macro": f1 + 0.01, "recall_macro": f1 - 0.01,
            "f1_macro": f1, "f1_micro": accuracy, "loss": round(rng.uniform(0.4, 1.1), 4),
            "roc_auc_macro": round(rng.uniform(0.7, 0.95), 4), "labels": LABELS, "per_class": per_class,
            "confusion_matrix": [[rng.randint(0, 300) for _ in LABELS] for _ in LABELS],
        }  # fmt: skip
        records.append({
            "id": f"{i:08d}{rng.randrange(36**4):04x}"[:12], "kind": "train", "name": f"run-{i}",
            "study": f"study-{i // 500}", "status": "finished", "starred": rng.random() < 0.05,
            "started_at": began.isoformat(timespec="milliseconds"),
            "ended_at": (began + timedelta(seconds=90)).isoformat(timespec="milliseconds"),
            "duration_s": 90.0, "best_epoch": rng.randint(5, 50), "overfit": rng.choice(["ok", "overfit"]),
            "overfit_evidence": "val loss rose for 10 epochs", "package_version": "0.1.0",
            "git_commit": f"{rng.getrandbits(160):040x}", "hostname": "bench", "pid": 1000 + i,
            "run_dir": f"runs/run-{i}", "config": config, "metrics": metrics,
            "data": {"train": "/data/train.csv", "val": "/data/val.csv"},
            "fingerprints": {"train": f"{rng.getrandbits(256):064x}", "val": f"{rng.getrandbits(256):064x}"},
        })  # fmt: skip
    return records


def _median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import typer
    from typer.testing import CliRunner

    from tweetsent.cli.runs import runs_app

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'runs.db'}"
        log = RunLog.open(url)
        records = make_records(args.runs)
        began = time.perf_counter()
        for start in range(0, len(records), 1000):  # one transaction per 1,000 runs
            log._insert_runs(records[start : start + 1000])
        insert_s = time.perf_counter() - began
        size_mb = (Path(tmp) / "runs.db").stat().st_size / 1e6

        list_s = _median_seconds(lambda: log.list(sort="-f1_macro"), args.repeat)
        where_s = _median_seconds(lambda: log.list(where="f1_macro>0.7 and optimizer=radam", sort="-f1_macro"), args.repeat)
        log.close()

        app = typer.Typer()
        app.add_typer(runs_app, name="runs")
        app.callback()(lambda: None)
        runner = CliRunner()

        def cli_list():
            result = runner.invoke(app, ["runs", "list", "--limit", "50", "--log-url", url])
            assert result.exit_code == 0, result.output

        cli_s = _median_seconds(cli_list, args.repeat)
        code = "from tweetsent.cli.runs import runs_app; runs_app()"
        env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "200"}
        cold = [sys.executable, "-c", code, "list", "--limit", "50", "--log-url", url]
        cold_s = _median_seconds(lambda: subprocess.run(cold, env=env, check=True, capture_output=True), args.repeat)

    n = f"{args.runs:,}"
    print(f"Run log benchmark, {datetime.now().date()}, {os.cpu_count()} CPUs ({cpu_model()}), "
          f"Python {platform.python_version()}, SQLite log of {n} runs ({size_mb:.1f} MB)\n")  # fmt: skip
    print(f"| operation ({n} runs) | median of {args.repeat} |")
    print("|---|---:|")
    print(f"| insert, batches of 1,000 (once) | {insert_s:.2f} s |")
    print(f"| `RunLog.list(sort=\"-f1_macro\")` | {list_s * 1000:.0f} ms |")
    print(f"| `RunLog.list(where=\"f1_macro>0.7 and optimizer=radam\", sort=\"-f1_macro\")` | {where_s * 1000:.0f} ms |")
    print(f"| CLI `runs list --limit 50`, in-process (open + list + render) | {cli_s * 1000:.0f} ms |")
    print(f"| CLI `runs list --limit 50`, fresh Python process | {cold_s * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
