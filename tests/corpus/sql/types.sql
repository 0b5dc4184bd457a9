-- @clients default cursor
-- types: every column type, NULLs and zero-length values, through both protocols
-- (the C client's ps and cursor modes run these SELECTs prepared).
CREATE TABLE ty (
  id INT PRIMARY KEY,
  c_tiny TINYINT, c_utiny TINYINT UNSIGNED, c_small SMALLINT, c_usmall SMALLINT UNSIGNED,
  c_med MEDIUMINT, c_int INT, c_uint INT UNSIGNED ZEROFILL, c_big BIGINT,
  c_ubig BIGINT UNSIGNED, c_dec DECIMAL(20,6), c_float FLOAT, c_double DOUBLE,
  c_bit BIT(10), c_bool BOOLEAN,
  c_date DATE, c_time TIME(3), c_dt DATETIME(6), c_ts TIMESTAMP(2) NULL DEFAULT NULL,
  c_year YEAR,
  c_char CHAR(5), c_varchar VARCHAR(50), c_bin BINARY(4), c_varbin VARBINARY(10),
  c_tinytext TINYTEXT, c_text TEXT, c_medtext MEDIUMTEXT, c_longtext LONGTEXT,
  c_tinyblob TINYBLOB, c_blob BLOB, c_medblob MEDIUMBLOB, c_longblob LONGBLOB,
  c_enum ENUM('red', 'green', ''), c_set SET('a', 'b', 'c'),
  c_json JSON, c_inet6 INET6, c_uuid UUID, c_inet4 INET4,
  c_geom POINT, c_latin1 VARCHAR(10) CHARACTER SET latin1, c_ucs2 VARCHAR(10) CHARACTER SET ucs2
);
INSERT INTO ty VALUES (1, -128, 255, -32768, 65535, -8388608, -2147483648, 4294967295,
  -9223372036854775808, 18446744073709551615, -12345678901234.123456, 3.25, -2.5e-300,
  b'1010101010', TRUE, '2024-02-29', '-838:59:59.999', '9999-12-31 23:59:59.999999',
  '2038-01-19 03:14:07.99', 2155, 'ab', 'varchar é ü 中', X'00FF0A0D', X'DEADBEEF',
  'tiny', 'text', 'medium', 'long', X'01', X'0203', X'', X'FF00FF', 'green', 'a,c',
  '{"k": [1, 2, null], "s": "\\u00e9"}', '2001:db8::1', '123e4567-e89b-12d3-a456-426614174000',
  '192.0.2.1', POINT(1.5, -2), 'café', 'ucs2');
INSERT INTO ty (id) VALUES (2);
INSERT INTO ty VALUES (3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, b'0', FALSE, '0000-00-00',
  '00:00:00', '0000-00-00 00:00:00', NULL, 0, '', '', '', '', '', '', '', '', '', '', '', '',
  '', '', '{}', '::', '00000000-0000-0000-0000-000000000000', '0.0.0.0', POINT(0, 0), '', '');
SELECT * FROM ty ORDER BY id;
SELECT id, c_int + 0.5 AS expr, c_big DIV 2 AS d, CAST(c_dt AS DATE) AS cast_date,
  CONCAT(c_char, '|') AS cc, LENGTH(c_longblob) AS lb, JSON_UNQUOTE(JSON_EXTRACT(c_json, '$.k[0]')) AS j
  FROM ty ORDER BY id;
SELECT NULL, '', 0, 0.0, X'', _binary'', CAST(NULL AS CHAR), CAST('' AS BINARY),
  REPEAT('a', 0), NOW() IS NOT NULL AS now_ok;
SELECT 1 AS a, NULL AS b UNION ALL SELECT NULL, '' UNION ALL SELECT '', NULL;
SELECT * FROM ty WHERE 1 = 0;
SELECT c_varchar, HEX(c_varchar), c_latin1, HEX(c_latin1), c_ucs2 FROM ty WHERE id = 1;
