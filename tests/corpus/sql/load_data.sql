-- @clients default cursor
-- load_data: LOAD DATA LOCAL INFILE accepted, an empty file, a missing file, refused by the
-- client (local-infile 0), and as a prepared statement (COM_STMT_EXECUTE answered with the
-- server's file request). corpus_data.csv and corpus_empty.csv are written by the test.
CREATE TABLE ld (id INT PRIMARY KEY, name VARCHAR(20), extra VARCHAR(5));
LOAD DATA LOCAL INFILE 'corpus_data.csv' INTO TABLE ld FIELDS TERMINATED BY ',';
SELECT COUNT(*) AS n, SUM(extra IS NULL) AS nulls, MAX(name) AS mx FROM ld;
LOAD DATA LOCAL INFILE 'corpus_data.csv' INTO TABLE ld FIELDS TERMINATED BY ',';
LOAD DATA LOCAL INFILE 'corpus_data.csv' IGNORE INTO TABLE ld FIELDS TERMINATED BY ',';
LOAD DATA LOCAL INFILE 'corpus_empty.csv' INTO TABLE ld;
LOAD DATA LOCAL INFILE 'corpus_no_such_file.csv' INTO TABLE ld;
SELECT 'after missing file' AS still_connected;
DELETE FROM ld;
-- @bind
LOAD DATA LOCAL INFILE 'corpus_data.csv' INTO TABLE ld FIELDS TERMINATED BY ',';
SELECT COUNT(*) AS after_prepared FROM ld;
DELETE FROM ld;
-- @bind
LOAD DATA LOCAL INFILE 'corpus_data.csv' REPLACE INTO TABLE ld FIELDS TERMINATED BY ',' LINES TERMINATED BY '\n' (id, name);
SELECT COUNT(*) AS after_prepared_replace FROM ld;
-- @local-infile 0
LOAD DATA LOCAL INFILE 'corpus_data.csv' INTO TABLE ld FIELDS TERMINATED BY ',';
-- @bind
LOAD DATA LOCAL INFILE 'corpus_data.csv' INTO TABLE ld FIELDS TERMINATED BY ',';
SELECT 'after refusal' AS still_connected;
-- @local-infile 1
LOAD DATA LOCAL INFILE 'corpus_data.csv' REPLACE INTO TABLE ld FIELDS TERMINATED BY ',';
SELECT 'multi' AS m; LOAD DATA LOCAL INFILE 'corpus_data.csv' REPLACE INTO TABLE ld FIELDS TERMINATED BY ','; SELECT COUNT(*) AS n FROM ld;
SELECT COUNT(*) AS final FROM ld;
