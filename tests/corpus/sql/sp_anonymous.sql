-- sp_anonymous: anonymous BEGIN NOT ATOMIC ... END blocks (FOR loops that SELECT, cursors,
-- handlers, errors) and sql_mode=ORACLE blocks and procedures (cursor FOR loops,
-- exceptions, RAISE_APPLICATION_ERROR-like errors).
CREATE TABLE t (id INT PRIMARY KEY, x VARCHAR(10));
INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, NULL);
DELIMITER //
BEGIN NOT ATOMIC
  FOR rec IN (SELECT id, x FROM t ORDER BY id) DO
    SELECT rec.id AS id, rec.x AS x;
  END FOR;
END //
BEGIN NOT ATOMIC
  DECLARE done INT DEFAULT 0;
  DECLARE v VARCHAR(10);
  DECLARE c CURSOR FOR SELECT x FROM t WHERE x IS NOT NULL;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1;
  OPEN c;
  l: LOOP
    FETCH c INTO v;
    IF done THEN LEAVE l; END IF;
    SELECT UPPER(v) AS up;
  END LOOP;
  CLOSE c;
END //
BEGIN NOT ATOMIC
  DECLARE i INT DEFAULT 0;
  WHILE i < 3 DO
    SET i = i + 1;
    SELECT i AS iteration;
  END WHILE;
  SELECT * FROM no_such_table;
  SELECT 'not reached';
END //
BEGIN NOT ATOMIC
  DECLARE EXIT HANDLER FOR SQLEXCEPTION SELECT 'caught' AS handled;
  SELECT 1 AS first;
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'anonymous failure';
END //
BEGIN NOT ATOMIC
  FOR rec IN (SELECT id FROM t) DO
    UPDATE t SET x = CONCAT(IFNULL(x, ''), '!') WHERE id = rec.id;
  END FOR;
  SELECT id, x FROM t ORDER BY id;
END //
DELIMITER ;
SET sql_mode = ORACLE;
DELIMITER //
DECLARE
  CURSOR c IS SELECT id, x FROM t ORDER BY id;
BEGIN
  FOR r IN c LOOP
    SELECT r.id AS id, r.x AS x;
  END LOOP;
END //
DECLARE
  v INT := 0;
BEGIN
  FOR i IN 1..3 LOOP
    v := v + i;
  END LOOP;
  SELECT v AS total;
  SELECT 1 / 0 AS oracle_div;
EXCEPTION
  WHEN OTHERS THEN SELECT 'oracle handler' AS handled;
END //
CREATE PROCEDURE ora_proc(a IN INT, b OUT VARCHAR2) AS
BEGIN
  FOR r IN (SELECT x FROM t WHERE id <= a ORDER BY id) LOOP
    SELECT r.x AS x;
  END LOOP;
  b := 'done';
END //
DECLARE
  res VARCHAR2(20);
BEGIN
  ora_proc(2, res);
  SELECT res AS out_value;
END //
BEGIN
  SELECT 'ora raise' AS phase;
  RAISE no_data_found;
END //
DELIMITER ;
CALL ora_proc(3, @o);
SELECT @o AS o;
SET sql_mode = DEFAULT;
SELECT @@sql_mode LIKE '%ORACLE%' AS still_oracle;
