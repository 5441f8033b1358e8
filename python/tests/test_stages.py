"""Python functions as stages (`Pipeline.map_async`): the calls in flight, rejects,
filters, order, types, and an `async def` calling the project's mock API."""

import asyncio
import datetime as dt
import decimal
import os
import random
import subprocess
import threading
import time

import pytest
import csv as csvlib

import rowflow
from conftest import sqlite_query, write_csv


def _rejects(path):
    with open(path, newline="") as f:
        return list(csvlib.DictReader(f))


@pytest.fixture(scope="module")
def mock_api():
    """The project's mock API (examples/mock_api.rs, built by python/test.sh), 5 ms
    per answer: `GET /api?id=N` answers `{"id": N, "score": 2N, ...}`."""
    exe = os.environ.get("ROWFLOW_MOCK_API")
    if not exe or not os.path.exists(exe):
        pytest.fail("ROWFLOW_MOCK_API must name the mock API (python/test.sh builds it)")
    proc = subprocess.Popen([exe, "127.0.0.1:0", "5", "2"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on "), line
        yield "http://" + line.split()[2]
    finally:
        proc.kill()
        proc.wait()


def test_an_async_def_enriches_every_row_from_the_mock_api(tmp_path, target, mock_api):
    import aiohttp

    url, query, table = target
    csv = write_csv(tmp_path / "in.csv", 2000)
    session = {}
    in_flight = {"now": 0, "max": 0}

    async def score(row):
        # One session for the run, made on rowflow's event loop (where calls run).
        s = session.get("s") or session.setdefault("s", aiohttp.ClientSession())
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
        try:
            async with s.get(f"{mock_api}/api", params={"id": row["id"]}) as r:
                body = await r.json()
        finally:
            in_flight["now"] -= 1
        row["score"] = body["score"]
        return row

    r = (
        rowflow.Pipeline(csv, url, table=table, key=["id"])
        .map_async(score, concurrency=32, columns={"score": "int"})
        .run()
    )
    assert (r.rows_written, r.rows_rejected, r.exit_code) == (2000, 0, 0), r.to_dict()
    assert query(f"SELECT count(*) FROM {table} WHERE score = 2 * id")[0][0] == 2000
    # Never more than `concurrency` calls at once, and more than one.
    assert 1 < in_flight["max"] <= 32, in_flight


def test_exceptions_reject_none_filters_and_wrong_types_name_the_column(tmp_path):
    csv = write_csv(tmp_path / "in.csv", 100)
    db = str(tmp_path / "x.db")
    reject = tmp_path / "rejects.csv"

    async def f(row):
        i = row["id"]
        if i % 10 == 3:
            raise ValueError(f"no score for {i}")
        if i % 10 == 5:
            return None
        if i == 7:
            return {"score": "seven"}  # a str for an int column
        if i == 9:
            return {"nope": 1}  # a column the stage does not declare
        if i == 11:
            return [i]  # not a dict
        return {"score": i * 10}

    r = (
        rowflow.Pipeline(csv, f"sqlite://{db}", table="t", errors={"reject_file": str(reject)})
        .map_async(f, columns={"score": "int"})
        .run()
    )
    # 10 exceptions, 10 filtered, 3 bad returns.
    assert (r.rows_read, r.rows_written, r.rows_filtered, r.rows_rejected) == (100, 77, 10, 13)
    assert r.exit_code == 1
    rejects = {int(x["id"]): x for x in _rejects(reject)}
    assert len(rejects) == 13
    # Each with its line (the header is line 1) and the stage's name and reason.
    assert rejects[13]["_line"] == "14"
    assert rejects[13]["_error"] == "f: ValueError: no score for 13"
    assert 'column "score" is int but the function returned a str' in rejects[7]["_error"]
    assert '"nope"' in rejects[9]["_error"] and "columns=" in rejects[9]["_error"]
    assert "returned a list" in rejects[11]["_error"]
    assert sqlite_query(db, "SELECT count(*) FROM t WHERE score = id * 10")[0][0] == 77


def test_rows_keep_input_order_unless_told_otherwise(tmp_path):
    csv = write_csv(tmp_path / "in.csv", 300)

    async def jitter(row):
        await asyncio.sleep(random.random() * 0.01)
        return row

    for ordered in (True, False):
        db = str(tmp_path / f"o{ordered}.db")
        r = (
            rowflow.Pipeline(csv, f"sqlite://{db}", table="t", runtime={"batch_rows": 300})
            .map_async(jitter, concurrency=50, ordered=ordered)
            .run()
        )
        assert r.rows_written == 300
        ids = [x[0] for x in sqlite_query(db, "SELECT id FROM t ORDER BY rowid")]
        assert sorted(ids) == list(range(1, 301))
        if ordered:
            assert ids == list(range(1, 301))
        else:
            assert ids != list(range(1, 301)), "300 rows with random delays came out in order"


def test_plain_functions_run_on_a_thread_pool(tmp_path):
    csv = write_csv(tmp_path / "in.csv", 200)
    threads = set()
    main = threading.get_ident()

    def slow(row):
        threads.add(threading.get_ident())
        time.sleep(0.002)
        return {"name": row["name"].upper()}

    db = str(tmp_path / "x.db")
    r = rowflow.Pipeline(csv, f"sqlite://{db}", table="t").map_async(slow, concurrency=8).run()
    assert r.rows_written == 200
    assert main not in threads and 1 < len(threads) <= 8, len(threads)
    assert sqlite_query(db, "SELECT count(*) FROM t WHERE name = upper(name)")[0][0] == 200


TYPES = {
    "i": "int",
    "f": "float",
    "d": "decimal",
    "b": "bool",
    "day": "date",
    "ts": "timestamp",
    "s": "text",
}


def test_every_type_crosses_both_ways(tmp_path, target):
    url, query, table = target
    csv = tmp_path / "types.csv"
    csv.write_text(
        "i,f,d,b,day,ts,s\n"
        "7,2.5,12.34,true,2024-02-29,2024-03-01T12:30:00+02:00,héllo\n"
        ",,,,,,\n"
    )
    seen = []

    async def f(row):
        seen.append(dict(row))
        if row["i"] is None:
            return {"s2": None}
        assert type(row["i"]) is int and type(row["f"]) is float
        assert isinstance(row["d"], decimal.Decimal) and type(row["b"]) is bool
        assert type(row["day"]) is dt.date and isinstance(row["ts"], dt.datetime)
        return {
            "i": row["i"] + 1,
            "f": row["f"] * 2,
            "d": row["d"] + decimal.Decimal("0.01"),
            "b": not row["b"],
            "day": row["day"] + dt.timedelta(days=1),
            "ts": row["ts"] + dt.timedelta(hours=1),
            "s": row["s"] + "!",
            "s2": "new",
        }

    r = (
        rowflow.Pipeline(str(csv), url, table=table)
        .stage({"type": "cast", "columns": TYPES})
        .map_async(f, columns={"s2": "text"})
        .run()
    )
    assert (r.rows_written, r.rows_rejected) == (2, 0), r.to_dict()
    first, empty = seen
    assert first["d"] == decimal.Decimal("12.34") and first["s"] == "héllo"
    assert first["day"] == dt.date(2024, 2, 29)
    assert first["ts"] == dt.datetime(2024, 3, 1, 10, 30, tzinfo=dt.timezone.utc)
    assert first["ts"].utcoffset() == dt.timedelta(hours=2)
    assert all(v is None for v in empty.values())
    rows = query(f"SELECT i, f, d, s, s2 FROM {table} ORDER BY i")
    got = [tuple(x) for x in rows]
    non_null = [x for x in got if x[0] is not None][0]
    assert non_null[0] == 8 and non_null[1] == 5.0
    assert decimal.Decimal(str(non_null[2])) == decimal.Decimal("12.35")
    assert (non_null[3], non_null[4]) == ("héllo!", "new")
    assert sum(1 for x in got if x[0] is None and x[4] is None) == 1


def test_a_naive_datetime_or_a_bool_for_an_int_is_a_row_error(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("id,ts\n1,2024-01-01T00:00:00Z\n2,2024-01-01T00:00:00Z\n")
    reject = tmp_path / "rej.csv"

    async def f(row):
        if row["id"] == 1:
            return {"ts": dt.datetime(2024, 1, 2)}
        return {"id": True}

    r = (
        rowflow.Pipeline(str(csv), f"sqlite://{tmp_path}/x.db", table="t",
                         errors={"reject_file": str(reject)})
        .map_async(f)
        .run()
    )
    assert (r.rows_written, r.rows_rejected) == (0, 2)
    errors = {x["id"]: x["_error"] for x in _rejects(reject)}
    assert "naive datetime" in errors["1"] and '"ts"' in errors["1"]
    assert 'column "id" is int but the function returned a bool' in errors["2"]


def test_python_stages_and_sql_stages_run_in_the_order_written(tmp_path):
    csv = write_csv(tmp_path / "in.csv", 20)
    db = str(tmp_path / "x.db")

    async def add_bonus(row):
        # `double` exists already: computed by the stage before this one.
        return {"bonus": row["double"] + 1}

    r = (
        rowflow.Pipeline(csv, f"sqlite://{db}", table="t")
        .compute("double", "amount * 2")
        .map_async(add_bonus, columns={"bonus": "int"})
        .filter("bonus % 4 = 1")
        .select("id", "bonus")
        .run()
    )
    # amount = 3i, bonus = 6i + 1: bonus % 4 == 1 when i is even.
    assert (r.rows_written, r.rows_filtered) == (10, 10)
    assert sqlite_query(db, "SELECT sum(bonus) FROM t")[0][0] == sum(6 * i + 1 for i in range(2, 21, 2))


def test_map_batches_gathers_rows_and_retries_a_failed_batch_row_by_row(tmp_path):
    csv = write_csv(tmp_path / "in.csv", 1000)
    db = str(tmp_path / "x.db")
    reject = tmp_path / "rej.csv"
    sizes = []
    in_flight = {"now": 0, "max": 0}

    async def score(rows):
        sizes.append([r["id"] for r in rows])
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
        try:
            await asyncio.sleep(0.002)
            bad = [r["id"] for r in rows if r["id"] % 50 == 7]
            if bad:
                raise ValueError(f"bad {bad[0]}")
            return [{"score": r["id"] * 2} for r in rows]
        finally:
            in_flight["now"] -= 1

    r = (
        rowflow.Pipeline(csv, f"sqlite://{db}", table="t", errors={"reject_file": str(reject)})
        .map_batches(score, batch_size=100, concurrency=2, columns={"score": "int"})
        .run()
    )
    assert (r.rows_written, r.rows_rejected) == (980, 20), r.to_dict()
    errors = {int(x["id"]): x["_error"] for x in _rejects(reject)}
    assert errors == {i: f"score: ValueError: bad {i}" for i in range(7, 1001, 50)}
    assert sqlite_query(db, "SELECT count(*) FROM t WHERE score = id * 2")[0][0] == 980
    # Batches of up to 100 rows; the rows of each failed batch (and only those) again
    # one at a time; 2 calls at most at once.
    batches = [ids for ids in sizes if len(ids) > 1]
    assert max(len(ids) for ids in batches) == 100
    failed = {i for ids in batches if any(i % 50 == 7 for i in ids) for i in ids}
    singles = [ids[0] for ids in sizes if len(ids) == 1]
    assert set(singles) >= failed and len(singles) == len(set(singles))
    assert sum(len(ids) for ids in batches) + len(singles) - len(failed) == 1000
    assert in_flight["max"] <= 2


def test_map_batches_with_a_wrong_length_retries_row_by_row(tmp_path):
    csv = write_csv(tmp_path / "in.csv", 50)
    db = str(tmp_path / "x.db")
    calls = []

    def drop_last(rows):  # a plain function: on the thread pool
        calls.append(len(rows))
        out = [None if r["id"] == 10 else {} for r in rows]
        return out[:-1] if len(rows) > 1 else out

    r = rowflow.Pipeline(csv, f"sqlite://{db}", table="t").map_batches(drop_last, batch_size=25).run()
    assert (r.rows_written, r.rows_filtered, r.rows_rejected) == (49, 1, 0), r.to_dict()
    assert calls.count(1) == 50 and max(calls) > 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_hostile_settings_and_callbacks(tmp_path):
    csv = write_csv(tmp_path / "in.csv", 2000)

    async def same(row):
        return row

    # A huge concurrency is a bound, not an allocation.
    r = rowflow.Pipeline(csv, f"sqlite://{tmp_path}/a.db", table="t").map_async(
        same, concurrency=10**9
    ).run()
    assert r.rows_written == 2000
    # A progress callback that raises does not stop the load.
    def bad_progress(s):
        raise RuntimeError("progress display broke")

    r = rowflow.load(csv, into=f"sqlite://{tmp_path}/b.db", progress=bad_progress)
    assert r.rows_written == 2000
    # An undeclared type name is an error before anything is read.
    with pytest.raises(rowflow.Error) as e:
        rowflow.Pipeline(csv, f"sqlite://{tmp_path}/c.db").map_async(
            same, columns={"x": "money"}
        ).run()
    assert '"x"' in str(e.value) and "money" in str(e.value)
    with pytest.raises(TypeError):
        rowflow.Pipeline(csv, f"sqlite://{tmp_path}/c.db").map_async("not a function")


def test_two_runs_of_one_load_at_once_do_not_both_write(tmp_path):
    csv = write_csv(tmp_path / "in.csv", 100_000)
    url = f"sqlite://{tmp_path}/x.db"
    results, errors = [], []
    started = threading.Barrier(2)

    async def slow(row):
        if row["id"] % 10_000 == 0:
            await asyncio.sleep(0.05)
        return row

    def one():
        started.wait()
        try:
            results.append(rowflow.Pipeline(csv, url, table="t").map_async(slow).run())
        except rowflow.Error as e:
            errors.append(str(e))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # One loads; the other either found it running (an error naming the other run) or
    # found it complete (skipped). Never both writing.
    assert len(results) + len(errors) == 2
    written = sum(r.rows_written for r in results)
    assert written == 100_000, (results, errors)
    assert all("another" in e or "lock" in e for e in errors), errors
    assert sqlite_query(f"{tmp_path}/x.db", "SELECT count(*), count(DISTINCT id) FROM t")[0] == (100_000, 100_000)


def test_preview_runs_the_first_rows_through_every_stage_and_writes_nothing(tmp_path):
    csv = write_csv(tmp_path / "in.csv", 100, bad_lines={2})
    db = tmp_path / "never.db"

    async def label(row):
        if row["id"] == 4:
            raise KeyError("no label")
        return {"label": f"#{row['id']}"}

    pv = (
        rowflow.Pipeline(csv, f"sqlite://{db}", table="t")
        .stage({"type": "cast", "columns": {"amount": "int"}})
        .filter("id <> 3")
        .map_async(label, columns={"label": "text"})
        .preview(5)
    )
    assert pv.read == 5 and pv.filtered == 1
    assert pv.columns == ["id", "name", "amount", "label"]
    assert pv.types[-1] == "text"
    assert [r["id"] for r in pv.rows] == [1, 5]
    assert pv.rows[0] == {"id": 1, "name": "name 1", "amount": 3, "label": "#1", "_line": 2}
    reasons = dict(pv.rejected)
    assert set(reasons) == {3, 5}, pv.rejected  # lines of ids 2 and 4
    assert "oops" in reasons[3] and "KeyError" in reasons[5]
    assert not db.exists()


HANG_CHILD = """
import asyncio, json, sys
import rowflow

async def f(row):
    if row["id"] == 3000:
        print("HANGING", flush=True)
        await asyncio.sleep(3600)  # a call that never answers
    return row

try:
    rowflow.Pipeline({csv!r}, {{"url": {url!r}, "table": "t", "commit_rows": 500}},
                     runtime={{"batch_rows": 500}}).map_async(f).run()
except KeyboardInterrupt as e:
    print("INTERRUPTED", json.dumps(e.report.to_dict()), flush=True)
"""


def test_ctrl_c_stops_a_run_whose_function_never_answers(tmp_path):
    import json
    import signal
    import sys

    csv = write_csv(tmp_path / "in.csv", 10_000)
    db = tmp_path / "x.db"
    script = tmp_path / "hang.py"
    script.write_text(HANG_CHILD.format(csv=csv, url=f"sqlite://{db}"))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "HANGING"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    line = next(x for x in out.splitlines() if x.startswith("INTERRUPTED"))
    rep = json.loads(line.split(" ", 1)[1])
    # The rows before the one that hangs are committed; it and those after are not.
    assert rep["status"] == "interrupted" and 0 < rep["rows_written"] < 3000, rep
    assert sqlite_query(str(db), "SELECT count(*), max(id) FROM t")[0] == (rep["rows_written"], rep["rows_written"])
