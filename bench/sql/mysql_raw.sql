-- Raw load target: the 11 input columns, no index. MariaDB cannot parse the offsets of
-- signup_ts into a DATETIME, so the raw load keeps it as text.
DROP TABLE IF EXISTS users_raw;
CREATE TABLE users_raw (
  id BIGINT, first_name LONGTEXT, last_name LONGTEXT, email LONGTEXT, birthdate DATE,
  signup_ts VARCHAR(32), country LONGTEXT, plan LONGTEXT, monthly_spend DECIMAL(12,2),
  visits INT, notes LONGTEXT) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
