"""The script rowflow replaces (bench/asyncio_script.py: csv.reader, a task per row,
gather, save), with the same `async def process_row`, run by rowflow: at most 64 calls
in flight, typed values, bad rows in the reject file, resume after a crash.

    python python/examples/process_row.py users.csv users.db
"""
import datetime as dt
import sys

import rowflow

ON = dt.date(2026, 1, 1)


async def process_row(row):
    email = row["email"].strip(" ").lower()
    b = row["birthdate"]
    annual = float(row["monthly_spend"] * 12)
    return {"full_name": f"{row['first_name']} {row['last_name']}", "email": email,
            "email_domain": email.split("@", 1)[1],
            "age_years": ON.year - b.year - ((ON.month, ON.day) < (b.month, b.day)),
            "annual_spend": annual,
            "tier": "gold" if annual >= 1000 else "silver" if annual >= 200 else "bronze"}


COLUMNS = {"full_name": "text", "email_domain": "text", "age_years": "int",
           "annual_spend": "float", "tier": "text"}
OUT = ["id", "full_name", "email", "email_domain", "age_years", "country", "plan",
       "annual_spend", "tier", "visits", "signup_ts", "notes"]

if __name__ == "__main__":
    csv, db = sys.argv[1], sys.argv[2]
    report = (rowflow.Pipeline(csv, f"sqlite://{db}", table="users_out", key=["id"])
              .map_async(process_row, concurrency=64, columns=COLUMNS)
              .select(*OUT)
              .run())
    print(report)
