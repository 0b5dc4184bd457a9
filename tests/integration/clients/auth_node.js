// auth_node.js - the Node.js side of tests/integration/test_auth.py: the `mariadb` connector logs
// in as an ed25519 user (an auth switch from the connector's first plugin), then changes user
// with COM_CHANGE_USER to a user whose first method fails and whose second is ed25519 (two
// auth switches inside the command phase), then with a wrong password, and prints a
// deterministic transcript so that a direct run and a run through slowtap compare.
// Usage: node auth_node.js HOST PORT DB ED_USER ED_PASS CHAIN_USER CHAIN_PASS [tls]
'use strict';

const path = require('path');
const nodeDir = path.join(__dirname, '..', 'node');
const need = (m) => require(require.resolve(m, { paths: [nodeDir] }));

const [host, port, database, edUser, edPass, chainUser, chainPass, tls] = process.argv.slice(2);

async function who(conn, tag) {
  const r = await conn.query(`SELECT CURRENT_USER() AS u, DATABASE() AS d, '${tag}' AS tag`);
  console.log(`${tag}: ${r[0].u} ${r[0].d}`);
}

// The pinned connector (3.4.7: the newest that runs on Debian 12's Node.js 18) hands changeUser's
// reject to authFailHandler as its first argument, so the server's ERR to a COM_CHANGE_USER
// never settles the promise (3.5.4 fixed it; it needs Node.js 20). Give it 3.5.4's handling:
// the connection is closed and the promise rejects with the server's error. Only the client's
// error delivery changes; what goes over the wire is the connector's own.
function fixChangeUserError() {
  const Connection = need('mariadb/lib/connection.js');
  const orig = Connection.prototype.authFailHandler;
  Connection.prototype.authFailHandler = function (rejectOrErr, err) {
    if (typeof rejectOrErr !== 'function') {
      return orig.call(this, rejectOrErr);
    }
    if (err && err.fatal) {
      this.fatalError(err, true);
    }
    return rejectOrErr(err);
  };
}

async function main() {
  const mariadb = need('mariadb');
  fixChangeUserError();
  const opts = { host, port: Number(port), user: edUser, password: edPass, database,
    connectTimeout: 20000 };
  if (tls === 'tls') {
    // slowtap's generated self-signed certificate: encryption without verification here. The
    // connector refuses to go on in plaintext when the server offers no TLS.
    opts.ssl = { rejectUnauthorized: false };
  }
  const conn = await mariadb.createConnection(opts);
  await who(conn, 'ed25519 login');
  await conn.changeUser({ user: chainUser, password: chainPass, database });
  await who(conn, 'changed to chain');
  await conn.changeUser({ user: edUser, password: edPass, database });
  await who(conn, 'changed back');
  try {
    await conn.changeUser({ user: edUser, password: edPass + '-wrong', database });
    console.log('wrong password: accepted');
  } catch (e) {
    console.log(`wrong password: error ${e.errno} ${e.sqlState}`);
  }
  try {
    await conn.end();
  } catch (e) {
    conn.destroy();
  }
  console.log('END');
}

main().catch((e) => {
  console.log(`error: ${e.errno} ${e.sqlState} ${e.text || e.message}`);
  process.exit(1);
});
