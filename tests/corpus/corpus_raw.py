#!/usr/bin/python3
"""corpus_raw.py - the transparency corpus's wire-level client: it prints every packet of the
server's responses byte for byte, so that a difference no client library would show (a
status flag in an intermediate EOF, a warning count, a split packet) still shows.

usage: corpus_raw.py [--deprecate-eof] [--ps] [--cursor] HOST PORT USER PASSWORD DB SCRIPT

PyMySQL does the handshake and authentication (asking for CLIENT_DEPRECATE_EOF when told to;
PyMySQL itself never asks for it); after that this program writes commands and reads packets
on the socket itself. Each statement is sent as COM_QUERY, or with --ps as COM_STMT_PREPARE +
COM_STMT_EXECUTE (no cursor; `-- @bind` values as LONGLONG / STRING / NULL, other parameters
NULL) + COM_STMT_CLOSE, falling back to COM_QUERY when the server cannot prepare it (1295).
LOAD DATA LOCAL file requests are answered with the file (cwd) or, after `-- @local-infile 0`
or for a missing file, with an empty packet. The statement id in a COM_STMT_PREPARE answer
is printed as <id>: MariaDB numbers statements across connections, so it differs from run
to run. Script syntax as corpus_client.c; directives
other than bind and local-infile are printed as skipped.

With --cursor (implies --ps; not with --deprecate-eof) every execute asks for a read-only
cursor; when the server opens one (the column definitions' EOF says CURSOR_EXISTS without
MORE_RESULTS) the rows are fetched by COM_STMT_FETCH of 2 rows until LAST_ROW_SENT. The server
opens none for most statements (SHOW, CALL, XA RECOVER ...) and sends the rows at once.

A response is read to its end by the protocol's rules (ERR ends it; OK/EOF end a result or
the whole response unless SERVER_MORE_RESULTS_EXISTS; 0xFE ends rows only when shorter than 9
bytes, or with DEPRECATE_EOF shorter than 0xFFFFFF bytes), so a proxy that adds, drops or
reorders one packet makes the transcripts differ."""

import hashlib
import os
import struct
import sys

import pymysql
from pymysql.constants import CLIENT

ROWS_SHOWN = 20
# As corpus_client.c: keeps SERVER_QUERY_WAS_SLOW independent of how long a statement took.
INIT_COMMAND = "SET SESSION long_query_time = 3600"
HEX_SHOWN = 512
MORE_RESULTS = 0x0008
CURSOR_EXISTS = 0x0040
LAST_ROW_SENT = 0x0080


def lenenc(p, i):
    """(value, next offset) of the length-encoded integer at p[i]."""
    c = p[i]
    if c < 0xFB:
        return c, i + 1
    if c == 0xFC:
        return struct.unpack_from("<H", p, i + 1)[0], i + 3
    if c == 0xFD:
        return p[i + 1] | (p[i + 2] << 8) | (p[i + 3] << 16), i + 4
    return struct.unpack_from("<Q", p, i + 1)[0], i + 9


class Wire:
    def __init__(self, sock, rfile):
        self.sock = sock
        self.rfile = rfile  # PyMySQL's buffered reader of the socket (it may hold bytes)
        self.seq = 0

    def _read(self, n):
        out = self.rfile.read(n)
        if out is None or len(out) < n:
            raise EOFError("connection closed by the peer")
        return out

    def read(self):
        """One logical packet (physical packets of 0xFFFFFF bytes joined): (seq, payload)."""
        parts = []
        while True:
            h = self._read(4)
            n = h[0] | (h[1] << 8) | (h[2] << 16)
            self.seq = (h[3] + 1) & 0xFF
            parts.append(self._read(n))
            if n < 0xFFFFFF:
                return h[3], b"".join(parts)

    def write(self, payload, seq=None):
        if seq is not None:
            self.seq = seq
        while True:
            chunk, payload = payload[:0xFFFFFF], payload[0xFFFFFF:]
            self.sock.sendall(struct.pack("<I", len(chunk))[:3] + bytes([self.seq]) + chunk)
            self.seq = (self.seq + 1) & 0xFF
            if len(chunk) < 0xFFFFFF:
                return

    def command(self, payload):
        self.write(payload, seq=0)


def show(seq, p, tag="S"):
    if len(p) > HEX_SHOWN:
        print("  %s %d len=%d sha1 %s head %s" % (tag, seq, len(p), hashlib.sha1(p).hexdigest(),
                                                 p[:16].hex()))
    else:
        print("  %s %d len=%d %s" % (tag, seq, len(p), p.hex()))


def ok_status(p):
    """Status flags of an OK packet (0x00 or 0xFE header)."""
    _, i = lenenc(p, 1)
    _, i = lenenc(p, i)
    return struct.unpack_from("<H", p, i)[0]


class Client:
    def __init__(self, args):
        self.deof = args["deprecate_eof"]
        self.ps = args["ps"]
        self.cursor = args["cursor"]
        flag = CLIENT.MULTI_STATEMENTS | CLIENT.MULTI_RESULTS | CLIENT.PS_MULTI_RESULTS
        if self.deof:
            flag |= CLIENT.DEPRECATE_EOF
        self.conn = pymysql.connect(host=args["host"], port=args["port"], user=args["user"],
                                    password=args["password"], database=args["db"],
                                    local_infile=True, client_flag=flag, autocommit=None,
                                    init_command=INIT_COMMAND)
        self.wire = Wire(self.conn._sock, self.conn._rfile)
        self.local_infile = True
        self.bind = None
        self.n = 0
        print("connected thread_id=%d server=%s caps=0x%08x" % (
            self.conn.thread_id(), self.conn.get_server_info(), self.conn.server_capabilities))

    def is_end(self, p):
        if p[:1] != b"\xfe":
            return False
        return len(p) < (0xFFFFFF if self.deof else 9)

    def infile(self, p):
        name = p[1:].decode("utf-8", "replace")
        data = None
        if self.local_infile and os.path.exists(name):
            with open(name, "rb") as f:
                data = f.read()
        print("  C file %s: %s" % (name, "%d bytes" % len(data) if data is not None
                                   else "refused"))
        if data:
            self.wire.write(data)
        self.wire.write(b"")

    def response(self, cursor=False):
        """Reads and prints one command's whole response. Returns the first packet, or
        "cursor" when an execute that asked for a cursor got one (no rows follow)."""
        first = None
        while True:
            seq, p = self.wire.read()
            first = first if first is not None else p
            show(seq, p)
            h = p[0]
            if h == 0xFF:
                return first
            if h == 0x00 or (h == 0xFE and self.is_end(p)):
                if ok_status(p) & MORE_RESULTS:
                    continue
                return first
            if h == 0xFB:
                self.infile(p)
                continue
            p0 = p
            ncols, _ = lenenc(p, 0)
            for _ in range(ncols):
                show(*self.wire.read())
            if not self.deof:
                seq, p = self.wire.read()  # EOF after the column definitions
                show(seq, p)
                if p[0] == 0xFF:  # e.g. max_statement_time before the first row
                    return first
                st = struct.unpack_from("<H", p, 3)[0]
                if cursor and first is p0 and st & CURSOR_EXISTS and not st & MORE_RESULTS:
                    return "cursor"
            rows = 0
            h1 = hashlib.sha1()
            while True:
                seq, p = self.wire.read()
                if p[0] == 0xFF:
                    if rows > ROWS_SHOWN:
                        print("  ... %d more rows, sha1 %s" % (rows - ROWS_SHOWN, h1.hexdigest()))
                    show(seq, p)
                    return first
                if self.is_end(p):
                    break
                rows += 1
                if rows <= ROWS_SHOWN:
                    show(seq, p)
                else:
                    h1.update(p)
            if rows > ROWS_SHOWN:
                print("  ... %d more rows, sha1 %s" % (rows - ROWS_SHOWN, h1.hexdigest()))
            show(seq, p)
            status = struct.unpack_from("<H", p, 3)[0] if not self.deof else ok_status(p)
            if not status & MORE_RESULTS:
                return first

    def query(self, q):
        print("  C query")
        self.wire.command(b"\x03" + q)
        self.response()

    def prepared(self, q):
        print("  C prepare")
        self.wire.command(b"\x16" + q)
        seq, p = self.wire.read()
        if p[0] == 0x00:
            # The statement id is the server's to choose (MariaDB counts them across
            # connections), so it differs between two runs: printed as <id>.
            print("  S %d len=%d 00<id>%s" % (seq, len(p), p[5:].hex()))
        else:
            show(seq, p)
        if p[0] == 0xFF:
            code = struct.unpack_from("<H", p, 1)[0]
            if code == 1295 and self.bind is None:
                self.query(q)
            return
        stmt_id, ncols, nparams = struct.unpack_from("<IHH", p, 1)
        for count in (nparams, ncols):
            for _ in range(count):
                show(*self.wire.read())
            if count and not self.deof:
                show(*self.wire.read())
        payload = b"\x17" + struct.pack("<IBI", stmt_id, 0, 1)
        if nparams:
            vals = list(self.bind or [])
            vals += [None] * (nparams - len(vals))
            bitmap = bytearray((nparams + 7) // 8)
            types, data = b"", b""
            for i, v in enumerate(vals[:nparams]):
                if v is None:
                    bitmap[i // 8] |= 1 << (i % 8)
                    types += struct.pack("<H", 0x06)
                elif isinstance(v, int):
                    types += struct.pack("<H", 0x08)
                    data += struct.pack("<q", v)
                else:
                    b = v.encode()
                    types += struct.pack("<H", 0xFE)
                    data += (bytes([len(b)]) if len(b) < 251 else
                             b"\xfc" + struct.pack("<H", len(b))) + b
            payload += bytes(bitmap) + b"\x01" + types + data
        if self.cursor:
            payload = payload[:5] + b"\x01" + payload[6:]  # CURSOR_TYPE_READ_ONLY
        print("  C execute")
        self.wire.command(payload)
        if self.response(cursor=self.cursor) == "cursor":
            self.fetch(stmt_id)
        self.wire.command(b"\x19" + struct.pack("<I", stmt_id))  # COM_STMT_CLOSE, no answer

    def fetch(self, stmt_id):
        """COM_STMT_FETCH of 2 rows until the server says LAST_ROW_SENT (or ERR)."""
        for _ in range(10000):
            print("  C fetch 2")
            self.wire.command(b"\x1c" + struct.pack("<II", stmt_id, 2))
            while True:
                seq, p = self.wire.read()
                show(seq, p)
                if p[0] == 0xFF:
                    return
                if self.is_end(p):
                    break
            if struct.unpack_from("<H", p, 3)[0] & LAST_ROW_SENT:
                return

    def statement(self, q):
        self.n += 1
        print("== [%d] %s" % (self.n, q.replace("\n", "\\n").replace("\t", "\\t")))
        raw = q.encode("utf-8")
        try:
            if self.ps or self.bind is not None:
                self.prepared(raw)
            else:
                self.query(raw)
        finally:
            self.bind = None

    def directive(self, d):
        name, _, args = d.partition(" ")
        print("== @%s %s" % (name, args))
        if name == "bind":
            self.bind = []
            for tok in parse_bind(args):
                self.bind.append(tok)
        elif name == "local-infile":
            self.local_infile = args.strip() != "0"
        else:
            print("  skipped: not supported by this client")


def parse_bind(args):
    out = []
    i, n = 0, len(args)
    while i < n:
        while i < n and args[i] == " ":
            i += 1
        if i >= n:
            break
        if args[i] == "'":
            j = args.find("'", i + 1)
            j = n if j < 0 else j
            out.append(args[i + 1:j])
            i = j + 1
        elif args.startswith("NULL", i):
            out.append(None)
            i += 4
        else:
            j = i
            while j < n and args[j] != " ":
                j += 1
            out.append(int(args[i:j]))
            i = j
    return out


def main():
    argv = sys.argv[1:]
    opts = {"deprecate_eof": False, "ps": False, "cursor": False}
    while argv and argv[0].startswith("--"):
        o = argv.pop(0)
        if o == "--deprecate-eof":
            opts["deprecate_eof"] = True
        elif o == "--ps":
            opts["ps"] = True
        elif o == "--cursor":
            opts["ps"] = opts["cursor"] = True
        else:
            print("unknown option " + o, file=sys.stderr)
            return 2
    if len(argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    opts.update(host=argv[0], port=int(argv[1]), user=argv[2], password=argv[3], db=argv[4])
    c = Client(opts)
    delim = ";"
    buf = []
    try:
        with open(argv[5], encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\r\n")
                if not buf:
                    p = line.lstrip(" \t")
                    if p == "":
                        continue
                    if p.startswith("-- @"):
                        c.directive(p[4:])
                        continue
                    if p.startswith("--") or p.startswith("#"):
                        continue
                    if p[:10].upper() == "DELIMITER ":
                        delim = p[10:]
                        continue
                buf.append(line)
                text = "\n".join(buf).rstrip(" \t")
                if text.endswith(delim):
                    c.statement(text[:-len(delim)])
                    buf = []
        if buf:
            c.statement("\n".join(buf))
    except (EOFError, OSError) as e:
        print("  connection lost: %s" % (e,))
    print("END")
    return 0


if __name__ == "__main__":
    sys.exit(main())
