"""clickhouse_server.py - a throwaway clickhouse-server (Debian's 18.16) on 127.0.0.1 for the
tests and the benchmark: its own config.xml/users.xml, data folder (on /dev/shm when there is
one) and free ports; users 'default' (no password) and 'slowtap' (SLOWTAP_PASSWORD).

  ch = ClickHouse(); ch.start() -> bool (ch.why says why not); ch.stop(); ch.start() again on
  the same ports; ch.query(sql) -> text; ch.rows(sql) -> [dict]; ch.url(db, user) -> the
  clickhouse:// address for --sink; ch.destroy() (also registered for exit and signals).
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import harness

CH_SERVER = shutil.which("clickhouse-server") or "/usr/sbin/clickhouse-server"
SLOWTAP_PASSWORD = "s3cret-sink"

CONFIG_XML = """<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>{d}/log/server.log</log>
        <errorlog>{d}/log/error.log</errorlog><console>0</console></logger>
    <http_port>{http}</http_port>
    <tcp_port>{tcp}</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <path>{d}/data/</path>
    <tmp_path>{d}/tmp/</tmp_path>
    <users_config>{d}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>5368709</mark_cache_size>
    <uncompressed_cache_size>8388608</uncompressed_cache_size>
    <max_concurrent_queries>50</max_concurrent_queries>
</yandex>
"""

USERS_XML = """<?xml version="1.0"?>
<yandex>
    <profiles><default></default></profiles>
    <users>
        <default><password></password><networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile><quota>default</quota></default>
        <slowtap><password>{pw}</password><networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile><quota>default</quota></slowtap>
    </users>
    <quotas><default></default></quotas>
</yandex>
"""


class ClickHouse:
    """A throwaway clickhouse-server on 127.0.0.1 (its own config, data and ports)."""

    def __init__(self):
        # on tmpfs when there is one: ClickHouse writes a file per column per insert, and
        # removing thousands of files from a disk that discards on unlink takes minutes
        shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        self.dir = tempfile.mkdtemp(prefix="slowtap-ch-", dir=shm)
        for sub in ("data", "tmp", "log"):
            os.mkdir(os.path.join(self.dir, sub))
        with open(os.path.join(self.dir, "users.xml"), "w") as f:
            f.write(USERS_XML.format(pw=SLOWTAP_PASSWORD))
        self.proc = None
        self.http = self.tcp = None
        harness._cleanups.append(self.destroy)

    def start(self, timeout=30.0):
        """Starts the server (again on the same ports after a stop); False when it did not
        come up (the reason is in self.why)."""
        for _attempt in range(3):
            if self.http is None or _attempt > 0:
                self.http, self.tcp = harness.free_port(), harness.free_port()
                with open(os.path.join(self.dir, "config.xml"), "w") as f:
                    f.write(CONFIG_XML.format(d=self.dir, http=self.http, tcp=self.tcp))
            self.proc = subprocess.Popen(
                [CH_SERVER, "--config-file=" + os.path.join(self.dir, "config.xml")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                cwd=self.dir, preexec_fn=harness._die_with_parent)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if self.query("SELECT 1").strip() == "1":
                        return True
                except (OSError, urllib.error.URLError):
                    pass
                time.sleep(0.1)
            self.why = "clickhouse-server did not answer on port %d in %.0f s: %s" % (
                self.http, timeout, harness._tail(os.path.join(self.dir, "log", "error.log")))
            self.stop()
            if self.restartable_ports_lost():
                continue
            return False
        return False

    def restartable_ports_lost(self):
        err = harness._tail(os.path.join(self.dir, "log", "error.log"))
        return "Address already in use" in err

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def query(self, sql, timeout=10):
        url = "http://127.0.0.1:%d/?%s" % (self.http, urllib.parse.urlencode(
            {"query": sql, "output_format_json_quote_64bit_integers": "0"}))
        with urllib.request.urlopen(url, data=b"", timeout=timeout) as r:
            return r.read().decode()

    def rows(self, sql):
        out = self.query(sql + " FORMAT JSONEachRow")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def url(self, db, user="slowtap"):
        return "clickhouse://%s@127.0.0.1:%d/%s" % (user, self.http, db)
