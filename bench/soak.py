#!/usr/bin/env python3
"""Crash soak: hundreds of SIGKILLs at random moments, then resume, and check that every
load ends exactly like a clean one. Not a test (it runs for minutes); the test suite's
crash tests (tests/it/crash.rs) run a short version of it.

  KILLS=300 ROWS=100000 TARGET=sqlite bench/soak.py     (TARGET: sqlite | pg | mysql)
  SET="sink.sort_run_rows=1000 sink.writers=2" ...       (more --set overrides)

Each trial starts over (--restart), kills the real process 1 to 3 times with SIGKILL at
seeded random moments, then runs it again until it completes; the resulting users_out
must pass the standard workload's checksums (computed from the CSV) and hold every id
exactly once. Prints a table of the trials and exits 1 if any failed.
"""
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import BIN, ROOT, WORK, checksums  # noqa: E402


def count_distinct(target, db):
    if target == "sqlite":
        import sqlite3
        con = sqlite3.connect(db)
        return con.execute("SELECT count(*), count(DISTINCT id) FROM users_out").fetchone()
    if target == "pg":
        out = subprocess.run(["psql", "-X", "-tA", "-F", "|", "-c",
                              "SELECT count(*), count(DISTINCT id) FROM users_out"],
                             check=True, capture_output=True, text=True).stdout.strip()
    else:
        out = subprocess.run(["mariadb", "-N", "-B", "-h", "127.0.0.1", "-uroot", "test", "-e",
                              "SELECT count(*), count(DISTINCT id) FROM users_out"],
                             check=True, capture_output=True, text=True).stdout.strip().replace("\t", "|")
    a, b = out.split("|")
    return int(a), int(b)


def main():
    kills = int(os.environ.get("KILLS", "300"))
    rows = int(os.environ.get("ROWS", "100000"))
    target = os.environ.get("TARGET", "sqlite")
    seed = int(os.environ.get("SEED", "20261201"))
    rng = random.Random(seed)
    os.makedirs(WORK, exist_ok=True)
    csv_path = os.path.join(WORK, f"users_{rows}.csv")
    if not os.path.exists(csv_path):
        subprocess.run([BIN, "generate", "users", "--rows", str(rows), "--out", csv_path], check=True)
    exp = checksums("expected", csv_path)
    db = os.path.join(WORK, "soak.db")
    url = {"sqlite": f"sqlite://{db}",
           "pg": "postgres://postgres@127.0.0.1/test?sslmode=disable",
           "mysql": "mysql://root@127.0.0.1/test"}[target]
    os.environ.update({"PGHOST": "127.0.0.1", "PGUSER": "postgres", "PGDATABASE": "test"})
    base = [BIN, "run", os.path.join(ROOT, "examples/users/pipeline.toml"),
            "--set", f"source.path={csv_path}", "--set", f"sink.url={url}",
            "--set", "sink.commit_rows=5000", "--set", "runtime.batch_rows=1000", "--quiet"]
    # SET="sink.sort_run_rows=1000 sink.writers=2": more overrides, space-separated.
    for kv in os.environ.get("SET", "").split():
        base[-1:-1] = ["--set", kv]
    t0 = time.time()
    subprocess.run(base + ["--restart"], check=True, stdout=subprocess.DEVNULL)
    clean = time.time() - t0
    print(f"{rows:,} rows into {target}; a clean run takes {clean:.2f} s; {kills} kills", flush=True)
    done = failures = 0
    resumed_runs = 0
    trial = 0
    while done < kills:
        trial += 1
        args = base + ["--restart"]
        n = rng.randint(1, 3)
        for _ in range(n):
            p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.02, clean))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                done += 1
            p.wait()
            args = base
        for _ in range(5):
            r = subprocess.run(args, capture_output=True, text=True)
            resumed_runs += 1
            if r.returncode == 0:
                break
        got = checksums("sqlite", db, "users_out") if target == "sqlite" else checksums(
            "pg" if target == "pg" else "mysql", "users_out")
        total, distinct = count_distinct(target, db)
        ok = got == exp and total == distinct == rows
        if not ok:
            failures += 1
            diff = {k: (exp[k], got.get(k)) for k in exp if exp[k] != got.get(k)}
            print(f"  trial {trial}: FAILED ({total} rows, {distinct} distinct) {diff}", flush=True)
        elif trial % 20 == 0:
            print(f"  {trial} trials, {done} kills, all exact so far", flush=True)
    print()
    print("| target | rows | trials | SIGKILLs | resumed runs | failed trials |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| {target} | {rows:,} | {trial} | {done} | {resumed_runs} | {failures} |")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
