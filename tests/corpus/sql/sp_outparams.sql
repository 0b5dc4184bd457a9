-- @clients c raw-ps raw-ps-deof raw-cursor
-- sp_outparams: OUT and INOUT parameters through the binary protocol (the server returns
-- them as an extra result set flagged SERVER_PS_OUT_PARAMS), with and without other result
-- sets, NULL out values and an error after a result set.
CREATE TABLE n (v INT);
INSERT INTO n VALUES (1), (2), (3);
DELIMITER //
CREATE PROCEDURE o_simple(IN a INT, OUT b INT, INOUT c VARCHAR(20))
BEGIN
  SET b = a * 2;
  SET c = CONCAT(IFNULL(c, 'null'), '+', a);
END //
CREATE PROCEDURE o_with_rows(IN a INT, OUT total INT, OUT label VARCHAR(10))
BEGIN
  SELECT v FROM n WHERE v <= a ORDER BY v;
  SELECT SUM(v) INTO total FROM n WHERE v <= a;
  SET label = NULL;
END //
CREATE PROCEDURE o_loop(OUT cnt INT)
BEGIN
  SET cnt = 0;
  FOR r IN (SELECT v FROM n) DO
    SELECT r.v AS v;
    SET cnt = cnt + 1;
  END FOR;
END //
CREATE PROCEDURE o_fail(OUT x INT)
BEGIN
  SET x = 1;
  SELECT 'before failure' AS phase;
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'out param failure';
END //
CREATE PROCEDURE o_types(OUT d DECIMAL(10,3), OUT dt DATETIME(6), OUT f DOUBLE, OUT bl BLOB)
BEGIN
  SET d = 1234.567, dt = '2024-02-29 12:34:56.789012', f = 1e-300, bl = X'00FF00';
END //
DELIMITER ;
-- @bind 21 NULL 'start'
CALL o_simple(?, ?, ?);
-- @bind 2 NULL NULL
CALL o_with_rows(?, ?, ?);
-- @bind NULL
CALL o_loop(?);
-- @bind NULL
CALL o_fail(?);
-- @bind NULL NULL NULL NULL
CALL o_types(?, ?, ?, ?);
CALL o_simple(5, @b, @c);
SELECT @b, @c;
SELECT 'still connected' AS s;
