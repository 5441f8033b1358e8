-- Baseline: the sqlite3 shell imports the CSV into a TEMP staging table, then the
-- standard transform runs as one INSERT ... SELECT into users_out (primary key first).
-- Default pragmas (rollback journal, synchronous=FULL), as a user would run it.
-- The CSV path is substituted by bench/bench.py.
PRAGMA temp_store = MEMORY;
CREATE TEMP TABLE users_stage (
  id INTEGER, first_name TEXT, last_name TEXT, email TEXT, birthdate TEXT,
  signup_ts TEXT, country TEXT, plan TEXT, monthly_spend REAL, visits INTEGER, notes TEXT);
CREATE TABLE users_out (
  id INTEGER PRIMARY KEY, full_name TEXT, email TEXT, email_domain TEXT, age_years INTEGER,
  country TEXT, plan TEXT, annual_spend REAL, tier TEXT, visits INTEGER,
  signup_ts TEXT, notes TEXT);
.import --csv --skip 1 --schema temp @CSV@ users_stage
INSERT INTO users_out
SELECT id,
       first_name || ' ' || last_name,
       e,
       substr(e, instr(e, '@') + 1),
       (20260101 - CAST(replace(birthdate, '-', '') AS INTEGER)) / 10000,
       country,
       plan,
       round(monthly_spend * 12, 2),
       CASE WHEN monthly_spend * 12 >= 1000 THEN 'gold'
            WHEN monthly_spend * 12 >= 200  THEN 'silver'
            ELSE 'bronze' END,
       visits,
       signup_ts,
       notes
FROM (SELECT *, lower(trim(email, ' ')) AS e FROM temp.users_stage);
