"""test_capture.py - `slowtap --capture FILE` (issue 27, the capture half), checked with a
reader written here from docs/capture-format.md (zstd blocks inflated by the zstd command,
records decoded in Python), independent of slowtap's C decoder, and against what the clients
sent and received:

- a workload through slowtap: the corpus C client (libmariadb: text queries, prepared
  statements with integer, string and NULL parameters, a transaction, an error, LOAD DATA
  LOCAL, COM_CHANGE_USER), a raw-protocol client (a double, a datetime and a decimal
  parameter; text and binary result rows) and mysqlclient: every command the clients logged
  is in the capture once, in order, with its command byte, text, rows, affected rows and
  error; prepare ids match the executes' statement ids; parameters decode to the values sent;
  the LOAD DATA file's bytes are in a FILE record before its command; the change-user record
  names the user and schema only; each session has a SESSION and an END record; the row
  checksum equals FNV-1a 64 over the row packets' payloads the raw client received;
  `slowtap capture --dump` prints the same records; the file is mode 0600 and slowtap says it
  holds real values.
- the file cut inside its last block reads up to the last whole block (this reader and --dump).
- --capture-max-bytes: the file never passes the bound; one line says the capture stopped.
- POST /api/capture through `slowtap capture --http`: 409 while one runs, 415 without a JSON
  content type, a session already open gets a SESSION record with alive=1, --stop, GET status,
  the time bound, the metrics.
"""

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import mywire  # noqa: E402
import stmtwire  # noqa: E402

COM_INIT_DB, COM_QUERY, COM_CHANGE_USER = 0x02, 0x03, 0x11
COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_STMT_CLOSE = 0x16, 0x17, 0x19
KIND_CMD = {"query": COM_QUERY, "prepare": COM_STMT_PREPARE, "execute": COM_STMT_EXECUTE,
            "close": COM_STMT_CLOSE, "change_user": COM_CHANGE_USER}
FNV_INIT = 0xcbf29ce484222325


def fnv(data, h=FNV_INIT):
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


# --- the reader (docs/capture-format.md) ------------------------------------------------------

class Body:
    def __init__(self, b):
        self.b, self.pos = b, 0

    def u8(self):
        v = self.b[self.pos]
        self.pos += 1
        return v

    def var(self):
        v, shift = 0, 0
        for _ in range(10):
            x = self.u8()
            v |= (x & 0x7F) << shift
            shift += 7
            if not x & 0x80:
                if v >= 1 << 64:
                    raise ValueError("varint over 64 bits")
                return v
        raise ValueError("varint over 10 bytes")

    def svar(self):
        v = self.var()
        return (v >> 1) ^ -(v & 1)

    def str(self):
        n = self.var()
        if self.pos + n > len(self.b):
            raise ValueError("string past the body")
        s = self.b[self.pos:self.pos + n]
        self.pos += n
        return s

    def u64(self):
        v = struct.unpack_from("<Q", self.b, self.pos)[0]
        self.pos += 8
        return v


def parse_record(t, body):
    r = Body(body)
    if t == 1:
        d = {"type": "session", "session": r.var(), "t_us": r.svar(), "thread_id": r.var(),
             "client_caps": r.var(), "charset": r.u8()}
        fl = r.u8()
        d.update(alive=bool(fl & 1), sql_mode_set=bool(fl & 2), user=r.str(), schema=r.str(),
                 host=r.str(), sql_mode=r.str())
        return d
    if t == 2:
        d = {"type": "command", "session": r.var(), "seq": r.var(), "t_start_us": r.svar()}
        d["t_end_us"] = d["t_start_us"] + r.svar()
        d["cmd"] = r.u8()
        d["interrupted"] = bool(r.u8() & 1)
        d.update(text=r.str(), schema=r.str(), stmt_id=r.var(), prepare_id=r.var())
        params = []
        for _ in range(r.var()):
            ptype, fl = r.u8(), r.u8()
            params.append({"type": ptype, "unsigned": bool(fl & 1), "null": bool(fl & 2),
                           "long_data": bool(fl & 4), "value": r.str()})
        d["params"] = params
        d.update(err=r.var(), rows=r.var(), affected=r.var(), insert_id=r.var(),
                 warnings=r.var(), status=r.var(), checksum=r.u64())
        return d
    if t == 3:
        return {"type": "end", "session": r.var(), "t_us": r.svar()}
    if t == 4:
        return {"type": "file", "session": r.var(), "seq": r.var(), "data": r.str()}
    return None  # a type this reader does not know: skipped


def read_capture(data):
    """(created_us, records, blocks, end of the last whole block) of a capture's bytes."""
    assert data[:11] == b"SLOWTAPCAP\n", data[:11]
    version, flags, created = struct.unpack_from("<HHQ", data, 11)
    assert (version, flags) == (1, 0), (version, flags)
    pos, records, blocks = 23, [], 0
    while len(data) - pos >= 16:
        raw_len, zlen, checksum = struct.unpack_from("<IIQ", data, pos)
        if len(data) - pos - 16 < zlen:
            break  # cut short: whole or absent
        raw = subprocess.run(["zstd", "-d", "-c", "-q"], input=data[pos + 16:pos + 16 + zlen],
                             stdout=subprocess.PIPE, check=True, timeout=30).stdout
        # one frame with its content checksum (frame header descriptor bit 2), which the zstd
        # command verified; the header's third field is reserved
        zframe = data[pos + 16:pos + 16 + zlen]
        assert zframe[:4] == b"\x28\xb5\x2f\xfd" and zframe[4] & 0x04, "block at %d" % pos
        assert len(raw) == raw_len and checksum == 0, "block at %d" % pos
        off = 0
        while off < len(raw):
            r = Body(raw[off:])
            t, n = r.u8(), r.var()
            start = off + r.pos
            assert start + n <= len(raw), "record past its block"
            rec = parse_record(t, raw[start:start + n])
            if rec is not None:
                records.append(rec)
            off = start + n
        blocks += 1
        pos += 16 + zlen
    return created, records, blocks, pos


def read_capture_file(path):
    with open(path, "rb") as f:
        return read_capture(f.read())


def dump(path):
    """`slowtap capture --dump`: (exit status, records, stderr)."""
    p = subprocess.run([harness.slowtap_bin(), "capture", "--dump", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    return p.returncode, [json.loads(line) for line in p.stdout.splitlines()], p.stderr


def corpus_client():
    return os.path.join(os.path.dirname(harness.slowtap_bin()), "tests", "corpus",
                        "corpus_client")


def rows_of_text_result(packets):
    """The row packets of a text result (mywire.RawClient.query's packets, no DEPRECATE_EOF)."""
    eof = [i for i, p in enumerate(packets) if p[:1] == b"\xfe" and len(p) < 9]
    return packets[eof[0] + 1:eof[1]]


def lenenc(n):
    return bytes([n]) if n < 251 else b"\xfc" + struct.pack("<H", n)


SCRIPT = """CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(20), v DOUBLE);
INSERT INTO t (name, v) VALUES ('a', 1.5), ('b', NULL);
-- @bind 7 'seven' NULL
INSERT INTO t (id, name, v) VALUES (?, ?, ?);
-- @bind 1
SELECT id, name, v FROM t WHERE id >= ? ORDER BY id;
BEGIN;
UPDATE t SET v = 2.5 WHERE id = 1;
COMMIT;
SELECT nosuch FROM t;
LOAD DATA LOCAL INFILE 'cap_data.csv' INTO TABLE t FIELDS TERMINATED BY ',' (id, name);
SELECT COUNT(*) AS n FROM t;
-- @change-user app apppass {db}
SELECT CURRENT_USER() AS u;
"""
CSV = b"100,x\n101,y\t\xc3\xa9\n"


class CaptureWorkload(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.db = "cap_%d" % os.getpid()
        cls.srv.fresh_db(cls.db)
        cls.tmp = tempfile.mkdtemp(prefix="slowtap-cap-")
        cls.cap = os.path.join(cls.tmp, "w.cap")
        with open(os.path.join(cls.tmp, "cap_data.csv"), "wb") as f:
            f.write(CSV)
        with open(os.path.join(cls.tmp, "s.sql"), "w") as f:
            f.write(SCRIPT.format(db=cls.db))
        cls.cmdlog = os.path.join(cls.tmp, "cmd.log")
        cls.raw = {}
        with harness.Slowtap(args=["--capture", cls.cap]) as px:
            cls.umask_mode = os.stat(cls.cap).st_mode & 0o777
            p = subprocess.run([corpus_client(), "--mode", "text", "127.0.0.1", str(px.port),
                                "app", "apppass", cls.db, "s.sql", cls.cmdlog], cwd=cls.tmp,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=120)
            assert p.returncode == 0, p.stderr + p.stdout[-3000:]
            # the raw client: typed parameters, and the row packets as received
            c = mywire.RawClient(px.port, db=cls.db)
            c.login()
            cls.raw["text_rows"] = rows_of_text_result(c.query("SELECT id, name, v FROM t ORDER BY id"))
            sql = "SELECT ? AS d, ? AS dt, ? AS dec1, id, name, v FROM t WHERE id <= 7 ORDER BY id"
            sid, n, ncols = stmtwire.prepare(c, sql)
            cls.raw["sid"] = sid
            dt = struct.pack("<HBBBBB", 2026, 12, 7, 22, 45, 0)
            cls.raw["dt"] = dt
            body = (b"\x17" + struct.pack("<IBI", sid, 0, 1) + b"\x00\x01"
                    + struct.pack("<BBBBBB", 5, 0, 12, 0, 246, 0)
                    + struct.pack("<d", -2.25) + bytes([len(dt)]) + dt + lenenc(5) + b"12.50")
            c.send_packet(body, 0)
            _, first = c.read_packet()
            assert first[:1] not in (b"\xff", b"\x00"), first
            for _ in range(first[0] + 1):  # definitions and their EOF
                c.read_packet()
            rows = []
            while True:
                _, p = c.read_packet()
                if p[:1] == b"\xfe" and len(p) < 9:
                    break
                rows.append(p)
            cls.raw["bin_rows"] = rows
            stmtwire.close_stmt(c, sid)
            c.query("SELECT 1")  # the close has no answer: this one shows it went through
            c.close()
            # mysqlclient
            import MySQLdb
            m = MySQLdb.connect(host="127.0.0.1", port=px.port, user="app", passwd="apppass",
                                db=cls.db)
            cur = m.cursor()
            cur.execute("SELECT name FROM t WHERE id = %s", (100,))
            cls.raw["mysqldb"] = cur.fetchall()
            m.close()
            code = px.stop()
            cls.stderr = px.stderr()
            assert code == 0, "slowtap exited with %s:\n%s" % (code, cls.stderr[-3000:])
        with open(cls.cap, "rb") as f:
            cls.data = f.read()
        cls.created, cls.records, cls.blocks, cls.end = read_capture(cls.data)
        cls.cmds = [r for r in cls.records if r["type"] == "command"]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def session_cmds(self, sid):
        return [r for r in self.cmds if r["session"] == sid]

    def corpus_session(self):
        # the session whose first command is the corpus client's init command
        for r in self.records:
            if r["type"] == "session":
                cmds = self.session_cmds(r["session"])
                if any(c["text"].startswith(b"CREATE TABLE t ") for c in cmds):
                    return r, cmds
        self.fail("no session ran the corpus script: %r" % self.records[:5])

    def test_file_mode_and_notice(self):
        self.assertEqual(os.stat(self.cap).st_mode & 0o777, 0o600)
        self.assertEqual(self.umask_mode, 0o600)
        self.assertIn("it holds real values", self.stderr)
        self.assertIn("capture %s stopped" % self.cap, self.stderr)
        self.assertEqual(self.end, len(self.data), "the whole file is whole blocks")
        self.assertGreater(self.created, 0)

    def test_sessions_and_ends(self):
        sessions = [r for r in self.records if r["type"] == "session"]
        ends = {r["session"] for r in self.records if r["type"] == "end"}
        self.assertEqual(len(sessions), 3, sessions)  # corpus client, raw client, mysqlclient
        self.assertEqual(len({s["session"] for s in sessions}), 3)
        for s in sessions:
            self.assertEqual(s["user"], b"app")
            self.assertFalse(s["alive"])
            self.assertIn(s["session"], ends)
            self.assertGreater(s["thread_id"], 0)
            seqs = [c["seq"] for c in self.session_cmds(s["session"])]
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
        raw = [s for s in sessions if s["schema"] == self.db.encode()]
        self.assertTrue(raw, "the sessions that connected with a schema say it")

    def test_every_command_once(self):
        sess, cmds = self.corpus_session()
        with open(self.cmdlog) as f:
            sent = [line.rstrip("\n").split("\t") for line in f if not line.startswith("connect")]
        # the client's init command (mysql_options INIT_COMMAND) comes first
        self.assertEqual(cmds[0]["text"], b"SET SESSION long_query_time = 3600")
        got = cmds[1:]
        self.assertEqual(len(got), len(sent), [(c["cmd"], c["text"]) for c in got])
        for c, (kind, rows, err, head) in zip(got, sent):
            self.assertEqual(c["cmd"], KIND_CMD[kind], (c, kind, head))
            self.assertEqual(c["rows"], int(rows), (c, head))
            self.assertEqual(c["err"], int(err), (c, head))
            if kind in ("query", "prepare"):
                self.assertTrue(head and c["text"].startswith(head.encode()), (c, head))
            self.assertFalse(c["interrupted"])
            self.assertLessEqual(c["t_start_us"], c["t_end_us"])
        by_text = {c["text"]: c for c in got if c["cmd"] == COM_QUERY}
        self.assertEqual(by_text[b"INSERT INTO t (name, v) VALUES ('a', 1.5), ('b', NULL)"]
                         ["affected"], 2)
        self.assertEqual(by_text[b"INSERT INTO t (name, v) VALUES ('a', 1.5), ('b', NULL)"]
                         ["insert_id"], 1)
        self.assertEqual(by_text[b"SELECT nosuch FROM t"]["err"], 1054)
        upd = by_text[b"UPDATE t SET v = 2.5 WHERE id = 1"]
        self.assertEqual(upd["affected"], 1)
        self.assertTrue(upd["status"] & 0x0001, "SERVER_STATUS_IN_TRANS inside the transaction")
        self.assertFalse(by_text[b"COMMIT"]["status"] & 0x0001)

    def test_prepared_statements(self):
        _, cmds = self.corpus_session()
        prep = [c for c in cmds if c["cmd"] == COM_STMT_PREPARE]
        execs = [c for c in cmds if c["cmd"] == COM_STMT_EXECUTE]
        closes = [c for c in cmds if c["cmd"] == COM_STMT_CLOSE]
        self.assertEqual(len(prep), 2)
        self.assertEqual(len(execs), 2)
        self.assertEqual(len(closes), 2)
        for p, e, cl in zip(prep, execs, closes):
            self.assertGreater(p["prepare_id"], 0)
            self.assertEqual(e["stmt_id"], p["prepare_id"])
            self.assertEqual(cl["stmt_id"], p["prepare_id"])
        ins = execs[0]
        self.assertEqual(ins["affected"], 1)
        self.assertEqual(len(ins["params"]), 3)
        p0, p1, p2 = ins["params"]
        self.assertEqual(p0["type"], 8)  # LONGLONG
        self.assertEqual(struct.unpack("<q", p0["value"])[0], 7)
        self.assertIn(p1["type"], (253, 254, 15))
        self.assertEqual(p1["value"], b"seven")
        self.assertTrue(p2["null"])
        self.assertEqual(p2["value"], b"")
        sel = execs[1]
        self.assertEqual(sel["rows"], 3)
        self.assertEqual(struct.unpack("<q", sel["params"][0]["value"])[0], 1)
        self.assertNotEqual(sel["checksum"], 0)

    def test_raw_client_params_and_checksums(self):
        raw_sess = None
        for r in self.records:
            if r["type"] == "session":
                # statement ids are per connection: the corpus session's INSERT may have the
                # same id and three parameters too, so the raw client's text query decides
                cmds = self.session_cmds(r["session"])
                if any(c["cmd"] == COM_STMT_EXECUTE and c["stmt_id"] == self.raw["sid"]
                       and len(c["params"]) == 3 for c in cmds) and \
                        any(c["text"] == b"SELECT id, name, v FROM t ORDER BY id" for c in cmds):
                    self.assertIsNone(raw_sess, "one session is the raw client's")
                    raw_sess = r["session"]
        self.assertIsNotNone(raw_sess)
        cmds = self.session_cmds(raw_sess)
        text = [c for c in cmds if c["text"] == b"SELECT id, name, v FROM t ORDER BY id"][0]
        want = FNV_INIT
        for p in self.raw["text_rows"]:
            want = fnv(p, want)
        self.assertEqual(text["rows"], len(self.raw["text_rows"]))
        self.assertEqual(text["checksum"], want, "text rows: FNV-1a over the payloads received")
        ex = [c for c in cmds if c["cmd"] == COM_STMT_EXECUTE][0]
        d, dt, dec = ex["params"]
        self.assertEqual((d["type"], struct.unpack("<d", d["value"])[0]), (5, -2.25))
        self.assertEqual((dt["type"], dt["value"]), (12, self.raw["dt"]))
        self.assertEqual((dec["type"], dec["value"]), (246, b"12.50"))
        want = FNV_INIT
        for p in self.raw["bin_rows"]:
            want = fnv(p, want)
        self.assertEqual(ex["rows"], len(self.raw["bin_rows"]))
        self.assertGreater(ex["rows"], 1)
        self.assertEqual(ex["checksum"], want, "binary rows: FNV-1a over the payloads received")
        close = [c for c in cmds if c["cmd"] == COM_STMT_CLOSE]
        self.assertEqual([c["stmt_id"] for c in close], [self.raw["sid"]])
        # and the checksum changes with the rows: not a constant
        self.assertNotEqual(text["checksum"], ex["checksum"])

    def test_mysqlclient(self):
        self.assertEqual(self.raw["mysqldb"], (("x",),))
        q = [c for c in self.cmds if c["text"] == b"SELECT name FROM t WHERE id = 100"]
        self.assertEqual(len(q), 1)
        self.assertEqual(q[0]["rows"], 1)
        self.assertEqual(q[0]["checksum"], fnv(b"\x01x"))

    def test_load_data_file(self):
        sess, cmds = self.corpus_session()
        load = [c for c in cmds if c["text"].startswith(b"LOAD DATA LOCAL")][0]
        self.assertEqual(load["affected"], 2)
        files = [r for r in self.records if r["type"] == "file"]
        self.assertEqual(len(files), 1)
        self.assertEqual((files[0]["session"], files[0]["seq"]), (sess["session"], load["seq"]))
        self.assertEqual(files[0]["data"], CSV)
        i_file = self.records.index(files[0])
        i_cmd = self.records.index(load)
        self.assertLess(i_file, i_cmd, "the FILE record comes before its command")

    def test_change_user(self):
        _, cmds = self.corpus_session()
        cu = [c for c in cmds if c["cmd"] == COM_CHANGE_USER]
        self.assertEqual(len(cu), 1)
        self.assertEqual(cu[0]["text"], b"app")
        self.assertEqual(cu[0]["schema"], self.db.encode())
        self.assertEqual(cu[0]["err"], 0)
        self.assertNotIn(b"apppass", self.data)

    def test_dump_tool_agrees(self):
        code, recs, err = dump(self.cap)
        self.assertEqual(code, 0, err)
        self.assertEqual(len(recs), len(self.records))
        for a, b in zip(recs, self.records):
            self.assertEqual(a["type"], b["type"])
            if a["type"] == "command":
                self.assertEqual((a["session"], a["seq"], a["cmd"], a["rows"], a["err"]),
                                 (b["session"], b["seq"], b["cmd"], b["rows"], b["err"]))
                self.assertEqual(int(a["checksum"], 16), b["checksum"])
                self.assertEqual([bytes.fromhex(p["hex"]) for p in a["params"]],
                                 [p["value"] for p in b["params"]])
            if a["type"] == "file":
                self.assertEqual(bytes.fromhex(a["hex"]), b["data"])
        self.assertIn("%d blocks, %d records" % (self.blocks, len(self.records)), err)

    def test_cut_mid_block(self):
        _, _, blocks, end = read_capture(self.data)
        # the start of the last block: read the headers again
        pos, starts = 23, []
        while pos < len(self.data):
            starts.append(pos)
            pos += 16 + struct.unpack_from("<I", self.data, pos + 4)[0]
        self.assertEqual(len(starts), blocks)
        last = starts[-1]
        cut = self.data[:last + 16 + (len(self.data) - last - 16) // 2]
        _, recs_cut, blocks_cut, end_cut = read_capture(cut)
        _, recs_whole, _, _ = read_capture(self.data[:last])
        self.assertEqual(blocks_cut, blocks - 1)
        self.assertEqual(end_cut, last)
        self.assertEqual(recs_cut, recs_whole)
        path = os.path.join(self.tmp, "cut.cap")
        with open(path, "wb") as f:
            f.write(cut)
        code, recs, err = dump(path)
        self.assertEqual(code, 0, err)
        self.assertEqual(len(recs), len(recs_cut))
        self.assertIn("ends inside a block", err)
        # a corrupt block is not read past, and says so
        bad = bytearray(self.data)
        bad[starts[0] + 16 + 3] ^= 0x55
        with open(path, "wb") as f:
            f.write(bad)
        code, recs, err = dump(path)
        self.assertEqual(code, 1, err)
        self.assertEqual(recs, [])


class CaptureBounds(unittest.TestCase):
    def test_size_bound(self):
        tmp = tempfile.mkdtemp(prefix="slowtap-cap-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cap = os.path.join(tmp, "b.cap")
        bound = 20000
        with harness.Slowtap(args=["--capture", cap, "--capture-max-bytes", str(bound)]) as px:
            c = mywire.RawClient(px.port)
            c.login()
            line = "slowtap: capture %s stopped: the size bound" % cap
            deadline = time.monotonic() + 20
            n = 0
            while line not in px.stderr() and time.monotonic() < deadline and n < 5000:
                # incompressible texts, so that blocks are big
                c.query("SELECT '%s'" % os.urandom(60).hex())
                n += 1
                if n % 10 == 0:
                    time.sleep(0.06)  # a worker tick hands the buffer over
            c.close()
            self.assertIn(line, px.stderr())
            size = os.path.getsize(cap)
        self.assertLessEqual(size, bound)
        self.assertEqual(os.stat(cap).st_mode & 0o777, 0o600)
        _, records, blocks, end = read_capture_file(cap)
        self.assertEqual(end, size)
        self.assertGreater(len(records), 0)
        self.assertGreater(n, len([r for r in records if r["type"] == "command"]),
                           "the bound cut the capture short")

    def test_bad_options(self):
        for args in (["--capture-max-bytes", "12Q"], ["--capture-max-bytes", "-1"],
                     ["--capture-seconds", "x"]):
            p = subprocess.run([harness.slowtap_bin()] + args, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(args[0].lstrip("-"), p.stderr)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)

    def test_capture_command_usage(self):
        for args in (["--bogus"], ["--http", "127.0.0.1:1"], ["--seconds", "-3"], []):
            p = subprocess.run([harness.slowtap_bin(), "capture"] + args, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, args)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        p = subprocess.run([harness.slowtap_bin(), "capture", "--dump", "/etc/hostname"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("not a capture file", p.stderr)

    def test_refuses_to_overwrite(self):
        tmp = tempfile.mkdtemp(prefix="slowtap-cap-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "notes.txt")
        with open(path, "w") as f:
            f.write("not a capture\n")
        p = subprocess.run([harness.slowtap_bin(), "--capture", path, "--http", "off",
                            "--listen", "127.0.0.1:%d" % harness.free_port()],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("not a capture", p.stderr)
        with open(path) as f:
            self.assertEqual(f.read(), "not a capture\n")


def http_call(port, method, query="", body=None, ctype="application/json"):
    req = urllib.request.Request("http://127.0.0.1:%d/api/capture%s" % (port, query),
                                 data=body, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


class CaptureApi(unittest.TestCase):
    def test_api(self):
        tmp = tempfile.mkdtemp(prefix="slowtap-cap-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cap = os.path.join(tmp, "api.cap")
        hport = harness.free_port()
        with harness.Slowtap(args=["--http", "127.0.0.1:%d" % hport]) as px:
            harness.wait_port(hport, 10)
            code, st = http_call(hport, "GET")
            self.assertEqual((code, st["running"]), (200, False))
            early = mywire.RawClient(px.port)  # open before the capture starts
            early.login()
            early.query("SELECT 'before'")
            cli = [harness.slowtap_bin(), "capture", "--http", "127.0.0.1:%d" % hport]
            p = subprocess.run(cli + ["--file", cap, "--seconds", "60"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertTrue(json.loads(p.stdout)["running"])
            code, st = http_call(hport, "POST", body=json.dumps({"file": cap + "2"}).encode())
            self.assertEqual(code, 409, st)
            self.assertFalse(os.path.exists(cap + "2"))
            p = subprocess.run(cli + ["--file", cap + "3"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=30)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("409", p.stderr)
            code, _ = http_call(hport, "POST", query="?file=" + cap + "4", ctype=None)
            self.assertEqual(code, 415)
            code, _ = http_call(hport, "POST", body=b"{\"seconds\": \"x\"}")
            self.assertEqual(code, 400)
            early.query("SELECT 'alive'")
            late = mywire.RawClient(px.port)
            late.login()
            late.query("SELECT 'late'")
            late.close()
            early.close()
            time.sleep(0.2)  # the sessions' ends reach their worker's buffer
            p = subprocess.run(cli + ["--stop"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            st = json.loads(p.stdout)
            self.assertFalse(st["running"])
            self.assertIn("POST /api/capture", st["stopped"])
            self.assertGreater(st["records"], 0)
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % hport, timeout=10) as r:
                metrics = r.read().decode()
            rec_total = [line for line in metrics.splitlines()
                         if line.startswith("slowtap_capture_records_total ")]
            self.assertEqual(rec_total, ["slowtap_capture_records_total %d" % st["records"]])
            self.assertIn("slowtap_capture_dropped_total 0", metrics)
            # the time bound
            code, st = http_call(hport, "POST",
                                 body=json.dumps({"file": cap + "5", "seconds": 1}).encode())
            self.assertEqual((code, st["running"], st["seconds"]), (200, True, 1))
            deadline = time.monotonic() + 15
            while st["running"] and time.monotonic() < deadline:
                time.sleep(0.2)
                _, st = http_call(hport, "GET")
            self.assertFalse(st["running"])
            self.assertIn("time bound", st["stopped"])
            self.assertIn("capture %s stopped: the time bound" % (cap + "5"), px.stderr())
        _, records, _, _ = read_capture_file(cap)
        sessions = {r["session"]: r for r in records if r["type"] == "session"}
        texts = {r["text"]: r for r in records if r["type"] == "command"}
        self.assertNotIn(b"SELECT 'before'", texts)
        alive = sessions[texts[b"SELECT 'alive'"]["session"]]
        late = sessions[texts[b"SELECT 'late'"]["session"]]
        self.assertTrue(alive["alive"])
        self.assertFalse(late["alive"])
        self.assertEqual(alive["user"], b"app")
        ends = {r["session"] for r in records if r["type"] == "end"}
        self.assertIn(late["session"], ends)
        self.assertIn(alive["session"], ends)


if __name__ == "__main__":
    unittest.main()
