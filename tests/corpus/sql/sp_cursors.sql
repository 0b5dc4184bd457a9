-- @clients default cursor
-- sp_cursors: DECLARE CURSOR + FETCH loops with a CONTINUE HANDLER FOR NOT FOUND, FOR loops
-- over a query and over a declared cursor, result sets produced inside the loops, nested
-- CALLs and EXECUTE IMMEDIATE inside procedures.
CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), qty INT);
INSERT INTO items VALUES (1, 'apple', 3), (2, 'pear', 0), (3, 'plum', 7), (4, 'fig', NULL);
CREATE TABLE audit (n INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(100));
DELIMITER //
CREATE PROCEDURE cur_fetch()
BEGIN
  DECLARE done INT DEFAULT 0;
  DECLARE v_name VARCHAR(20);
  DECLARE v_qty INT;
  DECLARE c CURSOR FOR SELECT name, qty FROM items ORDER BY id;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1;
  OPEN c;
  read_loop: LOOP
    FETCH c INTO v_name, v_qty;
    IF done THEN LEAVE read_loop; END IF;
    INSERT INTO audit (msg) VALUES (CONCAT('saw ', v_name));
    SELECT v_name AS name, v_qty AS qty, v_qty * 2 AS double_qty;
  END LOOP;
  CLOSE c;
  SELECT COUNT(*) AS audited FROM audit;
END //
CREATE PROCEDURE cur_silent()
BEGIN
  DECLARE done INT DEFAULT 0;
  DECLARE total INT DEFAULT 0;
  DECLARE v INT;
  DECLARE c CURSOR FOR SELECT IFNULL(qty, 0) FROM items;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1;
  OPEN c;
  REPEAT
    FETCH c INTO v;
    IF NOT done THEN SET total = total + v; END IF;
  UNTIL done END REPEAT;
  CLOSE c;
  SELECT total;
END //
CREATE PROCEDURE for_query()
BEGIN
  FOR r IN (SELECT id, name FROM items WHERE qty IS NOT NULL ORDER BY id) DO
    SELECT r.id AS id, r.name AS name;
    IF r.id = 2 THEN SELECT 'second' AS note, NULL AS nothing, '' AS empty; END IF;
  END FOR;
END //
CREATE PROCEDURE for_cursor()
BEGIN
  DECLARE c CURSOR FOR SELECT name FROM items ORDER BY id DESC;
  FOR r IN c DO
    SELECT r.name AS reversed;
  END FOR;
END //
CREATE PROCEDURE nested_inner(IN depth INT)
BEGIN
  SELECT depth AS depth, REPEAT('>', depth) AS arrow;
  IF depth < 3 THEN CALL nested_inner(depth + 1); END IF;
END //
CREATE PROCEDURE nested_outer()
BEGIN
  SELECT 'outer start' AS phase;
  FOR r IN (SELECT id FROM items WHERE id <= 2) DO
    CALL nested_inner(r.id);
  END FOR;
  SELECT 'outer end' AS phase;
END //
CREATE PROCEDURE dyn(IN tbl VARCHAR(64))
BEGIN
  EXECUTE IMMEDIATE CONCAT('SELECT COUNT(*) AS n FROM ', tbl);
  EXECUTE IMMEDIATE 'SELECT ? AS bound, ? AS other' USING 42, 'text';
  PREPARE s FROM 'SELECT name FROM items WHERE id = ?';
  SET @id = 3;
  EXECUTE s USING @id;
  DEALLOCATE PREPARE s;
  EXECUTE IMMEDIATE 'UPDATE items SET qty = qty WHERE id > 0';
END //
DELIMITER ;
SET max_sp_recursion_depth = 5;
CALL cur_fetch();
CALL cur_silent();
CALL for_query();
CALL for_cursor();
CALL nested_outer();
CALL dyn('items');
CALL dyn('no_such_table');
SELECT 'after error' AS still_here;
-- @bind
CALL cur_fetch();
-- @bind
CALL for_query();
-- @bind 'items'
CALL dyn(?);
SELECT COUNT(*) AS audit_rows FROM audit;
