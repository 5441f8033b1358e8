#!/usr/bin/env python3
"""Checksums of the standard transform, computed in plain Python from the CSV
(independent of rowflow and of SQLite), and the same checksums read back from a
SQLite table. Usage:

  checksums.py expected CSV          -> JSON
  checksums.py sqlite DB TABLE       -> JSON
"""
import csv
import datetime as dt
import json
import sqlite3
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


if __name__ == "__main__":
    if sys.argv[1] == "expected":
        print(json.dumps(expected(sys.argv[2])))
    else:
        print(json.dumps(from_sqlite(sys.argv[2], sys.argv[3])))
