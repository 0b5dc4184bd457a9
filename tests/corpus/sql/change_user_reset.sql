-- @clients c-text c-ps
-- change_user_reset: COM_CHANGE_USER and COM_RESET_CONNECTION in the middle of a transaction,
-- with prepared statements, user variables and temporary tables that they drop.
CREATE TABLE cu (id INT PRIMARY KEY) ENGINE=InnoDB;
SET @v = 'before';
CREATE TEMPORARY TABLE tmp_cu (a INT);
START TRANSACTION;
INSERT INTO cu VALUES (1);
PREPARE s1 FROM 'SELECT COUNT(*) AS n FROM cu';
EXECUTE s1;
-- @change-user corpus_other otherpass st_corpus
SELECT CURRENT_USER() AS who, @v AS v, @@in_transaction AS in_trx;
SELECT COUNT(*) AS rolled_back FROM cu;
EXECUTE s1;
SELECT * FROM tmp_cu;
-- @change-user app wrongpassword st_corpus
SELECT 'after failed change user' AS s;
-- @reconnect
START TRANSACTION;
INSERT INTO cu VALUES (2);
SET @v = 'again';
PREPARE s2 FROM 'SELECT 1';
-- @reset-connection
SELECT @v AS v, @@in_transaction AS in_trx, CURRENT_USER() AS who;
SELECT COUNT(*) AS rolled_back_again FROM cu;
EXECUTE s2;
-- @bind 5
SELECT ? + 1 AS prepared_after_reset;
-- @ping
-- @change-user app apppass st_corpus_other
SELECT DATABASE() AS db;
-- @reset-connection
SELECT DATABASE() AS db_after_reset;
