#!/usr/bin/env python3
"""The script rowflow replaces, as its users write it: csv.reader, a task per row
(asyncio.create_task(process_row(row))), gather, then save into SQLite. The same
transform as the standard workload (examples/users/pipeline.toml) into the same table,
so bench/checksums.py checks it like rowflow's. A baseline for bench/bench.py: not
rowflow code, and deliberately not optimised beyond what the pattern does.

  asyncio_script.py CSV DB
"""
import asyncio
import csv
import datetime as dt
import sqlite3
import sys
from decimal import Decimal

ON = dt.date(2026, 1, 1)


async def process_row(row):
    """The workload's six computed columns, and the output columns in table order."""
    (id_, first, last, email, birth, signup_ts, country, plan, spend, visits, notes) = row
    email = email.strip(" ").lower()
    b = dt.date.fromisoformat(birth)
    age = ON.year - b.year - ((ON.month, ON.day) < (b.month, b.day))
    annual = float(Decimal(spend) * 12)
    tier = "gold" if annual >= 1000 else "silver" if annual >= 200 else "bronze"
    return (int(id_), f"{first} {last}", email, email.split("@", 1)[1], age, country, plan,
            annual, tier, int(visits), signup_ts, notes or None)


async def main(csv_path, db_path):
    tasks = []
    with open(csv_path, newline="", encoding="utf-8") as f:
        rd = csv.reader(f)
        next(rd)
        for row in rd:
            tasks.append(asyncio.create_task(process_row(row)))
    rows = await asyncio.gather(*tasks)
    con = sqlite3.connect(db_path)
    con.execute("""CREATE TABLE users_out (
      id INTEGER PRIMARY KEY, full_name TEXT, email TEXT, email_domain TEXT, age_years INTEGER,
      country TEXT, plan TEXT, annual_spend REAL, tier TEXT, visits INTEGER,
      signup_ts TEXT, notes TEXT)""")
    con.executemany("INSERT INTO users_out VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    con.commit()
    con.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
