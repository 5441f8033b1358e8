"""Shared helpers of the Python package's tests: CSV files, database URLs, queries.

The servers are the machine's own (addresses from ROWFLOW_TEST_PG and
ROWFLOW_TEST_MYSQL, defaulting to the local ones). With CI set, a server that cannot
be reached fails its tests instead of skipping them.
"""

import os
import sqlite3
import urllib.parse

import pytest

PG_URL = os.environ.get("ROWFLOW_TEST_PG", "postgres://postgres@127.0.0.1:5432/test")
MY_URL = os.environ.get("ROWFLOW_TEST_MYSQL", "mysql://root@127.0.0.1:3306/test")


def write_csv(path, n, start=1, bad_lines=()):
    """`id,name,amount` rows `start..start+n`; the rows at the given 1-based data
    positions get the amount `oops` (not an integer)."""
    with open(path, "w") as f:
        f.write("id,name,amount\n")
        for k, i in enumerate(range(start, start + n), 1):
            amount = "oops" if k in bad_lines else str(i * 3)
            f.write(f"{i},name {i},{amount}\n")
    return str(path)


def sqlite_query(db, sql):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _unreachable(what, e):
    if os.environ.get("CI"):
        pytest.fail(f"{what} cannot be reached: {e}")
    pytest.skip(f"{what} cannot be reached: {e}")


class Server:
    """A server database: its URL for rowflow and a way to query it."""

    def __init__(self, kind):
        self.kind = kind
        self.url = PG_URL if kind == "postgres" else MY_URL
        u = urllib.parse.urlparse(self.url)
        self.host, self.port = u.hostname, u.port
        self.user = urllib.parse.unquote(u.username or "")
        self.password = urllib.parse.unquote(u.password or "")
        self.db = u.path.lstrip("/")
        try:
            self.query("SELECT 1")
        except Exception as e:  # noqa: BLE001 - any failure to connect
            _unreachable(kind, e)

    def _connect(self):
        if self.kind == "postgres":
            import psycopg

            return psycopg.connect(
                host=self.host, port=self.port or 5432, user=self.user,
                password=self.password or None, dbname=self.db, sslmode="disable",
                autocommit=True,
            )
        import pymysql

        return pymysql.connect(
            host=self.host, port=self.port or 3306, user=self.user,
            password=self.password, database=self.db, autocommit=True,
        )

    def query(self, sql):
        con = self._connect()
        try:
            cur = con.cursor()
            cur.execute(sql)
            return cur.fetchall() if cur.description else []
        finally:
            con.close()

    def drop(self, table):
        """Drop the table and forget its loads (the checkpoints of earlier test runs
        would make a load of the same file into it "already complete")."""
        self.query(f"DROP TABLE IF EXISTS {table}")
        try:
            self.query(f"DELETE FROM _rowflow_checkpoints WHERE target_table = '{table}'")
        except Exception:  # noqa: BLE001 - no checkpoint table yet
            pass


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def target(request, tmp_path):
    """Each database in turn: (url, query function, table name)."""
    table = f"rf_py_{request.node.name.split('[')[0][-40:]}".replace("-", "_")
    if request.param == "sqlite":
        db = str(tmp_path / "t.db")
        yield f"sqlite://{db}", (lambda sql: sqlite_query(db, sql)), table
        return
    server = Server(request.param)
    server.drop(table)
    yield server.url, server.query, table
    server.drop(table)
