-- @clients c-text c-ps raw-text
-- big_results: 100,000 rows, an error after 59,999 rows, rows of more than 16 MiB (packets
-- split at 0xFFFFFF bytes; a text row that starts with 0xFE), a row packet of exactly
-- 0xFFFFFF bytes (followed by an empty packet), in both protocols. (Few clients: it is the
-- slowest script.)
SELECT seq, seq * 2 AS dbl, CONCAT('row ', seq) AS label FROM seq_1_to_100000;
SELECT COUNT(*) FROM seq_1_to_100000;
SELECT seq, IF(seq = 60000, (SELECT 1 UNION SELECT 2), seq) AS fails_midway FROM seq_1_to_100000;
SELECT 'after midway error' AS s;
SELECT REPEAT('x', 16777216 + 1) AS big16;
SELECT REPEAT('y', 16777215 - 4) AS exactly_fits;
SELECT 1, REPEAT('a', 16777215), 2;
CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB);
INSERT INTO big VALUES (1, REPEAT(X'FE', 17000000)), (2, ''), (3, NULL);
SELECT id, b FROM big ORDER BY id;
SELECT 'done' AS done;
