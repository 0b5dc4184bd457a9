-- sp_handlers: CONTINUE and EXIT handlers, SIGNAL and RESIGNAL (with and without new
-- attributes), GET DIAGNOSTICS, errors that escape nested CALLs, stored functions and
-- triggers that raise errors, with result sets before the error.
CREATE TABLE acct (id INT PRIMARY KEY, balance INT NOT NULL);
INSERT INTO acct VALUES (1, 100), (2, 5);
CREATE TABLE log (n INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(200));
DELIMITER //
CREATE PROCEDURE h_continue()
BEGIN
  DECLARE CONTINUE HANDLER FOR SQLEXCEPTION
  BEGIN
    GET DIAGNOSTICS CONDITION 1 @st = RETURNED_SQLSTATE, @msg = MESSAGE_TEXT;
    INSERT INTO log (msg) VALUES (CONCAT('handled ', @st, ': ', @msg));
  END;
  SELECT 'before' AS phase;
  INSERT INTO acct VALUES (1, 1);
  SELECT 'after duplicate' AS phase, @st AS state;
  SELECT * FROM no_such_table;
  SELECT 'after missing table' AS phase;
END //
CREATE PROCEDURE h_exit()
BEGIN
  DECLARE EXIT HANDLER FOR 1062 SELECT 'exit handler ran' AS handled;
  SELECT 'start' AS phase;
  INSERT INTO acct VALUES (2, 2);
  SELECT 'never shown' AS phase;
END //
CREATE PROCEDURE withdraw(IN who INT, IN amount INT)
BEGIN
  DECLARE bal INT;
  SELECT balance INTO bal FROM acct WHERE id = who;
  IF bal IS NULL THEN
    SIGNAL SQLSTATE '02000' SET MESSAGE_TEXT = 'no such account', MYSQL_ERRNO = 1643;
  END IF;
  IF bal < amount THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'insufficient funds', MYSQL_ERRNO = 3001;
  END IF;
  UPDATE acct SET balance = balance - amount WHERE id = who;
  SELECT who AS id, balance FROM acct WHERE id = who;
END //
CREATE PROCEDURE resignal_plain()
BEGIN
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    INSERT INTO log (msg) VALUES ('resignalling');
    RESIGNAL;
  END;
  SELECT 'about to fail' AS phase;
  CALL withdraw(2, 1000);
END //
CREATE PROCEDURE resignal_new()
BEGIN
  DECLARE EXIT HANDLER FOR SQLSTATE '45000'
    RESIGNAL SET MESSAGE_TEXT = 'withdrawal refused', MYSQL_ERRNO = 3002;
  CALL withdraw(2, 1000);
END //
CREATE PROCEDURE signal_warning()
BEGIN
  SIGNAL SQLSTATE '01000' SET MESSAGE_TEXT = 'just a warning', MYSQL_ERRNO = 1642;
  SELECT 'after warning' AS phase;
END //
CREATE PROCEDURE nested_fail()
BEGIN
  SELECT 'level 1' AS phase;
  CALL resignal_plain();
  SELECT 'not reached' AS phase;
END //
CREATE FUNCTION f_checked(x INT) RETURNS INT DETERMINISTIC
BEGIN
  IF x < 0 THEN
    SIGNAL SQLSTATE '22003' SET MESSAGE_TEXT = 'negative input', MYSQL_ERRNO = 1690;
  END IF;
  RETURN x * 10;
END //
CREATE FUNCTION f_div(x INT) RETURNS INT DETERMINISTIC RETURN 100 DIV x //
CREATE TRIGGER acct_guard BEFORE UPDATE ON acct FOR EACH ROW
BEGIN
  IF NEW.balance < 0 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'balance would go negative';
  END IF;
  INSERT INTO log (msg) VALUES (CONCAT('balance ', OLD.balance, ' -> ', NEW.balance));
END //
DELIMITER ;
CALL h_continue();
CALL h_exit();
CALL withdraw(1, 10);
CALL withdraw(2, 1000);
CALL withdraw(9, 1);
CALL resignal_plain();
CALL resignal_new();
CALL signal_warning();
CALL nested_fail();
SELECT f_checked(2) AS ok;
SELECT f_checked(-1) AS fails;
SELECT id, f_checked(balance - 50) AS v FROM acct ORDER BY id;
SELECT f_div(0) AS div_zero;
UPDATE acct SET balance = balance - 500 WHERE id = 1;
UPDATE acct SET balance = balance + 1 WHERE id = 2;
-- @bind 2 1000
CALL withdraw(?, ?);
-- @bind
CALL h_continue();
-- @bind
CALL nested_fail();
-- @bind -1
SELECT f_checked(?) AS prepared_fail;
SELECT msg FROM log ORDER BY n;
