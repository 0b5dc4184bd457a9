-- multi_statements: several statements in one COM_QUERY (a line with several `;`), with an
-- error in the middle (the chain ends there), result sets mixed with OK packets, and a CALL
-- inside a multi-statement.
CREATE TABLE m (id INT PRIMARY KEY, v VARCHAR(10));
INSERT INTO m VALUES (1, 'a'); INSERT INTO m VALUES (2, 'b'); SELECT * FROM m ORDER BY id;
SELECT 1 AS one; SELECT * FROM m_missing; SELECT 3 AS never;
INSERT INTO m VALUES (3, 'c'); INSERT INTO m VALUES (3, 'dup'); INSERT INTO m VALUES (4, 'd');
SELECT COUNT(*) AS n FROM m;
UPDATE m SET v = 'z' WHERE id = 1; DELETE FROM m WHERE id = 2; SELECT ROW_COUNT() AS rc;
SET @a = 1; SELECT @a AS a, NULL AS n, '' AS e; DO 1;
DELIMITER //
CREATE PROCEDURE mp() BEGIN SELECT 'in proc' AS p; SELECT id FROM m ORDER BY id; END //
DELIMITER ;
CALL mp(); SELECT 'after call' AS x; CALL mp();
SELECT 'x' AS a; SELEC broken; SELECT 'never' AS b;
BEGIN NOT ATOMIC SELECT 1 AS blk; END; SELECT 2 AS after_block;
SELECT 'last' AS fine;
