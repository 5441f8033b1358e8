#!/usr/bin/env python3
"""Remote-input benchmark: the standard workload read from a local S3-compatible server
against the same file read from disk, same pipeline, same run, into SQLite.

Starts `moto_server` (pip install 'moto[server]') on a free loopback port unless
S3_ENDPOINT names one, uploads the generated CSV (ROWS, default 1,000,000), then
alternates REPEAT times (default 3): rowflow from the local file, rowflow from
s3://bench/users.csv. Also times the server's raw GET of the object (a plain HTTP
client reading it to nowhere), which bounds what any reader can get from it. Checks
every result against the checksums computed from the CSV; prints a table and writes it
to bench/results/. Not a test: ratios in one run are what matter.
"""
import datetime as dt
import os
import platform
import socket
import statistics
import subprocess
import sys
import time

# bench/http.py would shadow the standard library's http package that boto3 needs.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
import http.client  # noqa: E402,F401  (the standard library's, cached before bench/ is on the path)

sys.path.insert(0, _HERE)
from bench import BIN, ROOT, WORK, checksums, run_timed, write_report  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    rows = int(os.environ.get("ROWS", "1000000"))
    repeat = int(os.environ.get("REPEAT", "3"))
    os.makedirs(WORK, exist_ok=True)
    csv_path = os.path.join(WORK, f"users_{rows}.csv")
    if not os.path.exists(csv_path):
        subprocess.run([BIN, "generate", "users", "--rows", str(rows), "--out", csv_path], check=True)
    size = os.path.getsize(csv_path)
    exp = checksums("expected", csv_path)

    server = None
    endpoint = os.environ.get("S3_ENDPOINT")
    if not endpoint:
        port = free_port()
        server = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        endpoint = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.2)
    try:
        import boto3  # installed with moto[server]
        s3c = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench",
                           aws_secret_access_key="bench", region_name="us-east-1")
        s3c.create_bucket(Bucket="bench")
        s3c.upload_file(csv_path, "bench", "users.csv")  # multipart, as large exports are
        env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                   AWS_ENDPOINT_URL=endpoint)
        os.environ.update(env)

        pipeline = os.path.join(ROOT, "examples/users/pipeline.toml")
        results = {"local": [], "s3": [], "raw-get": []}
        for i in range(repeat):
            # The server's own speed: a plain GET of the whole object, read to nowhere.
            t0 = time.perf_counter()
            body = s3c.get_object(Bucket="bench", Key="users.csv")["Body"]
            n = 0
            while chunk := body.read(1 << 20):
                n += len(chunk)
            results["raw-get"].append({"wall": time.perf_counter() - t0, "bytes": n})
            for name, source in (("local", csv_path), ("s3", "s3://bench/users.csv")):
                db = os.path.join(WORK, f"remote_{name}.db")
                for suffix in ("", "-wal", "-shm", "-journal", ".rowflow-lock"):
                    if os.path.exists(db + suffix):
                        os.remove(db + suffix)
                m = run_timed([BIN, "run", pipeline, "--set", f"source.path={source}",
                               "--set", f"sink.url=sqlite://{db}", "--json", "--quiet"])
                m["ok"] = checksums("sqlite", db, "users_out") == exp
                print(f"  run {i + 1} {name}: {m['wall']:.2f} s wall, {m['cpu']:.2f} s cpu, "
                      f"{m['rss_mb']:.0f} MB, checksums {'ok' if m['ok'] else 'FAIL'}", flush=True)
                results[name].append(m)
    finally:
        if server:
            server.terminate()

    def med(name, key):
        return statistics.median(r[key] for r in results[name])

    local, s3 = med("local", "wall"), med("s3", "wall")
    raw = med("raw-get", "wall")
    lines = [f"# Remote-input benchmark, {rows:,} rows ({size / 1e6:.0f} MB)\n",
             f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
             f"- machine: {socket.gethostname()}, {os.cpu_count()} cores, {platform.platform()}",
             f"- server: {'moto_server on loopback' if server else endpoint}; "
             f"median of {repeat} alternating runs; checksums verified every run\n",
             "| contender | wall s | cpu s | peak RSS MB | MB/s of input | vs local | checksums |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for name, label in (("local", "rowflow run, local file (baseline)"),
                        ("s3", "rowflow run, s3://bench/users.csv")):
        w = med(name, "wall")
        lines.append(f"| {label} | {w:.2f} | {med(name, 'cpu'):.2f} | "
                     f"{max(r['rss_mb'] for r in results[name]):.0f} | {size / 1e6 / w:.0f} | "
                     f"{local / w:.2f}x | {'ok' if all(r['ok'] for r in results[name]) else 'FAIL'} |")
    lines.append(f"| the server's raw GET of the object (no rowflow) | {raw:.2f} | | | "
                 f"{size / 1e6 / raw:.0f} | | |")
    lines.append("")
    lines.append(f"remote throughput: {local / s3:.0%} of local (goal ≥ 80%, the server's own "
                 f"speed permitting: its raw GET takes {raw / local:.0%} of the local load's time); "
                 f"peak RSS {max(r['rss_mb'] for r in results['s3']):.0f} MB vs "
                 f"{max(r['rss_mb'] for r in results['local']):.0f} MB local (goal: ≤ local + 50 MB)")
    write_report("\n".join(lines), f"remote-{rows}", True)


if __name__ == "__main__":
    main()
