#!/usr/bin/python3
"""
capture.py - records real MySQL/MariaDB wire traffic for slowtap's protocol tests.

A loopback relay sits between a real client and a real MariaDB and writes every packet of both
directions, in order, to a text capture file:

    # comment
    C <seq> <len> <hex payload>     a packet the client sent
    S <seq> <len> <hex payload>     a packet the server sent

Usage:
    capture.py relay --upstream PORT --out FILE [--listen PORT]
        relay one connection and write its capture
    capture.py scenarios --upstream PORT --outdir DIR [--socket SOCK]
        run the built-in client scenarios (mariadb CLI, PyMySQL, raw commands, PHP mysqli)
        and write DIR/<scenario>.cap for each
    capture.py corpus CAPFILE DIR --kind framer|handshake|resp
        turn a capture into fuzz-corpus files (formats match tests/fuzz/fuzz_*.c)

The server must already run (mariadb-install-db --auth-root-authentication-method=socket and
mariadbd --no-defaults --local-infile=1 on a temp datadir and a free port; drop the anonymous
users), with user app/apppass, database appdb, table
appdb.t(id, name, v), procedure appdb.p2() returning two result sets, and user ed identified
via ed25519 with password edpass.
"""
import argparse
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time


def split_packets(buf):
    """Splits a byte stream into (seq, payload) physical packets and the unparsed tail."""
    out = []
    pos = 0
    while len(buf) - pos >= 4:
        n = buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16)
        if len(buf) - pos - 4 < n:
            break
        out.append((buf[pos + 3], bytes(buf[pos + 4:pos + 4 + n])))
        pos += 4 + n
    return out, buf[pos:]


class Relay:
    """Accepts one client on a loopback port and relays it to the upstream server, recording
    each direction's packets in arrival order."""

    def __init__(self, upstream_port, listen_port=0):
        self.upstream_port = upstream_port
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", listen_port))
        self.lsock.listen(1)
        self.port = self.lsock.getsockname()[1]
        self.records = []  # (direction, seq, payload)
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _pump(self, src, dst, direction):
        pending = b""
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            with self.lock:
                pending += data
                pkts, pending = split_packets(pending)
                for seq, payload in pkts:
                    self.records.append((direction, seq, payload))
            try:
                dst.sendall(data)
            except OSError:
                return

    def _run(self):
        cli, _ = self.lsock.accept()
        srv = socket.create_connection(("127.0.0.1", self.upstream_port))
        t1 = threading.Thread(target=self._pump, args=(cli, srv, "C"), daemon=True)
        t2 = threading.Thread(target=self._pump, args=(srv, cli, "S"), daemon=True)
        t1.start()
        t2.start()
        t1.join()
        t2.join()
        cli.close()
        srv.close()

    def wait(self, timeout=10):
        self.thread.join(timeout)

    def write(self, path, comment):
        with open(path, "w") as f:
            for line in comment.splitlines():
                f.write("# " + line + "\n")
            for d, seq, payload in self.records:
                f.write("%s %d %d %s\n" % (d, seq, len(payload), payload.hex()))


def read_cap(path):
    recs = []
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            d, seq, n, *hx = line.split()
            payload = bytes.fromhex(hx[0]) if hx else b""
            assert len(payload) == int(n)
            recs.append((d, int(seq), payload))
    return recs


# ---- raw command helpers over a PyMySQL connection's socket ----

def raw_cmd(conn, payload, quiet=0.3, expect_reply=True):
    """Sends `payload` as a command packet (seq 0) and drains whatever the server answers
    until it is quiet for `quiet` seconds. Returns the reply packets."""
    sock = conn._sock
    sock.sendall(struct.pack("<I", len(payload))[:3] + b"\x00" + payload)
    if not expect_reply:
        time.sleep(0.1)
        return []
    buf = b""
    sock.settimeout(quiet)
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                break
            buf += d
    except socket.timeout:
        pass
    sock.settimeout(None)
    pkts, _ = split_packets(buf)
    return pkts


def stmt_id_of(reply):
    return struct.unpack("<I", reply[0][1][1:5])[0]


def execute_payload(stmt_id, flags, param_type=None, param_value=b""):
    p = b"\x17" + struct.pack("<IBI", stmt_id, flags, 1)
    if param_type is not None:
        p += b"\x00" + b"\x01" + struct.pack("<H", param_type) + param_value
    return p


def raw_session(port, deprecate_eof):
    import pymysql
    from pymysql.constants import CLIENT
    flag = CLIENT.DEPRECATE_EOF if deprecate_eof else 0
    conn = pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                           database="appdb", client_flag=flag, autocommit=None)
    raw_cmd(conn, b"\x04t\x00")                      # COM_FIELD_LIST t
    raw_cmd(conn, b"\x09")                           # COM_STATISTICS
    raw_cmd(conn, b"\x0e")                           # COM_PING
    raw_cmd(conn, b"\x02appdb")                      # COM_INIT_DB
    r = raw_cmd(conn, b"\x16SELECT id, name, v FROM t WHERE id > ?")  # COM_STMT_PREPARE
    sid = stmt_id_of(r)
    # COM_STMT_EXECUTE, no cursor, param LONGLONG 0
    raw_cmd(conn, execute_payload(sid, 0, 0x08, struct.pack("<q", 0)))
    # COM_STMT_EXECUTE with CURSOR_TYPE_READ_ONLY, then two COM_STMT_FETCH
    raw_cmd(conn, execute_payload(sid, 1, 0x08, struct.pack("<q", 0)))
    raw_cmd(conn, b"\x1c" + struct.pack("<II", sid, 2))
    raw_cmd(conn, b"\x1c" + struct.pack("<II", sid, 2))
    raw_cmd(conn, b"\x1a" + struct.pack("<I", sid))  # COM_STMT_RESET
    raw_cmd(conn, b"\x18" + struct.pack("<IH", sid, 0) + b"abc", expect_reply=False)
    raw_cmd(conn, b"\x19" + struct.pack("<I", sid), expect_reply=False)  # COM_STMT_CLOSE
    r = raw_cmd(conn, b"\x16DO 1")                   # 0 params, 0 columns
    sid = stmt_id_of(r)
    raw_cmd(conn, execute_payload(sid, 0))
    r = raw_cmd(conn, b"\x16UPDATE t SET v = v WHERE name = ?")  # params, no columns
    sid = stmt_id_of(r)
    raw_cmd(conn, execute_payload(sid, 0, 0xfe, b"\x03two"))
    raw_cmd(conn, b"\x1b\x00\x00")                   # COM_SET_OPTION multi-statements on
    raw_cmd(conn, b"\x03SELECT 1 AS a; SELECT name FROM t WHERE name = 'x'; DO 1")
    raw_cmd(conn, b"\x03SELECT 1; SELECT * FROM nosuchtable; SELECT 2")
    raw_cmd(conn, b"\x1f")                           # COM_RESET_CONNECTION
    change_user_switch(conn)
    raw_cmd(conn, b"\x01", expect_reply=False)       # COM_QUIT
    conn._sock.close()


def change_user_switch(conn):
    """COM_CHANGE_USER naming a plugin the server does not use for the user, so the server
    answers with an auth switch request; answered with the mysql_native_password scramble."""
    from pymysql import _auth
    from pymysql.constants import CLIENT
    p = b"\x11app\x00" + b"\x00" + b"appdb\x00" + struct.pack("<H", 45)
    p += b"caching_sha2_password\x00"
    if conn.client_flag & CLIENT.CONNECT_ATTRS:
        attrs = b"\x0c_client_name\x07capture"
        p += bytes([len(attrs)]) + attrs
    r = raw_cmd(conn, p)
    seq, sw = r[0]
    salt = sw[sw.index(b"\x00") + 1:][:20]
    resp = _auth.scramble_native_password(b"apppass", salt)
    conn._sock.sendall(struct.pack("<I", len(resp))[:3] + bytes([seq + 1]) + resp)
    time.sleep(0.3)


def run_cli(port, args, stdin=None):
    cmd = ["mariadb", "--no-defaults", "-h127.0.0.1", "-P%d" % port, "--skip-ssl"] + args
    subprocess.run(cmd, input=stdin, check=False, capture_output=True, timeout=20)


def scenarios(port, sock_path):
    """name -> (description, function(relay_port))."""
    import pymysql
    from pymysql.constants import CLIENT

    def cli_select(p):
        run_cli(p, ["-uapp", "-papppass", "appdb", "-e",
                    "SELECT id, name, v FROM t WHERE id < 3"])

    def cli_multi(p):
        run_cli(p, ["-uapp", "-papppass", "appdb"],
                stdin=b"DELIMITER //\nSELECT 1 AS a; SELECT name FROM t WHERE v > 1; DO 1//\n")

    def cli_call(p):
        run_cli(p, ["-uapp", "-papppass", "appdb", "-e", "CALL p2()"])

    def cli_err(p):
        run_cli(p, ["-uapp", "-papppass", "appdb", "-e", "SELECT * FROM nosuchtable"])

    def cli_ed25519(p):
        run_cli(p, ["-ued", "-pedpass", "-e", "SELECT 1"])

    def cli_infile(p):
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as f:
            f.write("10\tten\t10.5\n11\televen\t\\N\n")
        run_cli(p, ["-uapp", "-papppass", "appdb", "--local-infile=1", "-e",
                    "LOAD DATA LOCAL INFILE '%s' INTO TABLE t; DELETE FROM t WHERE id >= 10"
                    % f.name])
        os.unlink(f.name)

    def cli_nodb(p):
        run_cli(p, ["-uapp", "-papppass", "-e", "SELECT 1"])

    def py_session(p):
        conn = pymysql.connect(host="127.0.0.1", port=p, user="app", password="apppass",
                               database="appdb", local_infile=True,
                               client_flag=CLIENT.MULTI_STATEMENTS)
        cur = conn.cursor()
        cur.execute("SELECT id, name, v FROM t ORDER BY id")
        cur.fetchall()
        cur.execute("SELECT name FROM t WHERE v > 1")     # no index used
        cur.fetchall()
        cur.execute("SELECT 1 AS a; SELECT 'x' AS b, 2 AS c; DO 1")
        while cur.nextset():
            pass
        cur.execute("CALL p2()")
        while cur.nextset():
            pass
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as f:
            f.write("20\ttwenty\t20.5\n21\ttwentyone\t\\N\n")
        cur.execute("LOAD DATA LOCAL INFILE '%s' INTO TABLE t" % f.name)
        os.unlink(f.name)
        cur.execute("DELETE FROM t WHERE id >= 20")
        conn.commit()
        try:
            cur.execute("SELECT * FROM nosuchtable")
        except pymysql.MySQLError:
            pass
        conn.ping(reconnect=False)
        conn.select_db("appdb")
        conn.close()

    def py_nodb(p):
        conn = pymysql.connect(host="127.0.0.1", port=p, user="app", password="apppass")
        conn.close()

    def py_raw(p):
        raw_session(p, False)

    def py_raw_deprecate_eof(p):
        raw_session(p, True)

    def php_change_user(p):
        code = (
            "$m = new mysqli('127.0.0.1', 'app', 'apppass', 'appdb', %d);"
            "$m->change_user('app', 'apppass', 'appdb');"
            "$m->query('SELECT 1');"
            "$s = $m->prepare('SELECT id, name, v FROM appdb.t WHERE id > ?');"
            "$id = 0; $s->bind_param('i', $id);"
            "$s->attr_set(MYSQLI_STMT_ATTR_CURSOR_TYPE, MYSQLI_CURSOR_TYPE_READ_ONLY);"
            "$s->attr_set(MYSQLI_STMT_ATTR_PREFETCH_ROWS, 2);"
            "$s->execute(); $r = $s->get_result(); while ($r->fetch_row()) {}"
            "$s->close(); $m->close();" % p)
        subprocess.run(["php", "-r", code], check=False, capture_output=True, timeout=20)

    return {
        "cli_select": ("mariadb CLI (libmariadb, DEPRECATE_EOF), db appdb, SELECT", cli_select),
        "cli_multi": ("mariadb CLI, multi-statement chain", cli_multi),
        "cli_call": ("mariadb CLI, CALL p2() -> two result sets + OK", cli_call),
        "cli_err": ("mariadb CLI, query on a missing table -> ERR", cli_err),
        "cli_ed25519": ("mariadb CLI as user ed (ed25519): auth switch", cli_ed25519),
        "cli_infile": ("mariadb CLI, LOAD DATA LOCAL INFILE", cli_infile),
        "cli_nodb": ("mariadb CLI without a default schema", cli_nodb),
        "py_session": ("PyMySQL (no DEPRECATE_EOF): selects, multi, CALL, infile, ERR, "
                       "ping, init_db", py_session),
        "py_nodb": ("PyMySQL login without a schema", py_nodb),
        "py_raw": ("PyMySQL login, then raw commands: FIELD_LIST, STATISTICS, PING, INIT_DB, "
                   "STMT_PREPARE/EXECUTE/cursor/FETCH/RESET/LONG_DATA/CLOSE, SET_OPTION, "
                   "multi with ERR, RESET_CONNECTION, CHANGE_USER with auth switch", py_raw),
        "py_raw_deprecate_eof": ("as py_raw with CLIENT_DEPRECATE_EOF", py_raw_deprecate_eof),
        "php_change_user": ("PHP mysqli (mysqlnd): COM_CHANGE_USER, prepared statement with a "
                            "read-only cursor", php_change_user),
    }


def cmd_scenarios(args):
    sc = scenarios(args.upstream, args.socket)
    os.makedirs(args.outdir, exist_ok=True)
    for name, (desc, fn) in sc.items():
        if args.only and name not in args.only:
            continue
        relay = Relay(args.upstream)
        fn(relay.port)
        relay.wait()
        out = os.path.join(args.outdir, name + ".cap")
        relay.write(out, "%s: %s\ncaptured by tests/tools/capture.py against %s" %
                    (name, desc, args.server))
        print("%s: %d packets" % (out, len(relay.records)))


def cmd_relay(args):
    relay = Relay(args.upstream, args.listen)
    print("listening on 127.0.0.1:%d" % relay.port, flush=True)
    relay.wait(timeout=None)
    relay.write(args.out, "relay capture")


def frame(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq & 0xff]) + payload


def cmd_corpus(args):
    """framer: the whole server stream; handshake: 1 byte kind (0 greeting, 1 hsresp, 2 change
    user) + payload; resp: per command in the capture: 1 byte command, 1 byte caps selector
    (bit0 DEPRECATE_EOF, bit1 CACHE_METADATA, bit2 MULTI), then the server's (and client's,
    interleaved with a 0xC0 prefix frame) packets framed normally."""
    recs = read_cap(args.capfile)
    base = os.path.splitext(os.path.basename(args.capfile))[0]
    os.makedirs(args.dir, exist_ok=True)
    n = 0

    def put(name, data):
        nonlocal n
        with open(os.path.join(args.dir, "%s_%s" % (base, name)), "wb") as f:
            f.write(data)
        n += 1

    if args.kind == "framer":
        put("server", b"".join(frame(s, p) for d, s, p in recs if d == "S"))
        put("client", b"".join(frame(s, p) for d, s, p in recs if d == "C"))
    elif args.kind == "handshake":
        put("greeting", b"\x00" + recs[0][2])
        put("hsresp", b"\x01" + recs[1][2])
        for i, (d, s, p) in enumerate(recs):
            if d == "C" and s == 0 and p[:1] == b"\x11":
                put("chuser%d" % i, b"\x02" + p)
    elif args.kind == "resp":
        caps_sel = args.caps
        # skip the connection phase: up to the first server OK after the handshake response
        i = 2
        while i < len(recs) and not (recs[i][0] == "S" and recs[i][2][:1] in (b"\x00", b"\xff")):
            i += 1
        i += 1
        while i < len(recs):
            d, s, p = recs[i]
            if d != "C" or s != 0:
                i += 1
                continue
            cmd = p[0]
            j = i + 1
            body = b""
            while j < len(recs) and not (recs[j][0] == "C" and recs[j][1] == 0):
                dj, sj, pj = recs[j]
                body += (b"\xc0" if dj == "C" else b"") + frame(sj, pj)
                j += 1
            put("cmd%02d_%02x" % (i, cmd), bytes([cmd, caps_sel]) + body)
            i = j
    print("%d corpus files" % n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("relay")
    r.add_argument("--upstream", type=int, required=True)
    r.add_argument("--listen", type=int, default=0)
    r.add_argument("--out", required=True)
    s = sub.add_parser("scenarios")
    s.add_argument("--upstream", type=int, required=True)
    s.add_argument("--outdir", required=True)
    s.add_argument("--socket")
    s.add_argument("--server", default="MariaDB")
    s.add_argument("--only", nargs="*")
    c = sub.add_parser("corpus")
    c.add_argument("capfile")
    c.add_argument("dir")
    c.add_argument("--kind", choices=["framer", "handshake", "resp"], required=True)
    c.add_argument("--caps", type=int, default=0)
    args = ap.parse_args()
    {"relay": cmd_relay, "scenarios": cmd_scenarios, "corpus": cmd_corpus}[args.cmd](args)


if __name__ == "__main__":
    main()
