// matrix_node.js - the Node.js clients of the client matrix (tests/integration/test_matrix_node.py):
// the `mariadb` connector with pipelining on (queries and prepare+execute sent without waiting,
// execute() binary prepared statements, batch() bulk inserts) or `mysql2` (execute() prepared
// statements); binds ints, floats, strings with quotes/backslashes/newlines, NULL, dates and a
// blob, and prints a deterministic transcript so that a direct run and a run through slowtap
// compare. Modules are resolved from tests/integration/node/node_modules.
// Usage: node matrix_node.js mariadb|mysql2 HOST PORT USER PASSWORD DB
'use strict';

const path = require('path');
const nodeDir = path.join(__dirname, '..', 'node');
const need = (m) => require(require.resolve(m, { paths: [nodeDir] }));

const [mode, host, port, user, password, database] = process.argv.slice(2);
const STR = "O'Reilly \\ back\\slash \"dq\"\nnew line";
const BLOB = Buffer.from([0, 1, 0xff, 0x20, 0x62, 0x69, 0x6e, 0x20, 0x27, 0x5c]);
const ROW1 = [1, -42, 3.25, STR, null, '2024-02-29', '2024-02-29 13:14:15', BLOB];
const ROW2 = [2, '9007199254740993', -0.5, 'tab\there', 'notnull', '1999-12-31',
  '2000-01-01 00:00:00', BLOB];
const CREATE = (t) => `CREATE TABLE ${t} (id INT PRIMARY KEY, i BIGINT, f DOUBLE, s TEXT,` +
  ' n VARCHAR(10), d DATE, dt DATETIME, b BLOB)';
const INSERT = (t) => `INSERT INTO ${t} (id, i, f, s, n, d, dt, b) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`;
const SELECT = (t) => `SELECT id, i, f, s, n, d, dt, HEX(b) AS hb FROM ${t} WHERE id = ? OR s = ?` +
  ' ORDER BY id';

function show(label, v) {
  const s = JSON.stringify(v, (k, x) => (typeof x === 'bigint' ? x.toString() + 'n' : x));
  console.log(label + ': ' + s);
}

// rows only: drop driver-specific metadata
function rows(r) {
  return Array.isArray(r) ? r.map((x) => (Array.isArray(x) ? x : Object.assign({}, x))) : r;
}

async function runMariadb() {
  const mariadb = need('mariadb');
  const conn = await mariadb.createConnection({
    host, port: Number(port), user, password, database, pipelining: true, dateStrings: true,
    bigIntAsNumber: false, supportBigNumbers: true, bigNumberStrings: true, connectTimeout: 20000,
  });
  const t = 'm_node_mariadb';
  await conn.query(`DROP TABLE IF EXISTS ${t}`);
  await conn.query(CREATE(t));
  // pipelined: several commands written before the first answer is read
  const piped = await Promise.all([
    conn.query('SELECT 1 AS one'),
    conn.query("SELECT 'two' AS two, ? AS p", ['client-side']),
    conn.execute(INSERT(t), ROW1),
    conn.execute(INSERT(t), ROW2),
    conn.query('SELECT 3 AS three'),
  ]);
  show('pipelined', piped.map((r) => (Array.isArray(r) ? rows(r) : r.affectedRows)));
  show('select', rows(await conn.execute(SELECT(t), [1, 'tab\there'])));
  // prepare once, execute many
  const st = await conn.prepare(SELECT(t));
  show('prepared 1', rows(await st.execute([2, 'none'])));
  show('prepared 2', rows(await st.execute([99, STR])));
  st.close();
  // batch(): COM_STMT_BULK_EXECUTE on MariaDB
  const b = await conn.batch(`INSERT INTO ${t} (id, s, n) VALUES (?, ?, ?)`,
    [[10, 'b1', null], [11, "b'2", 'x'], [12, 'b3', null]]);
  show('batch affected', b.affectedRows);
  try {
    await conn.execute('SELECT * FROM m_no_such_table WHERE id = ?', [1]);
    show('error', 'none');
  } catch (e) {
    show('error', e.errno);
  }
  show('text', rows(await conn.query(`SELECT id, s, HEX(b) AS hb, n FROM ${t} ORDER BY id`)));
  await conn.end();
}

async function runMysql2() {
  const mysql = need('mysql2/promise');
  const conn = await mysql.createConnection({
    host, port: Number(port), user, password, database, dateStrings: true,
    supportBigNumbers: true, bigNumberStrings: true, connectTimeout: 20000,
  });
  const t = 'm_node_mysql2';
  await conn.query(`DROP TABLE IF EXISTS ${t}`);
  await conn.query(CREATE(t));
  const [r1] = await conn.execute(INSERT(t), ROW1);
  const [r2] = await conn.execute(INSERT(t), ROW2);
  show('inserted', [r1.affectedRows, r2.affectedRows]);
  const [sel] = await conn.execute(SELECT(t), [1, 'tab\there']);
  show('select', rows(sel));
  const [sel2] = await conn.execute(SELECT(t), [2, 'none']);
  show('select 2', rows(sel2));
  try {
    await conn.execute('SELECT * FROM m_no_such_table WHERE id = ?', [1]);
    show('error', 'none');
  } catch (e) {
    show('error', e.errno);
  }
  const [txt] = await conn.query(`SELECT id, s, HEX(b) AS hb FROM ${t} ORDER BY id`);
  show('text', rows(txt));
  await conn.end();
}

(mode === 'mariadb' ? runMariadb() : mode === 'mysql2' ? runMysql2()
  : Promise.reject(new Error('mode must be mariadb or mysql2')))
  .then(() => console.log('END'))
  .catch((e) => {
    console.log('FAIL ' + (e && e.stack ? e.stack : e));
    process.exit(1);
  });
