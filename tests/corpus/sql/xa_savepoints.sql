-- @clients default cursor
-- xa_savepoints: XA transactions (prepare, recover, commit, rollback, errors out of state) and
-- savepoints (rollback to, release, unknown names).
CREATE TABLE x (id INT PRIMARY KEY) ENGINE=InnoDB;
XA START 'corpus-xa-1';
INSERT INTO x VALUES (1);
XA END 'corpus-xa-1';
XA PREPARE 'corpus-xa-1';
XA RECOVER;
XA COMMIT 'corpus-xa-1';
XA START 'corpus-xa-2', 'branch', 7;
INSERT INTO x VALUES (2);
COMMIT;
XA END 'corpus-xa-2', 'branch', 7;
XA ROLLBACK 'corpus-xa-2', 'branch', 7;
XA COMMIT 'no-such-xid';
XA START 'corpus-xa-3';
INSERT INTO x VALUES (3);
XA END 'corpus-xa-3';
XA COMMIT 'corpus-xa-3' ONE PHASE;
SELECT * FROM x ORDER BY id;
START TRANSACTION;
INSERT INTO x VALUES (10);
SAVEPOINT s1;
INSERT INTO x VALUES (11);
SAVEPOINT s2;
INSERT INTO x VALUES (12);
ROLLBACK TO SAVEPOINT s2;
SELECT * FROM x WHERE id >= 10 ORDER BY id;
ROLLBACK TO s1;
RELEASE SAVEPOINT s1;
ROLLBACK TO SAVEPOINT s1;
SAVEPOINT s3;
COMMIT;
SELECT * FROM x ORDER BY id;
