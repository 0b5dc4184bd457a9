-- @clients default cursor
-- sp_issue: the exact procedures of issue 11 (p1 runs EXECUTE IMMEDIATE and a SELECT; p2 loops
-- FOR row IN (SELECT word FROM t1) DO CALL p1(q, row.word)), called by text and prepared CALL.
CREATE TABLE t1 (id INT PRIMARY KEY, word VARCHAR(20));
INSERT INTO t1 VALUES (1, 'alpha'), (2, 'beta'), (3, 'gamma');
DELIMITER //
CREATE PROCEDURE p1(q TEXT, w TEXT)
BEGIN
  EXECUTE IMMEDIATE CONCAT('SELECT ', QUOTE(q), ' AS q, ', QUOTE(w), ' AS w');
  SELECT w AS word, LENGTH(w) AS len;
END //
CREATE PROCEDURE p2(q TEXT)
BEGIN
  FOR row IN (SELECT word FROM t1) DO CALL p1(q, row.word); END FOR;
END //
DELIMITER ;
CALL p1('one', 'two');
CALL p2('hello');
-- @bind 'prepared'
CALL p2(?);
CALL p2('again');
SELECT COUNT(*) AS still_connected FROM t1;
