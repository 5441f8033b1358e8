#!/usr/bin/env python3
"""End-to-end benchmark: rowflow vs the sqlite3 shell on the standard workload.

Runs each contender REPEAT times (alternating), checks every result against checksums
computed independently from the CSV, and prints wall time, CPU time (user+sys, incl.
children), peak RSS and the ratio to the baseline (median of the repeats). Also runs
the single-core expression throughput measurement. Writes a Markdown table to
bench/results/. Not a test: numbers depend on the machine; ratios are what matter.
"""
import datetime as dt
import csv
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORK = os.path.join(HERE, "work")
BIN = os.path.join(ROOT, "target", "release", "rowflow")


def run_timed(cmd, stdin_path=None):
    """Fork/exec with os.wait4 to get this child's own rusage."""
    r, w = os.pipe()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.dup2(w, 1)
            if stdin_path:
                fd = os.open(stdin_path, os.O_RDONLY)
                os.dup2(fd, 0)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.execv(cmd[0], cmd)
        finally:
            os._exit(127)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"command failed ({code}): {' '.join(cmd)}")
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss_mb": ru.ru_maxrss / 1024,
            "stdout": b"".join(chunks).decode(errors="replace")}


def checksums(*args):
    out = subprocess.run([sys.executable, os.path.join(HERE, "checksums.py"), *args],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def remove_db(path):
    """An SQLite database and its side files, gone."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


def workload_csv(rows):
    """The standard workload's CSV of `rows` rows under bench/work, generated once."""
    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, f"users_{rows}.csv")
    if not os.path.exists(path):
        print(f"generating {rows:,} rows ...", flush=True)
        subprocess.run([BIN, "generate", "users", "--rows", str(rows), "--out", path], check=True)
    return path


def write_report(text, name, all_ok):
    """Print `text`, write it to bench/results/DATE-NAME.md, and exit 1 unless `all_ok`."""
    print()
    print(text)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    out = os.path.join(HERE, "results", f"{dt.datetime.now().strftime('%Y-%m-%d')}-{name}.md")
    with open(out, "w") as f:
        f.write(text + "\n")
    print(f"\nwritten to {os.path.relpath(out, ROOT)}")
    if not all_ok:
        sys.exit(1)


def encoding_leg(csv_path, rows, repeat):
    """A windows-1252 file against the same rows in UTF-8: the cost of `encoding`.

    The workload has names no single-byte encoding holds (Greek, Chinese, Vietnamese), so
    both files hold the rows that windows-1252 can write; both loads must give the same
    table (compared by the checksums of the two databases)."""
    utf8 = os.path.join(WORK, f"users_{rows}.cp1252-subset.utf8.csv")
    cp = os.path.join(WORK, f"users_{rows}.cp1252-subset.cp1252.csv")
    if not os.path.exists(cp):
        kept = 0
        with open(csv_path, encoding="utf-8", newline="") as src, \
                open(utf8, "w", encoding="utf-8", newline="") as a, \
                open(cp, "w", encoding="cp1252", newline="") as b:
            wa, wb = csv.writer(a, lineterminator="\n"), csv.writer(b, lineterminator="\n")
            for record in csv.reader(src):
                try:
                    "".join(record).encode("cp1252")
                except UnicodeEncodeError:
                    continue
                wa.writerow(record)
                wb.writerow(record)
                kept += 1
        print(f"encoding leg: {kept:,} rows windows-1252 can write", flush=True)
    res = {"utf8": [], "cp1252": []}
    dbs = {k: os.path.join(WORK, f"enc-{k}.db") for k in res}
    for _ in range(repeat):
        for k in ("utf8", "cp1252"):
            remove_db(dbs[k])
            extra = ["--set", "source.encoding=windows-1252"] if k == "cp1252" else []
            m = run_timed([BIN, "run", os.path.join(ROOT, "examples/users/pipeline.toml"),
                           "--set", f"source.path={utf8 if k == 'utf8' else cp}",
                           "--set", f"sink.url=sqlite://{dbs[k]}", *extra, "--json", "--quiet"])
            res[k].append(m)
    same = checksums("sqlite", dbs["utf8"], "users_out") == checksums("sqlite", dbs["cp1252"], "users_out")
    if not same:
        print("  encoding leg: the windows-1252 load differs from the UTF-8 one", flush=True)
    u = statistics.median(m["wall"] for m in res["utf8"])
    c = statistics.median(m["wall"] for m in res["cp1252"])
    return ["", f"Encoding: the same rows as windows-1252 vs UTF-8: throughput {u / c:.2f}x of UTF-8 "
                f"(median wall {c:.2f} s vs {u:.2f} s; goal >= 0.80; tables "
                f"{'identical' if same else 'DIFFER'})"]


def jsonl_leg(csv_path, rows, repeat, exp):
    """The workload as JSON Lines (one object per row, the CSV's fields as strings, an
    empty field null) against the CSV: the same pipeline, the same table."""
    jl = os.path.join(WORK, f"users_{rows}.jsonl")
    if not os.path.exists(jl):
        with open(csv_path, encoding="utf-8", newline="") as src, \
                open(jl, "w", encoding="utf-8") as out:
            r = csv.reader(src)
            header = next(r)
            for rec in r:
                out.write(json.dumps({k: (v if v != "" else None) for k, v in zip(header, rec)},
                                     ensure_ascii=False) + "\n")
    res = {"csv": [], "jsonl": []}
    dbs = {k: os.path.join(WORK, f"fmt-{k}.db") for k in res}
    for _ in range(repeat):
        for k in ("csv", "jsonl"):
            remove_db(dbs[k])
            m = run_timed([BIN, "run", os.path.join(ROOT, "examples/users/pipeline.toml"),
                           "--set", f"source.path={csv_path if k == 'csv' else jl}",
                           "--set", f"sink.url=sqlite://{dbs[k]}", "--json", "--quiet"])
            res[k].append(m)
    ok = checksums("sqlite", dbs["jsonl"], "users_out") == exp
    c = statistics.median(m["wall"] for m in res["csv"])
    j = statistics.median(m["wall"] for m in res["jsonl"])
    return [f"JSON Lines: the workload as JSON Lines vs CSV: throughput {c / j:.2f}x of CSV "
            f"(median wall {j:.2f} s vs {c:.2f} s; goal >= 0.80; checksums {'ok' if ok else 'FAIL'})"]


def main():
    rows = int(os.environ.get("ROWS", "1000000"))
    repeat = int(os.environ.get("REPEAT", "3"))
    csv_path = workload_csv(rows)
    size_mb = os.path.getsize(csv_path) / 1e6
    print(f"input: {csv_path} ({size_mb:.0f} MB)", flush=True)
    exp = checksums("expected", csv_path)

    with open(os.path.join(HERE, "sql", "sqlite_baseline.sql")) as f:
        baseline_sql = f.read().replace("@CSV@", csv_path)
    baseline_sql_path = os.path.join(WORK, "baseline.sql")
    with open(baseline_sql_path, "w") as f:
        f.write(baseline_sql)
    sqlite3 = shutil.which("sqlite3")
    if not sqlite3:
        raise SystemExit("sqlite3 shell not found (apt-get install sqlite3)")

    # "rowflow" declares nothing about the dialect (it is detected, as a user's first run
    # would); "rowflow-declared" sets it, so the pair gives detection's cost.
    results = {"rowflow": [], "sqlite3": [], "rowflow-declared": []}
    # The asyncio script rowflow replaces (a task per row, gather, save): SCRIPT=0 leaves
    # it out (it takes about ten times as long as rowflow).
    # Off by default past 2M rows: the script holds every row in memory (2 GB per 1M).
    script = os.environ.get("SCRIPT", "1" if rows <= 2_000_000 else "0") != "0"
    if script:
        results["asyncio-script"] = []
    script_db = os.path.join(WORK, "script.db")
    rf_db = os.path.join(WORK, "rowflow.db")
    base_db = os.path.join(WORK, "baseline.db")
    for i in range(repeat):
        # The two rowflow legs swap places every run, and dirty pages of the previous
        # run are flushed first: the leg after sqlite3's 9-second write would otherwise
        # pay for its writeback.
        order = ("sqlite3", "rowflow", "rowflow-declared") if i % 2 == 0 else \
            ("sqlite3", "rowflow-declared", "rowflow")
        if script:
            order = order + ("asyncio-script",)
        for name in order:
            os.sync()
            for suffix in ("", "-wal", "-shm", "-journal"):
                for db in (rf_db, base_db, script_db):
                    if os.path.exists(db + suffix):
                        os.remove(db + suffix)
            if name.startswith("rowflow"):
                declared = ["--set", "source.delimiter=,", "--set", "source.quote=\"",
                            "--set", "source.has_header=true"] if name == "rowflow-declared" else []
                m = run_timed([BIN, "run", os.path.join(ROOT, "examples/users/pipeline.toml"),
                               "--set", f"source.path={csv_path}", "--set", f"sink.url=sqlite://{rf_db}",
                               *declared, "--json", "--quiet"])
                got = checksums("sqlite", rf_db, "users_out")
            elif name == "asyncio-script":
                m = run_timed([sys.executable, os.path.join(HERE, "asyncio_script.py"), csv_path, script_db])
                got = checksums("sqlite", script_db, "users_out")
            else:
                m = run_timed([sqlite3, base_db], stdin_path=baseline_sql_path)
                got = checksums("sqlite", base_db, "users_out")
            m["ok"] = got == exp
            if not m["ok"]:
                diff = {k: (exp[k], got.get(k)) for k in exp if exp[k] != got.get(k)}
                print(f"  {name}: CHECKSUM MISMATCH {diff}", flush=True)
            print(f"  run {i + 1} {name}: {m['wall']:.2f} s wall, {m['cpu']:.2f} s cpu, "
                  f"{m['rss_mb']:.0f} MB, checksums {'ok' if m['ok'] else 'FAIL'}", flush=True)
            results[name].append(m)

    def med(name, key):
        return statistics.median(r[key] for r in results[name])

    expr = subprocess.run([os.path.join(ROOT, "target", "release", "examples", "expr_throughput"),
                           str(min(rows, 1_000_000))], check=True, capture_output=True, text=True).stdout.strip()

    base_wall = med("sqlite3", "wall")
    lines = []
    lines.append(f"# SQLite benchmark, {rows:,} rows ({size_mb:.0f} MB)\n")
    lines.append(f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    lines.append(f"- machine: {socket.gethostname()}, {os.cpu_count()} cores, {platform.platform()}")
    lines.append(f"- median of {repeat} alternating runs; checksums verified against the CSV every run\n")
    lines.append("| contender | wall s | cpu s | peak RSS MB | rows/s | speed-up vs sqlite3 | checksums |")
    lines.append("|---|---:|---:|---:|---:|---:|---|")
    for name, label in (("sqlite3", "sqlite3 .import + INSERT…SELECT (baseline)"),
                        ("rowflow", "rowflow run (transform in flight, dialect detected)"),
                        ("rowflow-declared", "rowflow run (dialect declared)"),
                        ("asyncio-script", "the asyncio script (bench/asyncio_script.py: a task per row, gather, save)")):
        if name not in results:
            continue
        w = med(name, "wall")
        lines.append(f"| {label} | {w:.2f} | {med(name, 'cpu'):.2f} | {max(r['rss_mb'] for r in results[name]):.0f} "
                     f"| {rows / w:,.0f} | {base_wall / w:.2f}x | {'ok' if all(r['ok'] for r in results[name]) else 'FAIL'} |")
    lines.append("")
    if script:
        lines.append(f"rowflow vs the asyncio script: {med('asyncio-script', 'wall') / med('rowflow', 'wall'):.1f}x "
                     f"faster (goal >= 20), {med('asyncio-script', 'cpu') / med('rowflow', 'cpu'):.1f}x less CPU, "
                     f"peak RSS {max(r['rss_mb'] for r in results['rowflow']):.0f} MB against "
                     f"{max(r['rss_mb'] for r in results['asyncio-script']):.0f} MB\n")
    lines.append(f"Dialect detection: detected / declared wall = "
                 f"{med('rowflow', 'wall') / med('rowflow-declared', 'wall'):.3f} (goal <= 1.05)")
    lines.extend(encoding_leg(csv_path, rows, repeat))
    lines.extend(jsonl_leg(csv_path, rows, repeat, exp))
    lines.append(f"Expression evaluation (the workload's 6 computed columns, one core): {expr}")
    write_report("\n".join(lines), f"sqlite-{rows}",
                 all(r["ok"] for rs in results.values() for r in rs))


if __name__ == "__main__":
    main()
