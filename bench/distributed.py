#!/usr/bin/env python3
"""Distributed loads benchmark: rowflow workers over NATS JetStream on this machine.

In one run:

  enrichment   an http-bound pipeline (the mock API answering after LATENCY_MS, default
               50 ms; concurrency 64 per worker) over HTTP_ROWS rows (default 40,000) cut
               into 16 chunks, loaded by 1, 2 and 4 `rowflow worker` processes; rows/s and
               the speed-up against 1 worker (goal: 4 workers >= 3.5x; the work waits on
               the API, so it scales on 2 cores). Every request is counted at the mock.
  cpu          the standard workload (ROWS, default 1,000,000) into PostgreSQL with 1 and
               2 workers, against a plain `rowflow run` of the same file (CPU-bound: on 2
               cores, 2 workers share the cores with the server).
  overhead     `submit` (planning, the pass that finds record boundaries and line numbers,
               publishing) against a plain `rowflow run` of the same file into
               PostgreSQL (goal <= 10%).

Each load's table is checked: row count and distinct ids. Needs a release build
(`cargo build --release --bin rowflow --example mock_api`), NATS with JetStream at
$ROWFLOW_NATS (default nats://127.0.0.1:4222) and PostgreSQL at $ROWFLOW_TEST_PG
(default postgres://postgres@127.0.0.1:5432/test). Writes bench/results/. Not a test.
"""
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import BIN, ROOT, WORK, write_report  # noqa: E402

MOCK = os.path.join(ROOT, "target", "release", "examples", "mock_api")
NATS = os.environ.get("ROWFLOW_NATS", "nats://127.0.0.1:4222")
PG = os.environ.get("ROWFLOW_TEST_PG", "postgres://postgres@127.0.0.1:5432/test")
PORT = int(os.environ.get("PORT", "18081"))


def psql(sql):
    return subprocess.run(["psql", PG, "-X", "-q", "-tAc", sql], check=True,
                          capture_output=True, text=True).stdout.strip()


def check(table, rows):
    got = psql(f"SELECT count(*), count(DISTINCT id) FROM {table}")
    if got != f"{rows}|{rows}":
        raise SystemExit(f"{table}: expected {rows} rows once each, got {got}")


def workload_pipeline(csv_path, table, extra=""):
    text = open(os.path.join(ROOT, "examples", "users", "pipeline.toml")).read()
    text = (text.replace('path = "users.csv"', f'path = "{csv_path}"')
                .replace('url = "sqlite://out/users.db"', f'url = "{PG}"')
                .replace('table = "users_out"', f'table = "{table}"'))
    p = os.path.join(WORK, f"{table}.toml")
    with open(p, "w") as f:
        f.write(text + "\n" + extra)
    return p


def distributed(pipeline, workers, chunk_size, concurrency=1):
    """Submit, start `workers` workers, wait: seconds from the submit's start to the end,
    and the submit's own seconds."""
    t0 = time.perf_counter()
    out = subprocess.run([BIN, "submit", pipeline, "--nats", NATS, "--chunk-size", chunk_size,
                          "--ack-wait", "10"], check=True, capture_output=True, text=True)
    t_submit = time.perf_counter() - t0
    load = out.stdout.strip()
    procs = [subprocess.Popen([BIN, "worker", "--nats", NATS, "--load", load, "--quiet",
                               "--concurrency", str(concurrency)]) for _ in range(workers)]
    w = subprocess.run([BIN, "wait", load, "--nats", NATS, "--json"], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    for p in procs:
        p.wait(timeout=60)
    if w.returncode != 0:
        raise SystemExit(f"wait exited {w.returncode}: {w.stdout} {w.stderr}")
    return wall, t_submit


def main():
    os.makedirs(WORK, exist_ok=True)
    host = f"{platform.node()} ({os.cpu_count()} cores)"
    lines = [f"# Distributed loads, {dt.datetime.now():%Y-%m-%d %H:%M}, {host}", ""]

    # Enrichment-bound.
    rows = int(os.environ.get("HTTP_ROWS", "40000"))
    latency = int(os.environ.get("LATENCY_MS", "50"))
    csv_path = os.path.join(WORK, f"ids_{rows}.csv")
    with open(csv_path, "w") as f:
        f.write("id\n")
        f.writelines(f"{i}\n" for i in range(1, rows + 1))
    size = os.path.getsize(csv_path)
    mock = subprocess.Popen([MOCK, f"127.0.0.1:{PORT}", str(latency), "2"], stdout=subprocess.PIPE, text=True)
    mock.stdout.readline()
    try:
        p = os.path.join(WORK, "dist_http.toml")
        with open(p, "w") as f:
            f.write(f'''name = "dist_http"
[source]
path = "{csv_path}"
[source.schema]
id = "int"
[[transform]]
type = "http"
url = "http://127.0.0.1:{PORT}/api?id={{id}}"
concurrency = 64
[transform.fields]
score = {{ pointer = "/score", type = "int" }}
[sink]
url = "{PG}"
table = "bench_dist_http"
mode = "replace"
''')
        chunk = str(size // 16 + 1)
        http = {}
        for n in (1, 2, 4):
            wall, _ = distributed(p, n, chunk)
            check("bench_dist_http", rows)
            http[n] = rows / wall
            print(f"enrichment, {n} worker(s): {wall:.2f} s, {http[n]:,.0f} rows/s", flush=True)
    finally:
        mock.terminate()
    lines += [f"Enrichment-bound: {rows:,} rows in 16 chunks, http stage, mock API {latency} ms, "
              "64 requests in flight per worker (one worker: at most 1,280 rows/s).", "",
              "| workers | rows/s | vs 1 worker |", "|---:|---:|---:|"]
    for n in (1, 2, 4):
        lines.append(f"| {n} | {http[n]:,.0f} | {http[n] / http[1]:.2f}x |")
    lines.append("")

    # CPU-bound and the submit's overhead.
    rows = int(os.environ.get("ROWS", "1000000"))
    csv_path = os.path.join(WORK, f"users_{rows}.csv")
    if not os.path.exists(csv_path):
        subprocess.run([BIN, "generate", "users", "--rows", str(rows), "--out", csv_path], check=True)
    size = os.path.getsize(csv_path)
    chunk = str(size // 8 + 1)
    single_p = workload_pipeline(csv_path, "bench_dist_single")
    dist_p = workload_pipeline(csv_path, "bench_dist_cpu")
    runs, submits, d1, d2 = [], [], [], []
    for _ in range(int(os.environ.get("REPEAT", "3"))):
        t0 = time.perf_counter()
        subprocess.run([BIN, "run", single_p, "--quiet", "--restart"], check=True)
        runs.append(time.perf_counter() - t0)
        check("bench_dist_single", rows)
        wall, sub = distributed(dist_p, 1, chunk)
        check("bench_dist_cpu", rows)
        d1.append(wall)
        submits.append(sub)
        wall, sub = distributed(dist_p, 2, chunk)
        check("bench_dist_cpu", rows)
        d2.append(wall)
        submits.append(sub)
    run_s, sub_s = statistics.median(runs), statistics.median(submits)
    print(f"cpu: run {run_s:.2f} s, 1 worker {statistics.median(d1):.2f} s, "
          f"2 workers {statistics.median(d2):.2f} s, submit {sub_s:.2f} s", flush=True)
    lines += [f"CPU-bound: the standard workload, {rows:,} rows ({size / 1e6:.0f} MB) in 8 chunks, "
              "into PostgreSQL (medians).", "",
              "| | wall | vs `rowflow run` |", "|---|---:|---:|",
              f"| `rowflow run` (one process) | {run_s:.2f} s | 1.00x |",
              f"| submit + 1 worker | {statistics.median(d1):.2f} s | {run_s / statistics.median(d1):.2f}x |",
              f"| submit + 2 workers | {statistics.median(d2):.2f} s | {run_s / statistics.median(d2):.2f}x |",
              f"| `submit` alone (plan, boundary pass, publish) | {sub_s:.2f} s | "
              f"{100 * sub_s / run_s:.1f}% of the run |", ""]
    write_report("\n".join(lines), "distributed", True)


if __name__ == "__main__":
    main()
