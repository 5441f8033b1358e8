-- The destination table of the standard transform in MariaDB/MySQL (signup_ts in UTC).
DROP TABLE IF EXISTS users_out;
CREATE TABLE users_out (
  id BIGINT PRIMARY KEY, full_name LONGTEXT, email LONGTEXT, email_domain LONGTEXT,
  age_years INT, country LONGTEXT, plan LONGTEXT, annual_spend DOUBLE, tier LONGTEXT,
  visits INT, signup_ts DATETIME(6), notes LONGTEXT)
  ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
