"""harness.py - the integration-test harness: a real MariaDB (shared, or a throwaway one in a
temp datadir), the slowtap binary in front of it, and a parser for the slow log it writes.

API (other engineers' tests code against it):
  mariadb() -> Server                shared per process; env SLOWTAP_TEST_MYSQL_PORT/_SOCKET
                                      select an already running server, else one is started
  Server: .host .port .socket, .sql(stmt, db=None) -> [[str]], .ensure_user(name, password,
          grants=['ALL PRIVILEGES ON *.*']), .fresh_db(name)
  Slowtap(args=[], server=None, long_query_time='0')  context manager running $SLOWTAP_BIN:
          .port .log_path .tmpdir .proc .stderr() .entries() .stop(sig=SIGTERM) -> exit code
  parse_slowlog(text) -> [dict]      one dict per slow-log entry (see the function)
  free_port(), wait_port(port, timeout)
Extras: client_cli(port, stmt, ...) runs the mariadb CLI as 'app' against a port.

Users on every server: 'app'@'%' / 'apppass' (ALL on *.*), 'explain'@'%' / 'explainpass'
(SELECT, PROCESS on *.*).

Run as a program, `harness.py serve ENVFILE` starts a throwaway MariaDB, writes
`export SLOWTAP_TEST_MYSQL_PORT=...` and `..._SOCKET=...` to ENVFILE and serves until it gets
SIGTERM/SIGINT (tests/run uses this to share one server across the whole suite).
"""

import atexit
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

SKIP_EXIT = 77

_cleanups = []  # callables run at exit and on fatal signals, newest first
_handlers_installed = False


def _run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # cleanup must go on
            print("harness: cleanup failed: %r" % (e,), file=sys.stderr)


def _on_signal(signum, frame):
    _run_cleanups()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_handlers():
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_run_cleanups)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        try:
            signal.signal(s, _on_signal)
        except (ValueError, OSError):
            pass  # not the main thread


def _die_with_parent():
    """preexec_fn: the child gets SIGTERM when the harness dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, host="127.0.0.1", proc=None):
    """Waits until host:port accepts a TCP connection. Returns True; raises TimeoutError after
    `timeout` seconds, or RuntimeError at once if `proc` (a Popen) exits meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with code %s before port %d accepted"
                               % (proc.returncode, port))
        if time.monotonic() >= deadline:
            raise TimeoutError("nothing accepts on %s:%d after %.1f s" % (host, port, timeout))
        time.sleep(0.05)


def _tail(path, n=30):
    try:
        with open(path, "r", errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)


def _quote(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _find(names, dirs=("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")):
    for n in names:
        p = shutil.which(n)
        if p:
            return p
        for d in dirs:
            if os.access(os.path.join(d, n), os.X_OK):
                return os.path.join(d, n)
    return None


class Server:
    """A MariaDB server: either one this process started, or the suite's shared one."""

    def __init__(self, port, sock, proc=None, datadir=None, errlog=None):
        self.host = "127.0.0.1"
        self.port = int(port)
        self.socket = sock
        self.proc = proc
        self.datadir = datadir
        self.errlog = errlog
        self.root_user = "root" if os.geteuid() == 0 else os.environ.get("USER", "root")
        self.cli = _find(["mariadb", "mysql"])
        if not self.cli:
            raise RuntimeError("the mariadb client is not installed (run tests/deps.sh)")

    def _cli_base(self, db=None):
        args = [self.cli, "--no-defaults", "--protocol=socket", "-S", self.socket,
                "-u", self.root_user, "-N", "-B"]
        if db:
            args.append("--database=" + db)
        return args

    def sql(self, stmt, db=None):
        """Runs `stmt` (one or more statements) as root over the unix socket; returns the
        output rows as lists of strings (NULL as 'NULL'). Raises RuntimeError on error."""
        r = subprocess.run(self._cli_base(db) + ["-e", stmt], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("sql failed (%s): %s\n%s" % (r.returncode, stmt[:500],
                                                             r.stderr.strip()))
        out = r.stdout
        if out.endswith("\n"):
            out = out[:-1]
        if out == "":
            return []
        return [line.split("\t") for line in out.split("\n")]

    def ensure_user(self, name, password, grants=("ALL PRIVILEGES ON *.*",)):
        """Creates name@'%' (mysql_native_password) if missing, sets its password and grants."""
        u = "%s@'%%'" % _quote(name)
        stmts = ["CREATE USER IF NOT EXISTS %s IDENTIFIED VIA mysql_native_password "
                 "USING PASSWORD(%s)" % (u, _quote(password)),
                 "ALTER USER %s IDENTIFIED VIA mysql_native_password USING PASSWORD(%s)"
                 % (u, _quote(password))]
        for g in grants:
            stmts.append("GRANT %s TO %s" % (g, u))
        self.sql(";\n".join(stmts))

    def fresh_db(self, name):
        """Drops and recreates schema `name`."""
        q = "`" + name.replace("`", "``") + "`"
        self.sql("DROP DATABASE IF EXISTS %s; CREATE DATABASE %s" % (q, q))

    def _setup_users(self):
        self.ensure_user("app", "apppass", ["ALL PRIVILEGES ON *.*"])
        self.ensure_user("explain", "explainpass", ["SELECT, PROCESS ON *.*"])

    def stop(self):
        """Stops a server this process started (throwaway: SIGKILL, then remove the datadir)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
            self.proc = None
        if self.datadir and os.path.isdir(self.datadir):
            shutil.rmtree(self.datadir, ignore_errors=True)
            self.datadir = None


def http_json(port, path, method="GET", headers=None, timeout=10):
    """A request to slowtap's HTTP API on 127.0.0.1:port: (status, body), the body parsed as
    JSON when it is JSON (also for an error status), else as text. A POST sends no body."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 headers=headers or {}, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            code, body = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        code, body = e.code, e.read().decode()
    try:
        return code, json.loads(body)
    except ValueError:
        return code, body


def _skip(msg):
    print("SKIP: " + msg, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(SKIP_EXIT)


def start_throwaway(startup_timeout=60.0, extra_args=()):
    """Starts a new mariadbd in a temp datadir on 127.0.0.1 and a free port; returns a Server
    whose stop() kills it and removes the datadir (also registered for exit and signals).
    `extra_args` go to mariadbd (e.g. --ssl-cert/--ssl-key for a server that offers TLS).
    Exits the process with 77 when MariaDB is not installed."""
    install_db = _find(["mariadb-install-db", "mysql_install_db"])
    mariadbd = _find(["mariadbd", "mysqld"])
    if not install_db or not mariadbd:
        _skip("MariaDB server is not installed (mariadb-install-db/mariadbd missing); "
              "run tests/deps.sh")
    _install_handlers()
    base = tempfile.mkdtemp(prefix="slowtap-mdb-")
    datadir = os.path.join(base, "data")
    sock = os.path.join(base, "mysqld.sock")
    errlog = os.path.join(base, "error.log")
    pidfile = os.path.join(base, "mysqld.pid")
    os.mkdir(datadir)
    user = "root" if os.geteuid() == 0 else os.environ.get("USER", "root")
    srv = Server(0, sock, None, base, errlog)
    _cleanups.append(srv.stop)

    # --force: a machine whose host name and "localhost" do not resolve (a container or a
    # chroot without /etc/hosts) is fine for a server that is reached on a socket and by IP.
    # --tmpdir: the bootstrap's temporary tables live in this server's own directory, not in
    # the shared /tmp where another process may remove them (a CI run failed on "Could not
    # remove temporary table '/tmp/#sql-temptable-…'" during the bootstrap).
    tmpdir = os.path.join(base, "tmp")
    os.mkdir(tmpdir)
    env = dict(os.environ, TMPDIR=tmpdir)
    for attempt in range(2):
        r = subprocess.run([install_db, "--no-defaults", "--auth-root-authentication-method=socket",
                            "--user=" + user, "--datadir=" + datadir, "--skip-test-db",
                            "--skip-name-resolve", "--force", "--tmpdir=" + tmpdir],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=180, env=env)
        if r.returncode == 0:
            break
        if attempt == 0:  # once more, on an empty datadir
            shutil.rmtree(datadir, ignore_errors=True)
            os.mkdir(datadir)
            continue
        out = r.stdout[-3000:]
        srv.stop()
        raise RuntimeError("mariadb-install-db failed (exit %d):\n%s" % (r.returncode, out))

    last_err = None
    for _attempt in range(3):  # a free port can be taken between free_port() and bind()
        port = free_port()
        args = [mariadbd, "--no-defaults", "--user=" + user, "--datadir=" + datadir,
                "--socket=" + sock, "--port=%d" % port, "--bind-address=127.0.0.1",
                "--tmpdir=" + tmpdir,
                "--skip-name-resolve", "--log-error=" + errlog, "--pid-file=" + pidfile,
                "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
                "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
                "--skip-log-bin", "--max-connections=1000", "--local-infile=1",
                "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci"
                ] + list(extra_args)
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        srv.proc = proc
        srv.port = port
        deadline = time.monotonic() + startup_timeout
        ready = False
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if os.path.exists(sock):
                try:
                    wait_port(port, 0.5)
                    srv.sql("SELECT 1")
                    ready = True
                    break
                except Exception as e:
                    last_err = e
            time.sleep(0.05)
        if ready:
            break
        tail = _tail(errlog)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            srv.stop()
            raise RuntimeError("mariadbd did not become ready in %.0f s (%s); error log tail:\n%s"
                               % (startup_timeout, last_err, tail))
        if "Address already in use" not in tail:
            srv.stop()
            raise RuntimeError("mariadbd exited with code %s; error log tail:\n%s"
                               % (proc.returncode, tail))
        last_err = "port %d in use" % port
    else:
        srv.stop()
        raise RuntimeError("mariadbd could not bind a port: %s" % last_err)

    try:
        srv.sql("DELETE FROM mysql.global_priv WHERE User=''; FLUSH PRIVILEGES")
        srv._setup_users()
    except Exception:
        tail = _tail(errlog)
        srv.stop()
        raise RuntimeError("creating users failed; error log tail:\n" + tail)
    return srv


_shared = None


def mariadb():
    """The MariaDB server for this process (see the module comment)."""
    global _shared
    if _shared is not None:
        return _shared
    port = os.environ.get("SLOWTAP_TEST_MYSQL_PORT")
    if port:
        sock = os.environ.get("SLOWTAP_TEST_MYSQL_SOCKET", "")
        if not sock or not os.path.exists(sock):
            raise RuntimeError("SLOWTAP_TEST_MYSQL_PORT=%s is set but SLOWTAP_TEST_MYSQL_SOCKET "
                               "(%r) does not exist" % (port, sock))
        srv = Server(int(port), sock)
        srv._setup_users()
        _shared = srv
    else:
        _shared = start_throwaway()
    return _shared


_TLS_CERTS = []


def tls_cert_args():
    """Arguments that give slowtap a TLS certificate of its own (made once per process by
    tests/tools/make-test-certs.sh). slowtap offers clients TLS only as the backend does or
    when given a certificate, so a test of "client leg TLS, backend leg plaintext" in front of
    a server without TLS (the suite's shared one, a fake server) passes these."""
    if not _TLS_CERTS:
        d = tempfile.mkdtemp(prefix="slowtap-test-certs-")
        _cleanups.append(lambda: shutil.rmtree(d, ignore_errors=True))
        subprocess.run(["bash", os.path.join(REPO, "tests", "tools", "make-test-certs.sh"), d],
                       check=True, timeout=120, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        _TLS_CERTS.append(d)
    return ["--tls-cert", os.path.join(_TLS_CERTS[0], "server.pem"),
            "--tls-key", os.path.join(_TLS_CERTS[0], "server-key.pem")]


def slowtap_wrapper():
    """The command slowtap runs under, from $SLOWTAP_WRAP (tests/run's memcheck stage sets
    it to valgrind memcheck with --error-exitcode): a list, empty when unset."""
    return os.environ.get("SLOWTAP_WRAP", "").split()


def slowtap_bin():
    b = os.environ.get("SLOWTAP_BIN")
    if b:
        return b
    return os.path.join(REPO, "build", "slowtap")


class Slowtap:
    """Runs the proxy in front of `server` (default: mariadb()) for a `with` block."""

    def __init__(self, args=(), server=None, long_query_time="0", start_timeout=10.0):
        self.server = server if server is not None else mariadb()
        self.args = list(args)
        self.long_query_time = str(long_query_time)
        # under valgrind the proxy starts tens of times slower
        self.start_timeout = start_timeout * (6 if slowtap_wrapper() else 1)
        self.proc = None
        self.port = None
        self.tmpdir = None
        self.log_path = None
        self.exit_code = None
        self._stopped = False
        self._keep = False

    def __enter__(self):
        _install_handlers()
        self.tmpdir = tempfile.mkdtemp(prefix="slowtap-px-")
        self.log_path = os.path.join(self.tmpdir, "slow.log")
        self._stderr_path = os.path.join(self.tmpdir, "stderr.txt")
        self._stdout_path = os.path.join(self.tmpdir, "stdout.txt")
        _cleanups.append(self._cleanup)
        binary = slowtap_bin()
        if not os.access(binary, os.X_OK):
            raise RuntimeError("slowtap binary %s is missing (set SLOWTAP_BIN or build it)"
                               % binary)
        last = None
        for _attempt in range(3):
            self.port = free_port()
            cmd = slowtap_wrapper() + [binary, "--listen", "127.0.0.1:%d" % self.port,
                   "--backend", "127.0.0.1:%d" % self.server.port,
                   "--long-query-time", self.long_query_time,
                   "--slow-log", self.log_path, "--http", "off"] + self.args
            self.cmd = cmd
            with open(self._stderr_path, "wb") as err, open(self._stdout_path, "wb") as out:
                self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=err, cwd=self.tmpdir,
                                             preexec_fn=_die_with_parent)
            try:
                wait_port(self.port, self.start_timeout, proc=self.proc)
                return self
            except RuntimeError as e:
                last = e
                if "in use" not in self.stderr():
                    break
            except TimeoutError as e:
                last = e
                break
        self._kill()
        self._keep = True
        raise RuntimeError("slowtap did not start (%s)\ncommand: %s\nstderr:\n%s"
                           % (last, " ".join(self.cmd), self.stderr()[-4000:]))

    def stderr(self):
        """The proxy's stderr so far, as text."""
        try:
            with open(self._stderr_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_text(self):
        """The slow log's whole lines now (no waiting); see read_log."""
        return read_log(self.log_path)

    def entries(self, settle=0.3):
        """Parses the slow log after giving the proxy `settle` seconds to flush."""
        time.sleep(settle)
        return parse_slowlog(self.log_text())

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, sig=signal.SIGTERM, timeout=60.0):
        """Sends `sig` and waits for the exit; returns the exit code (negative: killed by a
        signal; after `timeout` seconds the proxy is SIGKILLed and -9 returned)."""
        self._stopped = True
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.exit_code = -9
                return self.exit_code
        self.exit_code = self.proc.returncode
        return self.exit_code

    def _cleanup(self):
        self._kill()
        if self.tmpdir and not self._keep and not os.environ.get("SLOWTAP_KEEP_TMP"):
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __exit__(self, exc_type, exc, tb):
        if self._stopped:
            code = 0
            if self.proc is not None and self.proc.poll() is None:
                self._kill()
        else:
            code = self.stop()
        crashed = code != 0
        if crashed or exc_type is not None:
            self._keep = True
            print("slowtap stderr (%s, kept in %s):\n%s" % (
                "exit code %s after SIGTERM" % code if crashed else "test failed",
                self.tmpdir, self.stderr()[-4000:]), file=sys.stderr)
        if self in _cleanups:
            pass
        try:
            _cleanups.remove(self._cleanup)
        except ValueError:
            pass
        self._cleanup()
        if crashed and exc_type is None:
            raise AssertionError("slowtap exited with code %s after SIGTERM; stderr:\n%s"
                                 % (code, self.stderr()[-4000:]))
        return False


def client_cli(port, stmt, db=None, user="app", password="apppass", extra=(), input=None,
               timeout=60, env=None):
    """Runs the mariadb CLI over TCP to 127.0.0.1:port with -N -B; returns CompletedProcess.
    env: the CLI's environment (default: this process's)."""
    cli = _find(["mariadb", "mysql"])
    args = [cli, "--no-defaults", "--protocol=tcp", "-h", "127.0.0.1", "-P", str(port),
            "-u", user, "-p" + password, "-N", "-B"] + list(extra)
    if db:
        args.append("--database=" + db)
    if stmt is not None:
        args += ["-e", stmt]
    return subprocess.run(args, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout, env=env)


# --- slow-log parsing -------------------------------------------------------------------------

_KV_RE = re.compile(r"([A-Za-z_]+): (.*?)(?=\s{2,}[A-Za-z_]+: |\s*$)")
_INT_FIELDS = {"Rows_sent": "rows_sent", "Rows_examined": "rows_examined",
               "Rows_affected": "rows_affected", "Bytes_sent": "bytes_sent"}
_WHOLE_LINE = {"Params": "params", "Error": "error", "Explain_error": "explain_error",
               "Digest": "digest", "Explain": "explain_source", "Time": "time"}
_USE_RE = re.compile(r"^use (`?)(.+)\1;$", re.IGNORECASE)
_SETTS_RE = re.compile(r"^SET timestamp=\d+;$", re.IGNORECASE)


def _new_entry():
    return {"time": None, "user": None, "host": None, "thread_id": None, "schema": None,
            "query_time": None, "lock_time": None, "rows_sent": None, "rows_examined": None,
            "rows_affected": None, "bytes_sent": None, "digest": None, "params": None,
            "error": None, "no_index_used": None, "explain": [], "flags": {},
            "explain_source": None, "explain_error": None, "statement": "", "raw": ""}


def _to_int(v):
    try:
        return int(v)
    except ValueError:
        try:
            return int(float(v))
        except ValueError:
            return None


def _to_float(v):
    try:
        return float(v)
    except ValueError:
        return None


def _parse_header(e, line):
    body = line[2:]
    if body.startswith("explain: "):
        e["explain"].append(body[len("explain: "):].split("\t"))
        return
    m = re.match(r"([A-Za-z_@]+): ?(.*)$", body)
    if not m:
        return
    key, rest = m.group(1), m.group(2)
    if key in _WHOLE_LINE:
        e[_WHOLE_LINE[key]] = rest.strip()
        return
    if key == "User@Host":
        # "app[app] @ host [127.0.0.1]"  or  "app[app] @  [127.0.0.1]"
        um = re.match(r"\s*([^\[\s]*)\[([^\]]*)\]\s*@\s*([^\s\[]*)\s*(?:\[([^\]]*)\])?", rest)
        if um:
            e["user"] = um.group(1) or um.group(2)
            e["host"] = um.group(4) or um.group(3) or ""
        # MariaDB's server log appends "  Id: N" on this line
        idm = re.search(r"\bId:\s*(\d+)", rest)
        if idm and e["thread_id"] is None:
            e["thread_id"] = int(idm.group(1))
        return
    for k, v in _KV_RE.findall(body):
        v = v.strip()
        if k == "Thread_id":
            e["thread_id"] = _to_int(v)
        elif k == "Schema":
            e["schema"] = v
        elif k == "Query_time":
            e["query_time"] = _to_float(v)
        elif k == "Lock_time":
            e["lock_time"] = _to_float(v)
        elif k in _INT_FIELDS:
            e[_INT_FIELDS[k]] = _to_int(v)
        elif k == "No_index_used":
            e["no_index_used"] = v.lower() == "yes"
        else:
            e["flags"][k] = v


def _finish(e, lines, stmt_lines):
    e["raw"] = "\n".join(lines) + "\n"
    # Drop the "use db;" and "SET timestamp=...;" lines that precede the statement.
    while stmt_lines:
        first = stmt_lines[0]
        um = _USE_RE.match(first)
        if um:
            if not e["schema"]:
                e["schema"] = um.group(2)
            stmt_lines.pop(0)
        elif _SETTS_RE.match(first):
            stmt_lines.pop(0)
        else:
            break
    s = "\n".join(stmt_lines).rstrip()
    if s.endswith(";"):
        s = s[:-1].rstrip()
    e["statement"] = s
    return e


def pt_query_digest_json(log_text):
    """Runs pt-query-digest --output json over slow-log text (through a temp file); returns
    (returncode, stderr, document or None). One place for every test that checks the log is
    still read by pt-query-digest."""
    import json
    fd, path = tempfile.mkstemp(prefix="slowtap-ptqd-", suffix=".log")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(log_text)
        r = subprocess.run(["pt-query-digest", "--output", "json", "--limit", "100%:100", path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=120)
    finally:
        os.unlink(path)
    doc = None
    if r.returncode == 0 and "{" in r.stdout:
        doc = json.loads(r.stdout[r.stdout.index("{"):])
    return r.returncode, r.stderr, doc


def read_log(path):
    """A log file's text up to its last newline, "" while it does not exist.

    The writer appends each batch of entries with one write(2), but a reader running alongside
    can see that write half done (the kernel copies it page by page and grows the file as it
    goes), so a line without its newline is still being written and is left out, as `tail -f`
    and log shippers do."""
    try:
        with open(path, "r", errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return ""
    return text[:text.rfind("\n") + 1]


def parse_slowlog(text):
    """Parses slow-log text (slowtap's or MariaDB's server format) into a list of dicts with
    keys time, user, host, thread_id, schema, query_time, lock_time, rows_sent, rows_examined,
    rows_affected, bytes_sent, digest, params, error, no_index_used, explain (rows of the
    `# explain:` lines split on tabs, header included), flags (other `Key: value` pairs such as
    Full_scan), explain_source, explain_error, statement, raw. Missing values are None.

    A new entry starts at a `# Time:` line, or at any `# ` line that follows statement text.
    Lines before the first entry (a server log's preamble) are ignored, and so is a last entry
    with no statement text yet: read while the proxy writes (read_log), it is still unfinished."""
    out = []
    e = None
    lines = []
    stmt = []
    for line in text.split("\n"):
        # MariaDB writes an administrator command as the entry's statement, behind "# ".
        is_header = line.startswith("# ") and not line.startswith("# administrator command:")
        if is_header and (e is None or stmt or line.startswith("# Time:")):
            if e is not None:
                out.append(_finish(e, lines, stmt))
            e, lines, stmt = _new_entry(), [], []
        if e is None:
            continue  # preamble
        lines.append(line)
        if is_header and not stmt:
            _parse_header(e, line)
        elif line.strip() != "" or stmt:
            stmt.append(line)
    if e is not None and stmt:
        while lines and lines[-1] == "":
            lines.pop()
        out.append(_finish(e, lines, stmt))
    return out


# --- serve mode: one MariaDB for a whole test run ----------------------------------------------

def _serve(envfile):
    srv = start_throwaway()
    tmp = envfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("export SLOWTAP_TEST_MYSQL_PORT=%d\n" % srv.port)
        f.write("export SLOWTAP_TEST_MYSQL_SOCKET=%s\n" % srv.socket)
        f.write("export SLOWTAP_TEST_MYSQL_ERRLOG=%s\n" % srv.errlog)
    os.rename(tmp, envfile)
    while True:
        if srv.proc is None or srv.proc.poll() is not None:
            print("harness serve: mariadbd exited; error log tail:\n" + _tail(srv.errlog),
                  file=sys.stderr)
            return 1
        time.sleep(0.5)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        sys.exit(_serve(sys.argv[2]))
    print("usage: harness.py serve ENVFILE", file=sys.stderr)
    sys.exit(2)
