-- @clients c-text
-- packets: max_allowed_packet exceeded on either side: a query longer than the server's
-- limit (the server answers ER_NET_PACKET_TOO_LARGE and closes), a result value longer than
-- the server's limit (NULL with a warning), and a row longer than the client's own limit
-- (the client gives up with CR_NET_PACKET_TOO_LARGE).
SELECT REPEAT('a', @@global.max_allowed_packet + 1) IS NULL AS too_big_for_server;
-- @oversize-query
-- (no statement on the closed connection here: whether the next one gets 2006 or 2013
-- depends on timing even directly)
-- @reconnect
SELECT 'reconnected' AS s;
-- @client-max-packet 1048576
SELECT REPEAT('b', 1000000) IS NOT NULL AS fits;
SELECT LENGTH(REPEAT('c', 900000)) AS len, REPEAT('c', 900000) AS fits_too;
SELECT REPEAT('d', 2000000) AS too_big_for_client;
SELECT 'after client limit' AS s;
-- @client-max-packet 0
SELECT 'back to normal' AS s;
