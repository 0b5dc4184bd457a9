"""capwriter.py - writes a slowtap capture file (docs/capture-format.md, version 1) from Python,
independently of the C codec: the tests use it to build captures of a known workload, with the
answers' row checksums computed here from the rows the server returned (text rows: each field
as a length-encoded string, 0xFB for NULL; binary rows: 0x00, the NULL bitmap at offset 2, the
values in the binary protocol). Blocks are compressed with the zstd command-line tool."""

import struct
import subprocess
import time

FNV_INIT = 0xcbf29ce484222325
COM_QUERY, COM_INIT_DB, COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_STMT_CLOSE = 3, 2, 0x16, 0x17, 0x19
T_LONG, T_LONGLONG, T_VAR_STRING, T_NULL = 3, 8, 253, 6


def fnv(h, data):
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def svarint(n):
    return varint(((n << 1) ^ (n >> 63)) & 0xFFFFFFFFFFFFFFFF)


def sstr(b):
    if isinstance(b, str):
        b = b.encode()
    return varint(len(b)) + b


def lenenc(n):
    if n < 251:
        return bytes([n])
    if n < 0x10000:
        return b"\xfc" + struct.pack("<H", n)
    if n < 0x1000000:
        return b"\xfd" + struct.pack("<I", n)[:3]
    return b"\xfe" + struct.pack("<Q", n)


def text_rows_sum(rows):
    """rows: lists of bytes or None, as the server sent them."""
    if not rows:
        return 0
    h = FNV_INIT
    for r in rows:
        for v in r:
            h = fnv(h, b"\xfb" if v is None else lenenc(len(v)) + v)
    return h


def binary_rows_sum(rows, types):
    """rows of Python values; types per column: 'int' (INT, 4 bytes), 'bigint', 'str'."""
    if not rows:
        return 0
    h = FNV_INIT
    n = len(types)
    for r in rows:
        bitmap = bytearray((n + 7 + 2) // 8)
        vals = b""
        for i, (v, t) in enumerate(zip(r, types)):
            if v is None:
                bitmap[(i + 2) // 8] |= 1 << ((i + 2) % 8)
                continue
            if t == "int":
                vals += struct.pack("<i", int(v))
            elif t == "bigint":
                vals += struct.pack("<q", int(v))
            else:
                b = v if isinstance(v, bytes) else str(v).encode()
                vals += lenenc(len(b)) + b
        h = fnv(h, b"\x00" + bytes(bitmap) + vals)
    return h


class Capture:
    def __init__(self, path):
        self.path = path
        self.records = []

    def session(self, sid, t_us, user="app", schema="", charset=45, sql_mode=None):
        flags = 2 if sql_mode is not None else 0
        body = (varint(sid) + svarint(t_us) + varint(1000 + sid) + varint(0xA28F) +
                bytes([charset, flags]) + sstr(user) + sstr(schema) + sstr("127.0.0.1") +
                sstr(sql_mode or ""))
        self.records.append(bytes([1]) + varint(len(body)) + body)

    def command(self, sid, seq, t0, t1, cmd, text="", stmt_id=0, prepare_id=0, params=(),
                err=0, rows=0, affected=0, checksum=0, flags=0):
        """flags: the command's flags byte (1 interrupted, 2 cut)."""
        body = (varint(sid) + varint(seq) + svarint(t0) + svarint(t1 - t0) + bytes([cmd, flags]) +
                sstr(text) + sstr("") + varint(stmt_id) + varint(prepare_id) +
                varint(len(params)))
        for ptype, value in params:
            if value is None:
                body += bytes([T_NULL, 2]) + sstr(b"")
            else:
                body += bytes([ptype, 0]) + sstr(value)
        body += (varint(err) + varint(rows) + varint(affected) + varint(0) + varint(0) +
                 varint(2) + struct.pack("<Q", checksum))
        self.records.append(bytes([2]) + varint(len(body)) + body)

    def file(self, sid, seq, data):
        body = varint(sid) + varint(seq) + sstr(data)
        self.records.append(bytes([4]) + varint(len(body)) + body)

    def end(self, sid, t_us):
        body = varint(sid) + svarint(t_us)
        self.records.append(bytes([3]) + varint(len(body)) + body)

    def write(self):
        with open(self.path, "wb") as f:
            f.write(b"SLOWTAPCAP\n" + struct.pack("<HHQ", 1, 0, int(time.time() * 1e6)))
            i = 0
            while i < len(self.records):
                raw = b""
                while i < len(self.records) and len(raw) + len(self.records[i]) < 1 << 20:
                    raw += self.records[i]
                    i += 1
                z = subprocess.run(["zstd", "-q", "-c", "-3"], input=raw, stdout=subprocess.PIPE,
                                   check=True).stdout
                f.write(struct.pack("<IIQ", len(raw), len(z), 0) + z)
