-- @clients default
-- warnings_timeouts: statements with warnings (many, notes, errors as warnings), and
-- statement timeouts by max_statement_time.
CREATE TABLE w (a TINYINT, b VARCHAR(3), c INT NOT NULL);
SET sql_mode = '';
INSERT INTO w VALUES (300, 'toolong', NULL), (-300, 'ok', 1);
SELECT * FROM w;
SET sql_mode = DEFAULT;
INSERT INTO w VALUES (1000, 'x', 1);
SELECT 1 / 0, CAST('abc' AS INT), CAST('1x' AS UNSIGNED);
DROP TABLE IF EXISTS no_such_table_here;
SELECT * FROM w WHERE a = 'not a number';
SET max_error_count = 2;
SELECT CAST('a' AS INT), CAST('b' AS INT), CAST('c' AS INT);
SET max_error_count = DEFAULT;
SET STATEMENT max_statement_time = 0.2 FOR SELECT SLEEP(3) AS slept;
SET STATEMENT max_statement_time = 0.2 FOR SELECT COUNT(*) FROM seq_1_to_1000000000 AS a;
SET max_statement_time = 0.2;
SELECT SLEEP(3) AS slept_session;
SELECT 'quick' AS fine;
SET max_statement_time = 0;
SHOW WARNINGS;
SHOW ERRORS;
SELECT @@warning_count, @@error_count;
