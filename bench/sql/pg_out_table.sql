-- The destination table of the standard transform, primary key first.
DROP TABLE IF EXISTS users_out;
CREATE TABLE users_out (
  id bigint PRIMARY KEY, full_name text, email text, email_domain text, age_years int,
  country text, plan text, annual_spend double precision, tier text, visits int,
  signup_ts timestamptz, notes text);
