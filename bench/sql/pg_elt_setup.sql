-- ELT: an UNLOGGED typed staging table, and the destination with its primary key.
DROP TABLE IF EXISTS users_stage;
CREATE UNLOGGED TABLE users_stage (
  id bigint, first_name text, last_name text, email text, birthdate date,
  signup_ts timestamptz, country text, plan text, monthly_spend numeric(12,2),
  visits int, notes text);
\ir pg_out_table.sql
