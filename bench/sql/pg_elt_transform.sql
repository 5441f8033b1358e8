-- The standard transform in SQL, staging -> users_out, then drop the staging table.
INSERT INTO users_out
SELECT id,
       first_name || ' ' || last_name,
       e,
       split_part(e, '@', 2),
       date_part('year', age(date '2026-01-01', birthdate))::int,
       country,
       plan,
       round(monthly_spend * 12, 2)::double precision,
       CASE WHEN monthly_spend * 12 >= 1000 THEN 'gold'
            WHEN monthly_spend * 12 >= 200  THEN 'silver'
            ELSE 'bronze' END,
       visits,
       signup_ts,
       notes
FROM (SELECT *, lower(btrim(email, ' ')) AS e FROM users_stage) s;
DROP TABLE users_stage;
