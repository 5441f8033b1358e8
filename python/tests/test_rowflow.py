"""The Python package against real databases and real processes (SIGINT, SIGKILL)."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import rowflow
from conftest import Server, sqlite_query, write_csv


def test_load_accounts_for_every_row_on_every_database(tmp_path, target):
    url, query, table = target
    csv = write_csv(tmp_path / "in.csv", 500, bad_lines={7, 300})
    reject = tmp_path / "rejects.csv"
    r = rowflow.load(
        csv, into=url, table=table, key=["id"], types={"amount": "int"}, reject=reject
    )
    assert r.status == "completed"
    assert (r.rows_read, r.rows_written, r.rows_rejected) == (500, 498, 2)
    assert r.exit_code == 1 and not r.ok
    assert r.rows_read == r.rows_written + r.rows_filtered + r.rows_rejected
    assert query(f"SELECT count(*), sum(amount) FROM {table}")[0][0] == 498
    # Each reject with its line (header is line 1: data row 7 is line 8) and reason.
    text = reject.read_text()
    assert "8" in text and "301" in text and "oops" in text, text
    assert r.reject_file and os.path.samefile(r.reject_file, reject)
    # The same load again has nothing to do, and says so.
    again = rowflow.load(
        csv, into=url, table=table, key=["id"], types={"amount": "int"}, reject=reject
    )
    assert again.status == "skipped" and again.rows_written == 0, again.to_dict()
    assert query(f"SELECT count(*) FROM {table}")[0][0] == 498


def test_pipeline_computes_filters_and_selects(tmp_path, target):
    url, query, table = target
    csv = write_csv(tmp_path / "in.csv", 100)
    r = (
        rowflow.Pipeline(csv, url, table=table, key=["id"])
        .compute("twice", "amount * 2")
        .compute("label", "upper(name)")
        .filter("id % 2 = 0")
        .select("id", "twice", "label")
        .run()
    )
    assert (r.rows_written, r.rows_filtered, r.exit_code) == (50, 50, 0)
    rows = query(f"SELECT id, twice, label FROM {table} ORDER BY id")
    assert len(rows) == 50
    assert tuple(rows[0]) == (2, 12, "NAME 2")
    assert tuple(rows[-1]) == (100, 600, "NAME 100")


def test_run_reads_a_pipeline_file_with_overrides(tmp_path):
    write_csv(tmp_path / "a.csv", 10)
    write_csv(tmp_path / "b.csv", 20)
    (tmp_path / "p.toml").write_text(
        textwrap.dedent(
            """
            [source]
            path = "a.csv"
            [[transform]]
            type = "compute"
            columns = { total = "amount + id" }
            [sink]
            url = "sqlite://out.db"
            table = "t"
            """
        )
    )
    r = rowflow.run(tmp_path / "p.toml")
    assert r.rows_written == 10
    # An override's path is relative to the current directory, as with --set.
    r = rowflow.run(
        tmp_path / "p.toml",
        set={"source.path": str(tmp_path / "b.csv"), "sink.table": "t2"},
    )
    assert r.rows_written == 20 and r.table == "t2"
    db = str(tmp_path / "out.db")
    assert sqlite_query(db, "SELECT count(*), sum(total) FROM t2")[0] == (20, sum(4 * i for i in range(1, 21)))


def test_settings_given_as_values_are_not_expanded_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ROWFLOW_PY_SECRET", "s3cr3t")
    csv = write_csv(tmp_path / "in.csv", 3)
    db = str(tmp_path / "x.db")
    compute = {"a": "'${ROWFLOW_PY_SECRET}'", "b": "'${NOT_SET_ANYWHERE}'"}
    # `load`'s settings and a Pipeline's stages: text, as given.
    r = rowflow.load(csv, into=f"sqlite://{db}", table="t", compute=compute)
    assert r.rows_written == 3
    p = rowflow.Pipeline(csv, f"sqlite://{db}", table="u")
    for name, expr in compute.items():
        p.compute(name, expr)
    assert p.run().rows_written == 3
    want = [("${ROWFLOW_PY_SECRET}", "${NOT_SET_ANYWHERE}")]
    assert sqlite_query(db, "SELECT DISTINCT a, b FROM t") == want
    assert sqlite_query(db, "SELECT DISTINCT a, b FROM u") == want


def test_bad_settings_name_the_setting(tmp_path):
    csv = write_csv(tmp_path / "in.csv", 3)
    with pytest.raises(rowflow.Error) as e:
        rowflow.Pipeline(csv, {"url": f"sqlite://{tmp_path}/x.db", "tabel": "x"}).run()
    assert "tabel" in str(e.value)
    with pytest.raises(rowflow.Error) as e:
        rowflow.Pipeline(csv, f"sqlite://{tmp_path}/x.db").compute("y", "amount +* 2").run()
    assert 'column "y"' in str(e.value) and "amount +* 2" in str(e.value), str(e.value)
    with pytest.raises(rowflow.Error) as e:
        rowflow.load(str(tmp_path / "missing.csv"), into=f"sqlite://{tmp_path}/x.db")
    assert "missing.csv" in str(e.value)


def test_a_failed_run_raises_with_its_report(tmp_path):
    csv = write_csv(tmp_path / "in.csv", 50, bad_lines={20})
    url = f"sqlite://{tmp_path}/x.db"
    with pytest.raises(rowflow.RunFailed) as e:
        rowflow.load(csv, into=url, types={"amount": "int"}, set={"errors.on_error": "fail"})
    rep = e.value.report
    assert rep.status == "failed" and rep.exit_code == 2
    assert "in.csv line 21" in rep.error and 'column "amount"' in rep.error, rep.error
    assert str(e.value) == rep.error
    # check=False returns it instead.
    rep = rowflow.load(
        csv, into=url, types={"amount": "int"}, set={"errors.on_error": "fail"}, check=False
    )
    assert rep.status == "failed"


def test_passwords_stay_out_of_reports_and_errors(tmp_path):
    server = Server("postgres")
    secret = "s3cr3t-pw-xyz"
    import urllib.parse

    u = urllib.parse.urlparse(server.url)
    with_pw = server.url.replace(f"//{u.username}@", f"//{u.username}:{secret}@", 1)
    assert secret in with_pw
    csv = write_csv(tmp_path / "in.csv", 5)
    server.drop("rf_py_secret")
    try:
        r = rowflow.load(csv, into=with_pw, table="rf_py_secret")
    except rowflow.Error as e:  # a server that checks passwords refuses this one
        assert secret not in str(e)
    else:
        assert r.rows_written == 5
        for text in (repr(r), str(r), json.dumps(r.to_dict()), r.target):
            assert secret not in text
    finally:
        server.drop("rf_py_secret")
    # A server that is not there: the error names it, without the password.
    with pytest.raises(rowflow.Error) as e:
        rowflow.load(csv, into=f"postgres://me:{secret}@127.0.0.1:1/db", table="t")
    assert secret not in str(e.value) and "127.0.0.1" in str(e.value)


def test_progress_is_reported_to_a_callback(tmp_path):
    csv = write_csv(tmp_path / "in.csv", 200_000)
    seen = []
    r = rowflow.load(csv, into=f"sqlite://{tmp_path}/x.db", progress=seen.append)
    assert r.rows_written == 200_000
    assert seen, "no progress reported"
    assert all(set(s) >= {"rows_read", "rows_written", "elapsed_s", "bytes_total"} for s in seen)
    assert seen[-1]["bytes_total"] == os.path.getsize(csv)


def test_the_gil_is_released_while_a_load_runs(tmp_path):
    csv = write_csv(tmp_path / "in.csv", 300_000)
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.001)

    t = threading.Thread(target=tick)
    t.start()
    t0 = time.monotonic()
    try:
        r = rowflow.load(csv, into=f"sqlite://{tmp_path}/x.db")
    finally:
        t1 = time.monotonic()
        done.set()
        t.join()
    assert r.rows_written == 300_000
    during = [x for x in ticks if t0 < x < t1]
    # The other thread ran throughout: at least one tick in every tenth of the load.
    assert t1 - t0 > 0.2, "the load was too quick to tell"
    slices = {int((x - t0) / (t1 - t0) * 10) for x in during}
    assert slices >= set(range(10)), (len(during), sorted(slices))


def test_run_async_leaves_the_event_loop_free(tmp_path):
    csv = write_csv(tmp_path / "in.csv", 100_000)

    async def main():
        beats = 0

        async def heartbeat():
            nonlocal beats
            while True:
                beats += 1
                await asyncio.sleep(0.005)

        hb = asyncio.create_task(heartbeat())
        r = await rowflow.Pipeline(csv, f"sqlite://{tmp_path}/x.db").run_async()
        hb.cancel()
        return r, beats

    r, beats = asyncio.run(main())
    assert r.rows_written == 100_000
    assert beats > 3


CHILD = """
import asyncio, json, sys
import rowflow

def progress(s):
    print("PROGRESS", s["rows_written"], flush=True)

async def touch(row):
    await asyncio.sleep(0)
    return {{"name": row["name"] + "!"}}

def pipeline():
    sink = {{"url": {url!r}, "table": "t", "key": ["id"], "commit_rows": 2000}}
    return rowflow.Pipeline({csv!r}, sink).map_async(touch, concurrency=16)

if __name__ == "__main__":
    try:
        r = pipeline().run(progress=progress)
        print("REPORT", json.dumps(r.to_dict()), flush=True)
    except KeyboardInterrupt as e:
        print("INTERRUPTED", json.dumps(e.report.to_dict()), flush=True)
        sys.exit(130)
"""


def _start_child(tmp_path, csv, url):
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(csv=csv, url=url))
    return subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )


def _wait_for_commits(proc, rows=4000, timeout=120):
    """Read the child's progress lines until it has committed `rows`."""
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        if line.startswith("PROGRESS") and int(line.split()[1]) >= rows:
            return
        assert time.monotonic() < deadline, "the child committed nothing in time"
    pytest.fail("the child ended before committing anything")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl_c", "kill_9"])
def test_an_interrupted_or_killed_load_resumes_exactly_once(tmp_path, sig):
    n = 200_000
    csv = write_csv(tmp_path / "in.csv", n)
    db = str(tmp_path / "x.db")
    url = f"sqlite://{db}"
    proc = _start_child(tmp_path, csv, url)
    try:
        _wait_for_commits(proc)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGINT:
        assert proc.returncode == 130, out
        line = next(x for x in out.splitlines() if x.startswith("INTERRUPTED"))
        rep = json.loads(line.split(" ", 1)[1])
        assert rep["status"] == "interrupted" and rep["rows_written"] > 0
        committed = rep["rows_written"]
        assert sqlite_query(db, "SELECT count(*) FROM t")[0][0] == committed
    else:
        assert proc.returncode == -signal.SIGKILL
        committed = sqlite_query(db, "SELECT count(*) FROM t")[0][0]
        assert committed > 0
    assert committed < n, "the load finished before it was stopped"
    # Resumed (the same pipeline, its Python stage included): every row exactly once.
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"child_{sig.name}", tmp_path / "child.py")
    child = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(child)
    r = child.pipeline().run()
    assert r.already_committed == committed, r.to_dict()
    assert r.already_committed + r.rows_written == n
    assert sqlite_query(db, "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM t")[0] == (n, n, 1, n)
    assert sqlite_query(db, "SELECT count(*) FROM t WHERE name LIKE '%!'")[0][0] == n


PROGRESS_CHILD = """
import rowflow
rowflow.load({csv!r}, into={url!r}, table="t")
"""


def test_a_terminal_gets_a_progress_line_and_a_pipe_gets_nothing(tmp_path):
    import pty

    csv = write_csv(tmp_path / "in.csv", 300_000)
    script = tmp_path / "p.py"
    script.write_text(PROGRESS_CHILD.format(csv=csv, url=f"sqlite://{tmp_path}/x.db"))
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, str(script)], stderr=slave, cwd=tmp_path)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=120) == 0
    text = out.decode()
    assert "completed: 300,000 rows read, 300,000 written" in text, text[-500:]
    assert "rows/s" in text, "no progress line before the summary"
    assert text.endswith("\r\n") or text.endswith("\n"), repr(text[-80:])
    # Not a terminal: silent.
    script.write_text(PROGRESS_CHILD.format(csv=csv, url=f"sqlite://{tmp_path}/y.db"))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0 and done.stderr == b"", done.stderr


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch):
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    section = readme[readme.index("## From Python") :]
    code = section[section.index("```python\n") + 10 :]
    code = code[: code.index("```")]
    assert "async def process_row" in code and len(code.strip().splitlines()) <= 12
    (tmp_path / "users.csv").write_text(
        "id,email\n1, Ann@Example.COM\n2,bob@test.org\n3,no-at-sign\n"
    )
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    rows = sqlite_query(str(tmp_path / "users.db"), "SELECT id, email, email_domain FROM users ORDER BY id")
    assert rows == [(1, "ann@example.com", "example.com"), (2, "bob@test.org", "test.org")]
    # The row without a domain raised IndexError: rejected with its line, not lost.
    rejects = (tmp_path / "users.rejects.csv").read_text()
    assert "no-at-sign" in rejects and "IndexError" in rejects


def test_run_and_run_async_on_every_database(tmp_path, target):
    url, query, table = target
    csv = write_csv(tmp_path / "in.csv", 300)
    (tmp_path / "p.toml").write_text(
        f'[source]\npath = "in.csv"\n[sink]\nurl = "{url}"\ntable = "{table}"\nkey = ["id"]\n'
    )
    r = rowflow.run(tmp_path / "p.toml", set={"source.path": csv}, limit=100)
    assert (r.status, r.rows_written) == ("limited", 100)

    async def main():
        async def plus(row):
            return {"amount": row["amount"] + 1}

        p = rowflow.Pipeline(csv, url, table=table, key=["id"]).map_async(plus)
        return await p.run_async()

    # Another load (a Python stage): its own checkpoint; `append` adds its rows to the
    # table, and the key refuses the 100 already there (rejected, named).
    r = asyncio.run(main())
    assert (r.rows_written, r.rows_rejected) == (200, 100), r.to_dict()
    assert query(f"SELECT count(*) FROM {table}")[0][0] == 300


def test_check_says_what_a_run_would_do_and_writes_nothing(tmp_path):
    csv = write_csv(tmp_path / "in.csv", 50)
    db = tmp_path / "x.db"
    c = rowflow.check_load(csv, into=f"sqlite://{db}", table="t", key=["id"],
                           compute={"twice": "amount * 2"})
    assert c["ok"] and c["name"] is None
    assert c["columns"] == [("id", "int"), ("name", "text"), ("amount", "int")]
    assert ("twice", "int") in c["stages"][-1]["columns"]
    assert c["run"]["would"] == "load" and c["run"]["inputs"] == [csv]
    assert c["table"] == "does not exist; it will be created"
    assert 'table "t"' in c["sink"] and "key id" in c["sink"]
    assert not db.exists() or sqlite_query(str(db), "SELECT count(*) FROM sqlite_master WHERE name = 't'")[0][0] == 0
    # After the load: a run would do nothing, and says why.
    rowflow.load(csv, into=f"sqlite://{db}", table="t", key=["id"], compute={"twice": "amount * 2"})
    c = rowflow.check_load(csv, into=f"sqlite://{db}", table="t", key=["id"],
                           compute={"twice": "amount * 2"})
    assert c["run"]["would"] == "skip" and c["run"]["reason"], c["run"]
    assert c["table"] == "exists and is compatible"
    # A Python stage is planned too (its declared column is in the output).
    async def f(row):
        return row

    c = rowflow.Pipeline(csv, f"sqlite://{tmp_path}/y.db", table="t").map_async(
        f, columns={"extra": "float"}
    ).check()
    assert c["ok"] and ("extra", "float") in c["stages"][-1]["columns"]
    # A misspelt argument is an error, not ignored.
    with pytest.raises(TypeError, match="tabel"):
        rowflow.check_load(csv, into=f"sqlite://{db}", tabel="t")
    # A table that cannot take the rows: not ok, and why.
    sqlite_query(str(tmp_path / "z.db"), "CREATE TABLE t (id INTEGER, other TEXT NOT NULL)")
    c = rowflow.check_load(csv, into=f"sqlite://{tmp_path}/z.db", table="t")
    assert not c["ok"] and c["table"] is None and "name" in c["table_error"], c


def test_preview_load_needs_no_destination(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    csv = write_csv(tmp_path / "in.csv", 50, bad_lines={3})
    pv = rowflow.preview_load(csv, rows=5, types={"amount": "int"}, where="id > 1")
    assert (pv.read, pv.filtered, len(pv.rows), len(pv.rejected)) == (5, 1, 3, 1)
    assert pv.rows[0]["id"] == 2 and pv.rejected[0][0] == 4
    assert not (tmp_path / "preview.db").exists()
