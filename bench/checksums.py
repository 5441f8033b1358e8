#!/usr/bin/env python3
"""Checksums of the standard transform, computed in plain Python from the CSV
(independent of rowflow and of SQLite), and the same checksums read back from a
SQLite table. Usage:

  checksums.py expected CSV          -> JSON
  checksums.py sqlite DB TABLE       -> JSON
  checksums.py pg TABLE              -> JSON (psql; PG* environment variables)
  checksums.py mysql TABLE           -> JSON (mariadb client; MYSQL_* options below)
"""
import csv
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal

KEYS = ["rows", "sum_id", "sum_visits", "n_domains", "sum_age", "sum_spend_cents",
        "n_gold", "n_silver", "n_bronze", "sum_len_notes", "sum_len_name_email", "sum_epoch"]


def expected(path):
    s = dict.fromkeys(KEYS, 0)
    domains = set()
    with open(path, newline="", encoding="utf-8") as f:
        rd = csv.reader(f)
        next(rd)
        for (id_, first, last, email, birth, sts, _c, _p, spend, visits, notes) in rd:
            s["rows"] += 1
            s["sum_id"] += int(id_)
            s["sum_visits"] += int(visits)
            e = email.strip(" ").lower()
            domains.add(e.split("@", 1)[1])
            y, m, d = int(birth[0:4]), int(birth[5:7]), int(birth[8:10])
            s["sum_age"] += (20260101 - (y * 10000 + m * 100 + d)) // 10000
            ac = int(Decimal(spend) * 100) * 12
            s["sum_spend_cents"] += ac
            s["n_gold" if ac >= 100000 else "n_silver" if ac >= 20000 else "n_bronze"] += 1
            s["sum_len_notes"] += len(notes)
            s["sum_len_name_email"] += len(first) + 1 + len(last) + len(e)
            s["sum_epoch"] += int(dt.datetime.fromisoformat(sts.replace("Z", "+00:00")).timestamp())
    s["n_domains"] = len(domains)
    return s


SQL = """SELECT count(*), sum(id), sum(visits), count(DISTINCT email_domain), sum(age_years),
 sum(CAST(round(annual_spend*100) AS INTEGER)), sum(tier='gold'), sum(tier='silver'),
 sum(tier='bronze'), sum(length(coalesce(notes,''))), sum(length(full_name)+length(email)),
 sum(unixepoch(signup_ts)) FROM "{t}" """


def from_sqlite(db, table):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    vals = con.execute(SQL.format(t=table)).fetchone()
    return {k: (int(v) if v is not None else None) for k, v in zip(KEYS, vals)}


PG_SQL = """SELECT count(*), sum(id), sum(visits), count(DISTINCT email_domain), sum(age_years),
 sum(round(annual_spend*100)::bigint), count(*) FILTER (WHERE tier='gold'),
 count(*) FILTER (WHERE tier='silver'), count(*) FILTER (WHERE tier='bronze'),
 sum(length(coalesce(notes,''))), sum(length(full_name)+length(email)),
 sum(extract(epoch FROM signup_ts)::bigint) FROM {t}"""

# MariaDB/MySQL keep signup_ts as a UTC DATETIME.
MY_SQL = """SELECT count(*), sum(id), sum(visits), count(DISTINCT email_domain), sum(age_years),
 sum(CAST(round(annual_spend*100) AS SIGNED)), sum(tier='gold'), sum(tier='silver'),
 sum(tier='bronze'), sum(char_length(coalesce(notes,''))),
 sum(char_length(full_name)+char_length(email)),
 sum(TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', signup_ts)) FROM {t}"""


def from_pg(table):
    out = subprocess.run(["psql", "-X", "-tA", "-F", "|", "-v", "ON_ERROR_STOP=1", "-c",
                          PG_SQL.format(t=table)], check=True, capture_output=True, text=True)
    vals = out.stdout.strip().split("|")
    return {k: (int(v) if v else None) for k, v in zip(KEYS, vals)}


def from_mysql(table):
    args = ["mariadb", "-N", "-B", "-h", os.environ.get("MYSQL_HOST", "127.0.0.1"),
            "-u", os.environ.get("MYSQL_USER", "root"), os.environ.get("MYSQL_DB", "test"),
            "-e", MY_SQL.format(t=table)]
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    vals = out.stdout.strip().split("\t")
    return {k: (int(v) if v not in ("", "NULL") else None) for k, v in zip(KEYS, vals)}


if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "expected":
        print(json.dumps(expected(sys.argv[2])))
    elif kind == "sqlite":
        print(json.dumps(from_sqlite(sys.argv[2], sys.argv[3])))
    elif kind == "pg":
        print(json.dumps(from_pg(sys.argv[2])))
    elif kind == "mysql":
        print(json.dumps(from_mysql(sys.argv[2])))
    else:
        raise SystemExit(f"unknown kind {kind}")
