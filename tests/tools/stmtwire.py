"""stmtwire.py - prepared statements over mywire.RawClient for tests that need the binary
protocol from Python (Debian's Python connectors only speak the text protocol).

  prepare(cli, sql) -> (stmt_id, nparams, ncols) or raises StmtError(code, message)
  execute(cli, stmt_id, params, cursor=False, new_params_bound=1) -> ('ok', affected) |
      ('rows', nrows) | ('err', code, message); params are str/bytes (sent as VAR_STRING), int
      (LONGLONG) or None. new_params_bound is the byte sent: 0 sends no types (the server
      keeps those of the previous execute, so send values of the same kinds), any other value
      is sent as is, followed by the types.
  execute_body(stmt_id, params, cursor=False, new_params_bound=1) -> the COM_STMT_EXECUTE
      payload execute() sends
  execute_packets(cli, stmt_id, params, cursor=False, new_params_bound=1) -> the payloads of
      the whole response: [ERR] | [OK] | column count, definitions, EOF, rows, last EOF/ERR
  close_stmt(cli, stmt_id)
"""

import struct

import mywire


class StmtError(Exception):
    pass


def _lenenc(n):
    if n < 251:
        return bytes([n])
    if n < 1 << 16:
        return b"\xfc" + struct.pack("<H", n)
    if n < 1 << 24:
        return b"\xfd" + struct.pack("<I", n)[:3]
    return b"\xfe" + struct.pack("<Q", n)


def _skip_defs(cli, n):
    """Reads n definitions and their EOF (the client never sets DEPRECATE_EOF)."""
    for _ in range(n):
        cli.read_packet()
    if n:
        _, p = cli.read_packet()
        assert p[:1] == b"\xfe", p


def prepare(cli, sql):
    if isinstance(sql, str):
        sql = sql.encode()
    cli.send_packet(b"\x16" + sql, 0)
    _, p = cli.read_packet()
    if p[:1] == b"\xff":
        code, _, msg = mywire.parse_err(p)
        raise StmtError(code, msg)
    stmt_id, ncols, nparams = struct.unpack("<IHH", p[1:9])
    _skip_defs(cli, nparams)
    _skip_defs(cli, ncols)
    return stmt_id, nparams, ncols


def execute_body(stmt_id, params, cursor=False, new_params_bound=1):
    body = b"\x17" + struct.pack("<IBI", stmt_id, 1 if cursor else 0, 1)
    if params:
        nullmap = bytearray((len(params) + 7) // 8)
        types = b""
        values = b""
        for i, v in enumerate(params):
            if v is None:
                nullmap[i // 8] |= 1 << (i % 8)
                types += struct.pack("<BB", 6, 0)
            elif isinstance(v, int):
                types += struct.pack("<BB", 8, 0)
                values += struct.pack("<q", v)
            else:
                if isinstance(v, str):
                    v = v.encode()
                types += struct.pack("<BB", 253, 0)
                values += _lenenc(len(v)) + v
        if not new_params_bound:
            types = b""
        body += bytes(nullmap) + bytes([new_params_bound]) + types + values
    return body


def execute_packets(cli, stmt_id, params, cursor=False, new_params_bound=1):
    cli.send_packet(execute_body(stmt_id, params, cursor, new_params_bound), 0)
    _, p = cli.read_packet()
    out = [p]
    if p[:1] in (b"\xff", b"\x00"):
        return out
    for _ in range(p[0]):  # definitions, then their EOF
        out.append(cli.read_packet()[1])
    out.append(cli.read_packet()[1])
    while True:
        _, p = cli.read_packet()
        out.append(p)
        if p[:1] == b"\xff" or (p[:1] == b"\xfe" and len(p) < 9):
            return out


def execute(cli, stmt_id, params, cursor=False, new_params_bound=1):
    cli.send_packet(execute_body(stmt_id, params, cursor, new_params_bound), 0)
    _, p = cli.read_packet()
    if p[:1] == b"\xff":
        code, _, msg = mywire.parse_err(p)
        return ("err", code, msg)
    if p[:1] == b"\x00":
        return ("ok", p[1])
    ncols = p[0]
    _skip_defs(cli, ncols)
    rows = 0
    while True:
        _, p = cli.read_packet()
        if p[:1] == b"\xfe" and len(p) < 9:
            status = struct.unpack("<H", p[3:5])[0]
            if status & 0x0008:  # more results (a CALL): read on until the last OK
                while True:
                    _, p = cli.read_packet()
                    if p[:1] == b"\x00" and not (struct.unpack("<H", p[3:5])[0] & 0x0008):
                        break
            return ("rows", rows)
        if p[:1] == b"\xff":
            code, _, msg = mywire.parse_err(p)
            return ("err", code, msg)
        rows += 1


def close_stmt(cli, stmt_id):
    cli.send_packet(b"\x19" + struct.pack("<I", stmt_id), 0)
