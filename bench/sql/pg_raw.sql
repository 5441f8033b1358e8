-- Raw load target: the 11 input columns with their types, no index. :kind is
-- UNLOGGED or empty (logged). The \copy itself is run by bench/servers.py.
DROP TABLE IF EXISTS users_raw;
CREATE :kind TABLE users_raw (
  id bigint, first_name text, last_name text, email text, birthdate date,
  signup_ts timestamptz, country text, plan text, monthly_spend numeric(12,2),
  visits int, notes text);
