#!/usr/bin/env python3
"""HTTP enrichment benchmark: rowflow's http stage vs Python asyncio + aiohttp.

In one run, against the in-repo mock API (examples/mock_api.rs) answering after
LATENCY_MS (default 20) ms, on ROWS (default 100,000) rows, each contender sending one
GET per row and using the JSON answer:

  python-gather      the tutorial version: a task per row, asyncio.gather (aiohttp's
                     default connector: at most 100 connections)
  python-sem-N       the same with an asyncio.Semaphore(N) and a connector of N
  rowflow-N          rowflow run with an http stage of concurrency N, into SQLite

for N in 64, 256, 1024. Prints requests per second, the physical limit N / latency
(the rate N requests in flight allow), the percentage of it reached, the client's CPU
seconds (user+sys) and CPU per request, and peak RSS; a last run with a 0 ms server
measures the server's own ceiling on this machine, and a run with one request at a time
the latency the server really gives. SERVER_THREADS (default 1) sets the mock's threads.
Writes bench/results/. Not a test.
"""
import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import BIN, ROOT, WORK, run_timed, write_report  # noqa: E402

MOCK = os.path.join(ROOT, "target", "release", "examples", "mock_api")
PORT = int(os.environ.get("PORT", "18080"))

PY_CLIENT = r'''
import asyncio, csv, sys, aiohttp
mode, n, url, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
async def fetch(session, row, sem=None):
    async def go():
        async with session.get(url, params={"id": row[0]}) as r:
            return (await r.json())["score"]
    if sem is None:
        return await go()
    async with sem:
        return await go()
async def main():
    with open(path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    if mode == "gather":
        async with aiohttp.ClientSession() as session:
            scores = await asyncio.gather(*(asyncio.create_task(fetch(session, r)) for r in rows))
    else:
        sem = asyncio.Semaphore(n)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=n)) as session:
            scores = await asyncio.gather(*(asyncio.create_task(fetch(session, r, sem)) for r in rows))
    assert len(scores) == len(rows) and all(s is not None for s in scores)
asyncio.run(main())
'''


# The mock's threads. It stands in for a remote API but shares this machine's cores: with
# one thread its own queueing adds ~2 ms to every request from 10k req/s; with two, its
# threads take the client's core more often (the client's CPU per request rises).
SERVER_THREADS = int(os.environ.get("SERVER_THREADS", "1"))


def start_mock(latency_ms, threads=SERVER_THREADS):
    p = subprocess.Popen([MOCK, f"127.0.0.1:{PORT}", str(latency_ms), str(threads)],
                         stdout=subprocess.PIPE, text=True)
    p.stdout.readline()  # "listening on ..."
    return p


def pipeline(csv_path, n, db):
    toml = os.path.join(WORK, f"http_{n}.toml")
    with open(toml, "w") as f:
        f.write(f'''[source]
path = "{csv_path}"
[source.schema]
id = "int"
[[transform]]
type = "http"
url = "http://127.0.0.1:{PORT}/api?id={{id}}"
concurrency = {n}
timeout = 30
[transform.fields]
score = {{ pointer = "/score", type = "int" }}
[sink]
url = "sqlite://{db}"
table = "scores"
mode = "replace"
''')
    return toml


def p50_ms(m):
    """rowflow's own p50 request latency (from its --json summary)."""
    return json.loads(m["stdout"])["http"][0]["latency_ms"]["p50"]


def main():
    rows = int(os.environ.get("ROWS", "100000"))
    latency = int(os.environ.get("LATENCY_MS", "20"))
    ns = [int(x) for x in os.environ.get("NS", "64,256,1024").split(",")]
    repeat = int(os.environ.get("REPEAT", "1"))
    os.makedirs(WORK, exist_ok=True)
    csv_path = os.path.join(WORK, f"ids_{rows}.csv")
    with open(csv_path, "w") as f:
        f.write("id\n")
        f.writelines(f"{i}\n" for i in range(1, rows + 1))
    py = os.path.join(WORK, "aiohttp_client.py")
    with open(py, "w") as f:
        f.write(PY_CLIENT)
    db = os.path.join(WORK, "http.db")
    url = f"http://127.0.0.1:{PORT}/api"
    contenders = [("python-gather", 100, [sys.executable, py, "gather", "0", url, csv_path])]
    for n in ns:
        contenders.append((f"python-sem-{n}", n, [sys.executable, py, "sem", str(n), url, csv_path]))
        contenders.append((f"rowflow-{n}", n, [BIN, "run", pipeline(csv_path, n, db), "--restart", "--json", "--quiet"]))
    results = {}
    for i in range(repeat):
        for name, n, cmd in contenders:
            mock = start_mock(latency)
            try:
                m = run_timed(cmd)
            finally:
                mock.kill()
                mock.wait()
            m["n"] = n
            print(f"  run {i + 1} {name}: {rows / m['wall']:,.0f} req/s, {m['cpu']:.2f} s cpu, "
                  f"{m['rss_mb']:.0f} MB", flush=True)
            results.setdefault(name, []).append(m)
    # The server's own ceiling: no latency, rowflow at the highest concurrency.
    mock = start_mock(0)
    try:
        ceiling = run_timed([BIN, "run", pipeline(csv_path, max(ns), db), "--restart", "--json", "--quiet"])
    finally:
        mock.kill()
        mock.wait()
    ceiling_rps = rows / ceiling["wall"]
    print(f"  server ceiling (0 ms latency, rowflow-{max(ns)}): {ceiling_rps:,.0f} req/s", flush=True)
    # The latency the server really gives (its timer rounds the 20 ms up), one request
    # at a time: rowflow's own p50 over 1,000 rows.
    probe_csv = os.path.join(WORK, "ids_probe.csv")
    with open(probe_csv, "w") as f:
        f.write("id\n")
        f.writelines(f"{i}\n" for i in range(1, 1001))
    mock = start_mock(latency)
    try:
        probe = run_timed([BIN, "run", pipeline(probe_csv, 1, db), "--restart", "--json", "--quiet"])
    finally:
        mock.kill()
        mock.wait()
    floor_ms = p50_ms(probe)
    print(f"  server latency, one request at a time: p50 {floor_ms:.2f} ms", flush=True)

    def med(name, k):
        return statistics.median(r[k] for r in results[name])

    py_sem = {n: med(f"python-sem-{n}", "cpu") / rows for n in ns}
    lines = [f"# HTTP enrichment benchmark, {rows:,} rows, {latency} ms server latency\n",
             f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
             f"- machine: {socket.gethostname()}, {os.cpu_count()} cores, {platform.platform()}",
             f"- median of {repeat} runs; the mock server (examples/mock_api.rs, {SERVER_THREADS} threads) "
             f"shares the {os.cpu_count()} cores",
             f"- the server's own ceiling here (0 ms latency, {max(ns)} in flight): {ceiling_rps:,.0f} req/s",
             f"- the server's real latency, one request at a time (rowflow's p50): {floor_ms:.2f} ms; "
             "held in flight = req/s × rowflow's p50 latency / N (how full rowflow kept its N slots)\n",
             "| contender | in flight | req/s | physical limit (N / latency) | % of limit | % of min(limit, ceiling) "
             "| client CPU s | CPU ms per request | vs Python semaphore (same N), CPU per request | peak RSS MB "
             "| rowflow p50 ms | held in flight |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, n, _ in contenders:
        wall = med(name, "wall")
        rps = rows / wall
        limit = n / (latency / 1000)
        reach = min(limit, ceiling_rps)
        cpu = med(name, "cpu")
        per = cpu / rows
        vs = p50 = held = ""
        if name.startswith("rowflow-"):
            vs = f"{per / py_sem[n]:.2f}x"
            lat = statistics.median(p50_ms(r) for r in results[name])
            p50 = f"{lat:.2f}"
            held = f"{100 * rps * lat / 1000 / n:.0f}%"
        lines.append(f"| {name} | {n} | {rps:,.0f} | {limit:,.0f} | {100 * rps / limit:.0f}% | "
                     f"{100 * rps / reach:.0f}% | {cpu:.2f} | {1000 * per:.3f} | {vs} | "
                     f"{max(r['rss_mb'] for r in results[name]):.0f} | {p50} | {held} |")
    lines.append("")
    lines.append("Goal: rowflow reaches ≥ 90% of min(physical limit, server ceiling) and uses ≤ 1/5 "
                 "(aim 1/10) of Python's CPU per request.")
    suffix = "" if SERVER_THREADS == 1 else f"-server-{SERVER_THREADS}-threads"
    write_report("\n".join(lines), f"http-{rows}{suffix}", True)


if __name__ == "__main__":
    main()
