#!/usr/bin/env python3
"""Scale benchmark: does the cost grow with the rows, not faster?

In one run, alternating REPEAT times (default 1), the standard workload into SQLite at
SMALL rows (default 1,000,000) and LARGE rows (default 10,000,000), for rowflow and (unless
BASELINE=0) for sqlite3's .import + INSERT ... SELECT. Prints wall and CPU seconds, peak
RSS, the LARGE/SMALL ratios (goal for rowflow: <= 11x the wall for 10x the rows) and the
speed-up over sqlite3 at each size; checks every table against checksums computed from the
CSV; writes a Markdown table to bench/results/. Needs a release build
(`cargo build --release --bin rowflow`) and about 5 GB of free disk for 10M rows.
Not a test: the figures depend on the machine; ratios in one run matter.

On a virtual machine whose host takes back the guest's free memory (this one: writing a
new 2 GB file cost 4.6 s of system time the first time, 0.4 s once the memory had been
used, and 0.16 s writing over a file's cached pages), a 10M-row load that needs several
GB of fresh page cache pays for it in system time, and the more so the longer the
machine was idle before: use REPEAT >= 2 and read the medians (and the CPU columns).
"""
import datetime as dt
import os
import shutil
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import (BIN, HERE, ROOT, WORK, checksums, remove_db, run_timed,  # noqa: E402
                   workload_csv, write_report)


def main():
    small = int(os.environ.get("SMALL", "1000000"))
    large = int(os.environ.get("LARGE", "10000000"))
    repeat = int(os.environ.get("REPEAT", "1"))
    baseline = os.environ.get("BASELINE", "1") != "0"
    sqlite3 = shutil.which("sqlite3")
    if baseline and not sqlite3:
        raise SystemExit("sqlite3 shell not found (apt-get install sqlite3), or BASELINE=0")
    sizes = {n: workload_csv(n) for n in (small, large)}
    expected = {n: checksums("expected", p) for n, p in sizes.items()}
    with open(os.path.join(HERE, "sql", "sqlite_baseline.sql")) as f:
        baseline_sql = f.read()
    contenders = ["rowflow"] + (["sqlite3"] if baseline else [])
    results = {(c, n): [] for c in contenders for n in sizes}
    db = os.path.join(WORK, "scale.db")
    for i in range(repeat):
        # Small and large alternate (the order swaps every run), each contender in turn.
        order = list(sizes) if i % 2 == 0 else list(reversed(list(sizes)))
        for n in order:
            for c in contenders:
                os.sync()
                remove_db(db)
                if c == "rowflow":
                    m = run_timed([BIN, "run", os.path.join(ROOT, "examples/users/pipeline.toml"),
                                   "--set", f"source.path={sizes[n]}", "--set", f"sink.url=sqlite://{db}",
                                   "--json", "--quiet"])
                else:
                    script = os.path.join(WORK, f"scale_baseline_{n}.sql")
                    with open(script, "w") as f:
                        f.write(baseline_sql.replace("@CSV@", sizes[n]))
                    m = run_timed([sqlite3, db], stdin_path=script)
                m["ok"] = checksums("sqlite", db, "users_out") == expected[n]
                print(f"  run {i + 1} {c} {n:,} rows: {m['wall']:.2f} s wall, {m['cpu']:.2f} s cpu, "
                      f"{m['rss_mb']:.0f} MB, checksums {'ok' if m['ok'] else 'FAIL'}", flush=True)
                results[(c, n)].append(m)
    remove_db(db)

    def med(c, n, key):
        return statistics.median(r[key] for r in results[(c, n)])

    lines = [f"# Scale benchmark: {small:,} and {large:,} rows into SQLite\n",
             f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
             f"- {os.cpu_count()} cores; median of {repeat} alternating runs; checksums verified every run\n",
             "| contender | rows | wall s | cpu s | peak RSS MB | rows/s | checksums |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for c in contenders:
        for n in sizes:
            w = med(c, n, "wall")
            lines.append(f"| {c} | {n:,} | {w:.2f} | {med(c, n, 'cpu'):.2f} | "
                         f"{max(r['rss_mb'] for r in results[(c, n)]):.0f} | {n / w:,.0f} | "
                         f"{'ok' if all(r['ok'] for r in results[(c, n)]) else 'FAIL'} |")
    lines.append("")
    factor = large / small
    for c in contenders:
        lines.append(f"{c}: {large:,} rows took {med(c, large, 'wall') / med(c, small, 'wall'):.1f}x the wall "
                     f"and {med(c, large, 'cpu') / med(c, small, 'cpu'):.1f}x the CPU of {small:,} rows "
                     f"({factor:.0f}x the rows; rowflow's goal: <= {factor * 1.1:.0f}x the wall)")
    if baseline:
        for n in sizes:
            lines.append(f"rowflow's speed-up over sqlite3 at {n:,} rows: "
                         f"{med('sqlite3', n, 'wall') / med('rowflow', n, 'wall'):.2f}x (goal >= 3.5x)")
    write_report("\n".join(lines), f"scale-{small}-{large}",
                 all(r["ok"] for rs in results.values() for r in rs))


if __name__ == "__main__":
    main()
