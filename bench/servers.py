#!/usr/bin/env python3
"""Server benchmark: rowflow vs the servers' own bulk paths on the standard workload.

In one run, on the same generated CSV (ROWS, default 1,000,000), alternating REPEAT
times (default 3), each contender starting from an empty target:

PostgreSQL
  copy-unlogged   psql \\copy of the raw CSV into an UNLOGGED typed table (no index)
  copy-logged     psql \\copy of the raw CSV into a logged typed table (no index)
  elt             \\copy into an UNLOGGED staging table + the transform as
                  INSERT ... SELECT into users_out (primary key)
  rowflow-1       rowflow run, transform in flight, into users_out, 1 writer
  rowflow-2       the same with 2 writers
  like for like (the goal's baseline loads into a table without an index, rowflow into
  one with a primary key; these two put both sides on the same footing):
  copy-logged-pk  psql \\copy of the raw CSV into the logged typed table with
                  PRIMARY KEY (id)
  rowflow-2-nopk  rowflow-2 into users_out without its primary key
MariaDB
  load-data       LOAD DATA LOCAL INFILE of the raw CSV (no index)
  load-data-pk    the same into the table with PRIMARY KEY (id) (like for like: rowflow's
                  target has that key)
  rowflow-1/2     rowflow into users_out (primary key), 1 and 2 writers

Prints wall time, client CPU (user+sys of the client process and its children), server
CPU (the server processes' CPU time used meanwhile), peak client RSS and ratios;
checks every users_out against checksums computed from the CSV; writes a Markdown table
to bench/results/. Connections: PGHOST/PGUSER/PGDATABASE (default 127.0.0.1, postgres,
test) and MYSQL_HOST/MYSQL_USER/MYSQL_DB (127.0.0.1, root, test); sslmode=disable for
both sides. Not a test: the figures depend on the machine; ratios in one run matter.
"""
import datetime as dt
import os
import platform
import socket
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import BIN, ROOT, WORK, checksums, run_timed, write_report  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SQL = os.path.join(HERE, "sql")
PG = {"PGHOST": os.environ.get("PGHOST", "127.0.0.1"), "PGUSER": os.environ.get("PGUSER", "postgres"),
      "PGDATABASE": os.environ.get("PGDATABASE", "test"), "PGSSLMODE": "disable"}
os.environ.update(PG)
MY = {"host": os.environ.get("MYSQL_HOST", "127.0.0.1"), "user": os.environ.get("MYSQL_USER", "root"),
      "db": os.environ.get("MYSQL_DB", "test")}
PG_URL = f"postgres://{PG['PGUSER']}@{PG['PGHOST']}/{PG['PGDATABASE']}?sslmode=disable"
MY_URL = f"mysql://{MY['user']}@{MY['host']}/{MY['db']}"
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid, children=True):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    p = s[s.rindex(")") + 2:].split()
    t = int(p[11]) + int(p[12])
    if children:
        t += int(p[13]) + int(p[14])
    return t / TICK


def pg_server_cpu():
    """CPU of the postmaster and its children, live and exited (reaped into cutime)."""
    pids = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout.split()
    if not pids:
        return None
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                s = f.read()
            ppid = int(s[s.rindex(")") + 2:].split()[1])
            # The postmaster with its reaped children, and the live backends.
            total += proc_cpu(pid, children=ppid == 1 or ppid not in map(int, pids))
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def my_server_cpu():
    pids = subprocess.run(["pgrep", "-x", "mariadbd"], capture_output=True, text=True).stdout.split()
    if not pids:
        pids = subprocess.run(["pgrep", "-x", "mysqld"], capture_output=True, text=True).stdout.split()
    return sum(proc_cpu(int(p), children=False) for p in pids) if pids else None


def psql(*args):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def mysql(sql_or_file, is_file=False):
    args = ["mariadb", "-h", MY["host"], "-u", MY["user"], MY["db"]]
    if is_file:
        with open(sql_or_file) as f:
            subprocess.run(args, stdin=f, check=True)
    else:
        subprocess.run([*args, "-e", sql_or_file], check=True)


def rowflow_cmd(csv_path, url, writers):
    return [BIN, "run", os.path.join(ROOT, "examples/users/pipeline.toml"),
            "--set", f"source.path={csv_path}", "--set", f"sink.url={url}",
            "--set", "sink.mode=append", "--set", f"sink.writers={writers}", "--restart", "--json", "--quiet"]


def contenders(csv_path):
    copy_opts = "WITH (FORMAT csv, HEADER true)"
    psql_bin = subprocess.run(["sh", "-c", "command -v psql"], capture_output=True, text=True).stdout.strip()
    maria_bin = subprocess.run(["sh", "-c", "command -v mariadb || command -v mysql"],
                               capture_output=True, text=True).stdout.strip()
    load_data = (f"LOAD DATA LOCAL INFILE '{csv_path}' INTO TABLE users_raw CHARACTER SET utf8mb4 "
                 "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
                 "LINES TERMINATED BY '\\n' IGNORE 1 LINES")
    return [
        ("pg", "copy-unlogged", "psql \\copy raw → UNLOGGED table",
         lambda: psql("-v", "kind=UNLOGGED", "-f", os.path.join(SQL, "pg_raw.sql")),
         [psql_bin, "-X", "-q", "-c", f"\\copy users_raw FROM '{csv_path}' {copy_opts}"], None),
        ("pg", "copy-logged", "psql \\copy raw → logged table",
         lambda: psql("-v", "kind=", "-f", os.path.join(SQL, "pg_raw.sql")),
         [psql_bin, "-X", "-q", "-c", f"\\copy users_raw FROM '{csv_path}' {copy_opts}"], None),
        ("pg", "elt", "\\copy → staging + INSERT…SELECT (transform in SQL)",
         lambda: psql("-f", os.path.join(SQL, "pg_elt_setup.sql")),
         ["/bin/sh", "-c", f"{psql_bin} -X -q -v ON_ERROR_STOP=1 -c \"\\copy users_stage FROM '{csv_path}' {copy_opts}\" "
                      f"&& {psql_bin} -X -q -v ON_ERROR_STOP=1 -f {os.path.join(SQL, 'pg_elt_transform.sql')}"],
         "users_out"),
        ("pg", "rowflow-1", "rowflow run (transform in flight), 1 writer",
         lambda: psql("-f", os.path.join(SQL, "pg_out_table.sql")), rowflow_cmd(csv_path, PG_URL, 1), "users_out"),
        ("pg", "rowflow-2", "rowflow run (transform in flight), 2 writers",
         lambda: psql("-f", os.path.join(SQL, "pg_out_table.sql")), rowflow_cmd(csv_path, PG_URL, 2), "users_out"),
        ("pg", "copy-logged-pk", "like for like: psql \\copy raw → logged table with PRIMARY KEY (id)",
         lambda: psql("-v", "kind=", "-f", os.path.join(SQL, "pg_raw.sql"),
                      "-c", "ALTER TABLE users_raw ADD PRIMARY KEY (id)"),
         [psql_bin, "-X", "-q", "-c", f"\\copy users_raw FROM '{csv_path}' {copy_opts}"], None),
        ("pg", "rowflow-2-nopk", "like for like: rowflow, 2 writers, into users_out without its primary key",
         lambda: psql("-f", os.path.join(SQL, "pg_out_table.sql"),
                      "-c", "ALTER TABLE users_out DROP CONSTRAINT users_out_pkey"),
         rowflow_cmd(csv_path, PG_URL, 2), "users_out"),
        ("mysql", "load-data", "LOAD DATA LOCAL INFILE raw → table",
         lambda: mysql(os.path.join(SQL, "mysql_raw.sql"), True),
         [maria_bin, "--local-infile=1", "-h", MY["host"], "-u", MY["user"], MY["db"], "-e", load_data], None),
        ("mysql", "load-data-pk", "like for like: LOAD DATA LOCAL INFILE raw → table with PRIMARY KEY (id)",
         lambda: (mysql(os.path.join(SQL, "mysql_raw.sql"), True),
                  mysql("ALTER TABLE users_raw ADD PRIMARY KEY (id)")),
         [maria_bin, "--local-infile=1", "-h", MY["host"], "-u", MY["user"], MY["db"], "-e", load_data], None),
        ("mysql", "rowflow-1", "rowflow run (transform in flight), 1 writer",
         lambda: mysql(os.path.join(SQL, "mysql_out_table.sql"), True), rowflow_cmd(csv_path, MY_URL, 1), "users_out"),
        ("mysql", "rowflow-2", "rowflow run (transform in flight), 2 writers",
         lambda: mysql(os.path.join(SQL, "mysql_out_table.sql"), True), rowflow_cmd(csv_path, MY_URL, 2), "users_out"),
    ]


def main():
    rows = int(os.environ.get("ROWS", "1000000"))
    repeat = int(os.environ.get("REPEAT", "3"))
    only = os.environ.get("ONLY", "pg,mysql").split(",")
    os.makedirs(WORK, exist_ok=True)
    csv_path = os.path.join(WORK, f"users_{rows}.csv")
    if not os.path.exists(csv_path):
        print(f"generating {rows} rows ...", flush=True)
        subprocess.run([BIN, "generate", "users", "--rows", str(rows), "--out", csv_path], check=True)
    size_mb = os.path.getsize(csv_path) / 1e6
    print(f"input: {csv_path} ({size_mb:.0f} MB)", flush=True)
    exp = checksums("expected", csv_path)
    cons = [c for c in contenders(csv_path) if c[0] in only]
    results = {(c[0], c[1]): [] for c in cons}
    for i in range(repeat):
        for db, key, _label, setup, cmd, out_table in cons:
            setup()
            # Start from a clean WAL/checkpoint state so no run pays for the previous one.
            if db == "pg":
                psql("-c", "CHECKPOINT")
            server_cpu = pg_server_cpu if db == "pg" else my_server_cpu
            before = server_cpu()
            m = run_timed(cmd)
            after = server_cpu()
            m["server_cpu"] = (after - before) if before is not None and after is not None else None
            if out_table:
                got = checksums("pg" if db == "pg" else "mysql", out_table)
                m["ok"] = got == exp
                if not m["ok"]:
                    diff = {k: (exp[k], got.get(k)) for k in exp if exp[k] != got.get(k)}
                    print(f"  {db} {key}: CHECKSUM MISMATCH {diff}", flush=True)
            else:
                m["ok"] = None
            print(f"  run {i + 1} {db} {key}: {m['wall']:.2f} s wall, {m['cpu']:.2f} s client cpu, "
                  f"{m['server_cpu'] or 0:.2f} s server cpu, {m['rss_mb']:.0f} MB", flush=True)
            results[(db, key)].append(m)

    def med(k, f):
        vals = [r[f] for r in results[k] if r[f] is not None]
        return statistics.median(vals) if vals else float("nan")

    lines = [f"# Server benchmark, {rows:,} rows ({size_mb:.0f} MB)\n",
             f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
             f"- machine: {socket.gethostname()}, {os.cpu_count()} cores, {platform.platform()}",
             f"- median of {repeat} alternating runs; every users_out checked against checksums from the CSV",
             "- client and server on the same 2-core machine (they share the cores)\n"]
    for db, base_key, title in (("pg", "copy-logged", "PostgreSQL"), ("mysql", "load-data", "MariaDB")):
        keys = [(d, k) for (d, k) in results if d == db]
        if not keys:
            continue
        base = med((db, base_key), "wall")
        lines.append(f"## {title}\n")
        lines.append(f"| contender | wall s | client cpu s | server cpu s | client peak RSS MB | speed vs {base_key} | checksums |")
        lines.append("|---|---:|---:|---:|---:|---:|---|")
        for (d, k) in keys:
            label = next(c[2] for c in cons if c[0] == d and c[1] == k)
            ok = {None: "(raw load)", True: "ok", False: "FAIL"}
            oks = {r["ok"] for r in results[(d, k)]}
            okv = ok[None] if oks == {None} else ok[all(r["ok"] for r in results[(d, k)])]
            lines.append(f"| {k}: {label} | {med((d, k), 'wall'):.2f} | {med((d, k), 'cpu'):.2f} | "
                         f"{med((d, k), 'server_cpu'):.2f} | {max(r['rss_mb'] for r in results[(d, k)]):.0f} | "
                         f"{base / med((d, k), 'wall'):.2f}x | {okv} |")
        lines.append("")
        if db == "pg" and ("pg", "elt") in results:
            elt = med(("pg", "elt"), "wall")
            best = min(med(("pg", "rowflow-1"), "wall"), med(("pg", "rowflow-2"), "wall"))
            lines.append(f"rowflow (best of 1 and 2 writers) vs psql \\copy raw into a logged table: "
                         f"{base / best:.2f}x (goal ≥ 1); vs staging + INSERT…SELECT: {elt / best:.2f}x (goal ≥ 2)\n")
            if ("pg", "copy-logged-pk") in results and ("pg", "rowflow-2-nopk") in results:
                lines.append(
                    "Like for like: both without an index, rowflow-2-nopk vs copy-logged: "
                    f"{base / med(('pg', 'rowflow-2-nopk'), 'wall'):.2f}x; both with the primary key, "
                    f"rowflow-2 vs copy-logged-pk: "
                    f"{med(('pg', 'copy-logged-pk'), 'wall') / med(('pg', 'rowflow-2'), 'wall'):.2f}x\n")
        if db == "mysql" and ("mysql", "load-data-pk") in results:
            best = min(med(("mysql", "rowflow-1"), "wall"), med(("mysql", "rowflow-2"), "wall"))
            lines.append(
                "Like for like: both with the primary key, rowflow (best of 1 and 2 writers) vs "
                f"load-data-pk: {med(('mysql', 'load-data-pk'), 'wall') / best:.2f}x\n")
    text = "\n".join(lines)
    if any(r["ok"] is False for rs in results.values() for r in rs):
        print()
        print(text)
        sys.exit("checksum mismatch: results not written")
    write_report(text, f"servers-{rows}", True)


if __name__ == "__main__":
    main()
