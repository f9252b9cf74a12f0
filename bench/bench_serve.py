"""Load test of `tweetsent serve` (issue 15, "Service under load and faults": the load-test part).

    .venv/bin/python bench/bench_serve.py [--run RUN_DIR] [--config tfidf-softmax] [--data ../shared/data/vaccine]
                                          [--workers 1 2] [--soak SECONDS]

Trains a run (``tweetsent train --config CONFIG``) unless ``--run`` names one, then for each worker
count starts ``python -m tweetsent serve RUN --port P --workers W`` on 127.0.0.1 (a free port), waits
for ``/health`` and drives ``POST /predict`` with an ``httpx.AsyncClient`` at 1, 8 and 32 concurrent
clients and 1 and 32 tweets per request (validation tweets), a fixed number of requests per cell after
a short warm-up (every loop bounded in count and in time). Measures requests/s, tweets/s, p50 / p99
latency and errors, and the server's resident memory (VmRSS of the server and its worker children)
at the start and end of each configuration. ``--soak S`` then runs batch 1 at 8 clients for S seconds
on one worker and reports memory growth. A short in-process profile (``clf.predict_proba`` alone)
says how much of a request is the model. The server is always stopped at the end.
Prints a Markdown report and writes bench/out/serve-<model>.json and .md. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from machine import machine

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
CONCURRENCY = (1, 8, 32)
BATCHES = {1: 200, 32: 60}  # tweets per request -> requests per cell
WARMUP = 20  # requests before each cell, not measured
CELL_LIMIT_S = 60.0  # a cell stops after this long even if its requests are not all sent
GOAL_TWEETS_PER_S = 2000.0  # at batch 32, one worker
GOAL_P99_MS = 50.0  # at 8 clients, batch 1


# -- the server ---------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """All descendants of ``pid`` (from /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MiB (VmRSS; psutil when installed)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            proc = psutil.Process(pid)
            procs = [proc, *proc.children(recursive=True)]
            return sum(p.memory_info().rss for p in procs) / 2**20
        except psutil.Error:
            return float("nan")
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])  # kB
        except OSError:
            pass
    return total / 1024


class Server:
    """``python -m tweetsent serve RUN`` on 127.0.0.1 in its own process group; `stop` always ends it."""

    def __init__(self, run: Path, workers: int, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tweetsent", "serve", str(run), "--host", HOST, "--port", str(self.port),
             "--workers", str(workers)],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO)

    def wait_ready(self, timeout: float = 90.0, workers: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200:
                    if workers > 1:  # let every worker finish loading the model before measuring
                        time.sleep(3.0)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"server not healthy after {timeout:.0f} s; see {self.log.name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group this script started
                self.proc.wait(timeout=5)
        self.log.close()


# -- the client ---------------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


async def drive(url: str, tweets: list[str], concurrency: int, batch: int, n_requests: int,
                limit_s: float = CELL_LIMIT_S) -> dict:
    """``n_requests`` POST /predict of ``batch`` tweets from ``concurrency`` clients (stops after ``limit_s``)."""
    latencies: list[float] = []
    errors: list[str] = []
    state = {"next": 0}
    deadline = time.perf_counter() + limit_s
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0) as client:
        async def one_client() -> None:
            while state["next"] < n_requests and time.perf_counter() < deadline:
                i = state["next"]
                state["next"] += 1
                start = (i * batch) % len(tweets)
                body = {"tweets": [tweets[(start + j) % len(tweets)] for j in range(batch)]}
                t0 = time.perf_counter()
                try:
                    r = await client.post("/predict", json=body)
                    ok = r.status_code == 200 and len(r.json()["predictions"]) == batch
                    if not ok:
                        errors.append(f"{r.status_code}: {r.text[:120]}")
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    errors.append(repr(exc)[:160])
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    done = len(latencies)
    ms = [x * 1000 for x in latencies]
    return {"concurrency": concurrency, "batch": batch, "requests": done, "seconds": wall,
            "requests_per_s": done / wall, "tweets_per_s": done * batch / wall,
            "p50_ms": percentile(ms, 0.50), "p99_ms": percentile(ms, 0.99), "max_ms": max(ms, default=float("nan")),
            "errors": len(errors), "error_examples": errors[:3], "timed_out": done < n_requests}


def configuration(run: Path, workers: int, tweets: list[str], out: Path) -> dict:
    server = Server(run, workers, out / f"serve-{run.name}-w{workers}.log")
    try:
        server.wait_ready(workers=workers)
        rss_start = rss_mib(server.proc.pid)
        cells = []
        for batch, n in BATCHES.items():
            for c in CONCURRENCY:
                asyncio.run(drive(server.url, tweets, c, batch, WARMUP, limit_s=15.0))
                cell = asyncio.run(drive(server.url, tweets, c, batch, n))
                cell["workers"] = workers
                cells.append(cell)
                print(f"  w{workers} c{c:2d} b{batch:2d}: {cell['requests_per_s']:7.1f} req/s "
                      f"{cell['tweets_per_s']:8.1f} tweets/s p50 {cell['p50_ms']:6.1f} ms "
                      f"p99 {cell['p99_ms']:6.1f} ms errors {cell['errors']}", file=sys.stderr)
        rss_end = rss_mib(server.proc.pid)
    finally:
        server.stop()
    return {"workers": workers, "rss_start_mib": rss_start, "rss_end_mib": rss_end, "cells": cells,
            "exit_code": server.proc.returncode}


def soak(run: Path, tweets: list[str], seconds: float, out: Path) -> dict:
    """Batch 1 at 8 clients for ``seconds`` on one worker, memory sampled every ~10 s."""
    server = Server(run, 1, out / f"serve-{run.name}-soak.log")
    samples, cells = [], []
    try:
        server.wait_ready()
        asyncio.run(drive(server.url, tweets, 8, 1, WARMUP, limit_s=15.0))
        t0 = time.monotonic()
        samples.append((0.0, rss_mib(server.proc.pid)))
        while time.monotonic() - t0 < seconds:
            left = seconds - (time.monotonic() - t0)
            cells.append(asyncio.run(drive(server.url, tweets, 8, 1, 10**6, limit_s=min(10.0, left))))
            samples.append((time.monotonic() - t0, rss_mib(server.proc.pid)))
    finally:
        server.stop()
    first, last = samples[0][1], samples[-1][1]
    ms_all = [c["p99_ms"] for c in cells]
    done = sum(c["requests"] for c in cells)
    wall = sum(c["seconds"] for c in cells)
    return {"seconds": seconds, "requests": done, "requests_per_s": done / wall if wall else float("nan"),
            "errors": sum(c["errors"] for c in cells), "worst_window_p99_ms": max(ms_all, default=float("nan")),
            "rss_samples_mib": samples, "rss_first_mib": first, "rss_last_mib": last,
            "rss_growth_pct": 100 * (last - first) / first if first else float("nan")}


# -- where the time goes ------------------------------------------------------------------------------

def profile(run: Path, tweets: list[str], repeats: int = 50) -> dict:
    """``clf.predict_proba`` alone, in this process, for 1 and 32 tweets (median ms)."""
    from tweetsent.runs.workflow import load_run

    clf = load_run(run)
    out = {}
    for batch in (1, 32):
        texts = tweets[:batch]
        clf.predict_proba(texts)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            clf.predict_proba(texts)
            times.append((time.perf_counter() - t0) * 1000)
        out[f"predict_proba_b{batch}_ms"] = statistics.median(times)
    # cProfile of 20 one-tweet calls: the functions that take the most time themselves
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    for _ in range(20):
        clf.predict_proba(tweets[:1])
    prof.disable()
    stats = pstats.Stats(prof).stats  # {(file, line, name): (cc, nc, tottime, cumtime, callers)}
    total = sum(v[2] for v in stats.values())
    top = sorted(stats.items(), key=lambda kv: -kv[1][2])[:6]
    out["b1_top_self_time"] = [{"function": f"{Path(k[0]).name}:{k[1]}({k[2]})", "calls_per_predict": v[1] / 20,
                                "ms_per_predict": v[2] / 20 * 1000, "share": v[2] / total} for k, v in top]
    cum = {k[2]: v[3] for k, v in stats.items() if "tweetsent" in k[0] or "loop.py" in k[0]}
    out["b1_cumulative_ms"] = {name: cum[name] / 20 * 1000 for name in
                               ("predict_proba", "transform", "counts", "tokenize_arrow", "predict_scores") if name in cum}
    return out


# -- report -------------------------------------------------------------------------------------------

def train(config: str, data: Path, out: Path) -> tuple[Path, float]:
    run = out / f"run-{config}"
    t0 = time.perf_counter()
    subprocess.run([str(BIN / "tweetsent"), "train", "--config", config, "--no-figures", "--no-log", "--quiet",
                    "--train", str(data / "vaccine_train_set.csv"), "--val", str(data / "vaccine_validation_set.csv"),
                    "--out", str(run)], check=True, stdout=subprocess.DEVNULL)
    return run, time.perf_counter() - t0


def read_tweets(path: Path) -> list[str]:
    from tweetsent.data.tables import read_dataset

    return [t for t in read_dataset(path).texts if t.strip()]


def verdicts(configs: list[dict], soaked: dict | None) -> list[tuple[str, bool | None, str]]:
    def cell(w, c, b):
        for conf in configs:
            for x in conf["cells"]:
                if (x["workers"], x["concurrency"], x["batch"]) == (w, c, b):
                    return x
        return None

    out = []
    one_w = [x for x in (cell(1, c, 32) for c in CONCURRENCY) if x]
    if one_w:
        best = max(one_w, key=lambda x: x["tweets_per_s"])
        out.append((f">= {GOAL_TWEETS_PER_S:,.0f} tweets/s at batch 32, one worker", best["tweets_per_s"] >= GOAL_TWEETS_PER_S,
                    f"best {best['tweets_per_s']:,.0f} tweets/s at {best['concurrency']} clients"))
    for w in sorted({conf["workers"] for conf in configs}):
        x = cell(w, 8, 1)
        if x:
            out.append((f"p99 < {GOAL_P99_MS:.0f} ms at 8 clients, batch 1 ({w} worker{'s' if w > 1 else ''})",
                        x["p99_ms"] < GOAL_P99_MS, f"p99 {x['p99_ms']:.1f} ms"))
    errors = sum(x["errors"] for conf in configs for x in conf["cells"]) + (soaked["errors"] if soaked else 0)
    out.append(("zero errors", errors == 0, f"{errors} errors"))
    if soaked:
        out.append(("soak memory growth < 5%", soaked["rss_growth_pct"] < 5,
                    f"{soaked['rss_growth_pct']:+.1f}% over {soaked['seconds']:.0f} s (issue asks 600 s)"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="serve this run directory instead of training one")
    ap.add_argument("--config", default="tfidf-softmax", help="preset to train when --run is not given")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "vaccine")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--soak", type=float, default=0.0, help="seconds of batch-1, 8-client soak (0: none)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python bench/bench_serve.py " + " ".join(sys.argv[1:])
    began = time.perf_counter()

    tweets = read_tweets(args.data / "vaccine_validation_set.csv")
    with tempfile.TemporaryDirectory() as tmp:
        if args.run:
            run, train_s = args.run.resolve(), None
        else:
            print(f"training {args.config} ...", file=sys.stderr)
            run, train_s = train(args.config, args.data, Path(tmp))
        run_json = json.loads((run / "run.json").read_text()) if (run / "run.json").exists() else {}
        model_name = run_json.get("name", args.config if not args.run else run.name)
        configs = [configuration(run, w, tweets, args.out) for w in args.workers]
        soaked = soak(run, tweets, args.soak, args.out) if args.soak > 0 else None
        prof = profile(run, tweets)

    verdict = verdicts(configs, soaked)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"## Service load test ({model_name})", "",
             f"`{command.strip()}` on {machine()}, {when}; model `{model_name}` "
             f"({f'trained here in {train_s:.0f} s' if train_s else f'from {run}'}); client and server share "
             f"the machine's {os.cpu_count()} cores; {', '.join(f'{n} requests at batch {b}' for b, n in BATCHES.items())} "
             f"per cell after {WARMUP} warm-up requests.", "",
             "| Workers | Clients | Batch | Requests | req/s | tweets/s | p50 ms | p99 ms | Errors |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for conf in configs:
        for x in conf["cells"]:
            lines.append(f"| {x['workers']} | {x['concurrency']} | {x['batch']} | {x['requests']} | "
                         f"{x['requests_per_s']:,.1f} | {x['tweets_per_s']:,.0f} | {x['p50_ms']:.1f} | "
                         f"{x['p99_ms']:.1f} | {x['errors']} |")
    lines += ["", "| Workers | RSS start (MiB) | RSS end (MiB) | Exit code after SIGTERM |", "| ---: | ---: | ---: | ---: |"]
    lines += [f"| {c['workers']} | {c['rss_start_mib']:.0f} | {c['rss_end_mib']:.0f} | {c['exit_code']} |" for c in configs]
    if soaked:
        lines += ["", f"Soak: batch 1, 8 clients, {soaked['seconds']:.0f} s, one worker: {soaked['requests']} requests "
                  f"({soaked['requests_per_s']:.0f} req/s), {soaked['errors']} errors, worst 10-s window p99 "
                  f"{soaked['worst_window_p99_ms']:.1f} ms, RSS {soaked['rss_first_mib']:.0f} -> "
                  f"{soaked['rss_last_mib']:.0f} MiB ({soaked['rss_growth_pct']:+.1f}%)."]
    one = {(x["concurrency"], x["batch"]): x for c in configs if c["workers"] == 1 for x in c["cells"]}
    lines += ["", f"Profile (in-process, median of 50): `clf.predict_proba` takes {prof['predict_proba_b1_ms']:.2f} ms "
              f"for 1 tweet and {prof['predict_proba_b32_ms']:.2f} ms for 32"]
    if (1, 1) in one and (1, 32) in one:
        lines[-1] += (f"; the HTTP round trip at 1 client, one worker, is {one[(1, 1)]['p50_ms']:.2f} ms (p50) for 1 "
                      f"tweet and {one[(1, 32)]['p50_ms']:.2f} ms for 32, so the model is "
                      f"{100 * prof['predict_proba_b1_ms'] / one[(1, 1)]['p50_ms']:.0f}% and "
                      f"{100 * prof['predict_proba_b32_ms'] / one[(1, 32)]['p50_ms']:.0f}% of a request.")
    lines += ["", "Where one 1-tweet `predict_proba` spends its time (cProfile, 20 calls; cumulative ms per call: "
              + ", ".join(f"`{k}` {v:.1f}" for k, v in prof["b1_cumulative_ms"].items()) + "):", "",
              "| Function (self time) | Calls per predict | ms per predict | Share |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| `{t['function']}` | {t['calls_per_predict']:.0f} | {t['ms_per_predict']:.2f} | {100 * t['share']:.0f}% |"
              for t in prof["b1_top_self_time"]]
    lines += ["", "| Goal | Met | Measured |", "| --- | --- | --- |"]
    lines += [f"| {g} | {'yes' if ok else 'no'} | {m} |" for g, ok, m in verdict]
    lines += ["", f"Whole benchmark: {time.perf_counter() - began:.0f} s."]
    report = "\n".join(lines)
    print(report)
    result = {"command": command.strip(), "machine": machine(), "date": when, "model": model_name,
              "train_seconds": train_s, "configurations": configs, "soak": soaked, "profile": prof,
              "goals": [{"goal": g, "met": ok, "measured": m} for g, ok, m in verdict]}
    (args.out / f"serve-{model_name}.json").write_text(json.dumps(result, indent=2))
    (args.out / f"serve-{model_name}.md").write_text(report + "\n")


if __name__ == "__main__":
    main()
