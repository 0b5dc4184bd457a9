-- @clients c-text c-ps py
-- kill_query: KILL QUERY of a running statement from another connection (to the same
-- address: through slowtap when the case runs through slowtap), then the connection goes on.
CREATE TABLE k (id INT);
INSERT INTO k VALUES (1), (2), (3);
-- @kill-query-after 300
SELECT SLEEP(5) AS slept;
SELECT 'alive' AS after_kill;
-- @kill-query-after 300
DO SLEEP(5);
DELIMITER //
CREATE PROCEDURE ksleep() BEGIN SELECT 'before sleep' AS phase; DO SLEEP(5); SELECT 'after' AS phase; END //
DELIMITER ;
-- @kill-query-after 300
CALL ksleep();
SELECT 'alive again' AS s;
