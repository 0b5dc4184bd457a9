#!/usr/bin/python3
"""test_package.py - the Debian package: `dpkg-buildpackage -us -uc -b` in a temp copy of the
tree builds a .deb; it is unpacked with `dpkg -x` into a throwaway root; its files are the
expected ones; the man pages document every option and ini key; `systemd-analyze verify`
accepts both units; the installed binary runs with the installed config (edited to point at
the test MariaDB) and logs into its working directory as the unit does; the installed logrotate
snippet, run for real (paths and postrotate pointed at the throwaway), rotates the log and
slowtap's SIGHUP reopen starts a new one."""

import glob
import gzip
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.request

import pymysql

import harness

BUILD_TIMEOUT = 240
EXPECTED_FILES = [
    "usr/sbin/slowtap",
    "usr/share/man/man8/slowtap.8.gz",
    "usr/share/man/man5/slowtap.ini.5.gz",
    "etc/slowtap/slowtap.ini",
    "etc/logrotate.d/slowtap",
    "lib/systemd/system/slowtap.service",
    "lib/systemd/system/slowtap@.service",
    "usr/share/slowtap/contrib/sqlcommenter_sqlalchemy.py",
    "usr/share/slowtap/contrib/sqlcommenter_django.py",
]


def run(cmd, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(cmd, **kw)


def copy_tree(dst):
    """Copies the tracked and untracked-but-not-ignored files of the tree (no build dirs)."""
    r = run(["git", "-C", harness.REPO, "ls-files", "-co", "--exclude-standard", "-z"])
    if r.returncode != 0:
        raise AssertionError("git ls-files failed: " + r.stderr)
    for rel in r.stdout.split("\0"):
        if not rel or rel.startswith(("build", "obj-")) or "/build-" in rel:
            continue
        src = os.path.join(harness.REPO, rel)
        if not os.path.isfile(src):
            continue  # deleted in the work tree
        os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dst, rel))


def set_key(text, key, value):
    """Uncomments and sets `key` in the example ini, as a user editing it would."""
    new, n = re.subn(r"^;%s = [^\n]*$" % re.escape(key), "%s = %s" % (key, value), text,
                     count=1, flags=re.M)
    if n != 1:
        raise AssertionError("no ';%s = ' line in the installed slowtap.ini" % key)
    return new


def wait_for(pred, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


class PackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("dpkg-buildpackage", "dh", "systemd-analyze", "logrotate", "man"):
            if not shutil.which(tool):
                raise AssertionError("%s is missing: run tests/deps.sh" % tool)
        cls.work = tempfile.mkdtemp(prefix="slowtap-pkg-")
        try:
            cls.build_and_unpack()
        except BaseException:
            cls.tearDownClass()  # unittest does not call it when setUpClass fails
            raise

    @classmethod
    def build_and_unpack(cls):
        src = os.path.join(cls.work, "src")
        copy_tree(src)
        t0 = time.time()
        # noddebs: no -dbgsym package (the package under test is the same without it).
        env = dict(os.environ, DEB_BUILD_OPTIONS="parallel=2 noddebs")
        r = run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, env=env,
                timeout=BUILD_TIMEOUT, stderr=subprocess.STDOUT)
        cls.build_seconds = time.time() - t0
        if r.returncode != 0:
            raise AssertionError("dpkg-buildpackage failed (%d):\n%s"
                                 % (r.returncode, r.stdout[-6000:]))
        debs = [d for d in glob.glob(os.path.join(cls.work, "slowtap_*.deb"))]
        if len(debs) != 1:
            raise AssertionError("expected one slowtap_*.deb, got %s" % debs)
        cls.deb = debs[0]
        cls.root = os.path.join(cls.work, "root")
        r = run(["dpkg", "-x", cls.deb, cls.root])
        if r.returncode != 0:
            raise AssertionError("dpkg -x failed: " + r.stderr)

    @classmethod
    def tearDownClass(cls):
        if not os.environ.get("SLOWTAP_KEEP_TMP"):
            shutil.rmtree(cls.work, ignore_errors=True)

    def path(self, rel):
        return os.path.join(self.root, rel)

    def read(self, rel):
        with open(self.path(rel), errors="replace") as f:
            return f.read()

    def man_source(self, rel):
        with gzip.open(self.path(rel), "rt") as f:
            return f.read().replace("\\-", "-")

    def test_files_and_control(self):
        for rel in EXPECTED_FILES:
            self.assertTrue(os.path.isfile(self.path(rel)), rel)
        self.assertTrue(os.access(self.path("usr/sbin/slowtap"), os.X_OK))
        info = run(["dpkg-deb", "-f", self.deb, "Package", "Depends"]).stdout
        self.assertIn("Package: slowtap", info)
        self.assertIn("libmariadb3", info)  # shlibs resolved
        self.assertIn("adduser", info)
        r = run(["dpkg-deb", "-I", self.deb, "conffiles"])
        self.assertEqual(sorted(r.stdout.split()),
                         ["/etc/logrotate.d/slowtap", "/etc/slowtap/slowtap.ini"])
        post = run(["dpkg-deb", "-I", self.deb, "postinst"]).stdout
        self.assertRegex(post, r"adduser --system .*slowtap")
        self.assertIn("deb-systemd-helper enable 'slowtap.service'", post)
        # The installed config is the example, byte for byte.
        with open(os.path.join(harness.REPO, "conf", "slowtap.ini.example")) as f:
            self.assertEqual(self.read("etc/slowtap/slowtap.ini"), f.read())
        r = run([self.path("usr/sbin/slowtap"), "--version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        print("package built in %.1f s" % self.build_seconds)

    def test_build_depends_cover_meson_dependencies(self):
        """Every pkg-config dependency in meson.build is in debian/control's Build-Depends."""
        with open(os.path.join(harness.REPO, "meson.build")) as f:
            names = set(re.findall(r"dependency\('([A-Za-z0-9_.+-]+)'", f.read()))
        names -= {"threads"}
        self.assertIn("libmariadb", names)
        with open(os.path.join(harness.REPO, "debian", "control")) as f:
            control = f.read()
        bd = re.search(r"^Build-Depends:(.*?)^\S", control, re.M | re.S).group(1)
        build_depends = set(re.findall(r"([a-z0-9][a-z0-9.+-]+)", re.sub(r"\(.*?\)", "", bd)))
        for name in sorted(names):
            pcdir = run(["pkg-config", "--variable=pcfiledir", name]).stdout.strip()
            if not pcdir:
                continue  # optional and absent here (systemd): nothing to package against
            r = run(["dpkg", "-S", os.path.realpath(os.path.join(pcdir, name + ".pc"))])
            if r.returncode != 0:
                r = run(["dpkg", "-S", os.path.join(pcdir, name + ".pc")])
            self.assertEqual(r.returncode, 0, (name, r.stderr))
            pkg = r.stdout.split(":")[0]
            self.assertIn(pkg, build_depends,
                          "meson dependency %s (package %s) is not in Build-Depends" % (name, pkg))

    def test_man_pages_document_every_option_and_key(self):
        help_text = run([self.path("usr/sbin/slowtap"), "--help"]).stdout
        opts = sorted(set(re.findall(r"^  --([a-z][a-z-]+)", help_text, re.M)))
        self.assertGreater(len(opts), 30, help_text)
        man8 = self.man_source("usr/share/man/man8/slowtap.8.gz")
        man5 = self.man_source("usr/share/man/man5/slowtap.ini.5.gz")
        for o in opts:
            self.assertTrue(re.search(r"(?m)^\.[A-Z]+ .*--%s(?![\w-])" % re.escape(o), man8),
                            "--%s is not documented in slowtap(8)" % o)
            if o not in ("config", "help", "version"):
                key = o.replace("-", "_")
                self.assertTrue(re.search(r'(?m)^\.B[IR]? "%s = ' % re.escape(key), man5),
                                "%s is not documented in slowtap.ini(5)" % key)
        keys = re.findall(r"^;([a-z_]+) =", self.read("etc/slowtap/slowtap.ini"), re.M)
        self.assertGreater(len(keys), 30)
        for k in keys:
            self.assertIn('"%s = ' % k, man5, "ini key %s missing from slowtap.ini(5)" % k)
        for page in ("usr/share/man/man8/slowtap.8.gz", "usr/share/man/man5/slowtap.ini.5.gz"):
            r = run(["man", "--warnings", "-l", "-Tutf8", self.path(page)])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr.strip(), "", page)
            self.assertIn("SYNOPSIS", re.sub(".\x08", "", r.stdout))  # strip overstrikes

    def test_units_verify(self):
        units = os.path.join(self.work, "units")
        os.makedirs(units, exist_ok=True)
        binary = self.path("usr/sbin/slowtap")
        for name in ("slowtap.service", "slowtap@.service"):
            text = self.read("lib/systemd/system/" + name)
            for line in ("User=slowtap", "ExecReload=/bin/kill -HUP $MAINPID",
                         "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                         "ProtectHome=yes"):
                self.assertIn("\n" + line + "\n", text, (name, line))
            self.assertIn("\nExecStart=/usr/sbin/slowtap --config /etc/slowtap/", text)
            # The binary lives in the throwaway root, not in /usr/sbin: verify that copy.
            with open(os.path.join(units, name), "w") as f:
                f.write(text.replace("/usr/sbin/slowtap", binary))
        tmpl = self.read("lib/systemd/system/slowtap@.service")
        self.assertIn("--config /etc/slowtap/%i.ini --state-dir /var/lib/slowtap/%i\n", tmpl)
        self.assertIn("\nLogsDirectory=slowtap/%i\n", tmpl)
        self.assertIn("\nStateDirectory=slowtap/%i\n", tmpl)
        self.assertIn("\nLogsDirectory=slowtap\n", self.read("lib/systemd/system/slowtap.service"))
        self.assertIn("\nStateDirectory=slowtap\n",
                      self.read("lib/systemd/system/slowtap.service"))
        shutil.copy(os.path.join(units, "slowtap@.service"),
                    os.path.join(units, "slowtap@shop.service"))
        env = dict(os.environ, MANPATH=self.path("usr/share/man"))  # Documentation=man:...
        for name in ("slowtap.service", "slowtap@.service", "slowtap@shop.service"):
            r = run(["systemd-analyze", "verify", os.path.join(units, name)], env=env)
            self.assertEqual(r.returncode, 0, (name, r.stderr))
            # verify only warns (exit 0) about unknown keys and bad values: none allowed.
            self.assertEqual(r.stderr.strip(), "", name)

    def test_installed_binary_with_installed_config_and_logrotate(self):
        server = harness.mariadb()
        server.fresh_db("st_pkg")
        tmp = os.path.join(self.work, "run")
        logdir = os.path.join(tmp, "log")  # plays /var/log/slowtap, the unit's working dir
        os.makedirs(logdir)
        port, http_port = harness.free_port(), harness.free_port()
        ini = self.read("etc/slowtap/slowtap.ini")
        ini = set_key(ini, "listen", "127.0.0.1:%d" % port)
        ini = set_key(ini, "backend", "127.0.0.1:%d" % server.port)
        ini = set_key(ini, "long_query_time", "0")
        ini = set_key(ini, "http", "127.0.0.1:%d" % http_port)
        conf = os.path.join(tmp, "slowtap.ini")
        with open(conf, "w") as f:
            f.write(ini)
        errpath = os.path.join(tmp, "stderr.txt")
        with open(errpath, "wb") as err:
            proc = subprocess.Popen([self.path("usr/sbin/slowtap"), "--config", conf],
                                    cwd=logdir, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err)
        try:
            harness.wait_port(port, 10, proc=proc)
            slow = os.path.join(logdir, "slowtap-slow.log")  # the default, relative path

            def query(sql):
                c = pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                                    database="st_pkg", autocommit=True)
                try:
                    with c.cursor() as cur:
                        cur.execute(sql)
                        return cur.fetchall()
                finally:
                    c.close()

            def logged(path, marker):
                try:
                    with open(path, errors="replace") as f:
                        return marker in f.read()
                except FileNotFoundError:
                    return False

            self.assertEqual(query("SELECT 'before rotation'"), (("before rotation",),))
            self.assertTrue(wait_for(lambda: logged(slow, "SELECT 'before rotation'")),
                            "statement not in %s" % slow)
            st = os.stat(slow)
            self.assertEqual(st.st_mode & 0o777, 0o640)
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http_port,
                                        timeout=10) as r:
                self.assertIn("slowtap_statements_total", r.read().decode())

            # The installed logrotate snippet, pointed at the throwaway log dir; its su line
            # and postrotate commands adapted (no user 'slowtap' and no systemd here).
            lr = self.read("etc/logrotate.d/slowtap")
            self.assertIn("postrotate", lr)
            self.assertIn("--signal=HUP slowtap.service", lr)
            self.assertIn("--signal=HUP 'slowtap@*.service'", lr)
            head = "/var/log/slowtap/*.log /var/log/slowtap/*/*.log {\n"
            self.assertEqual(lr.count("\n" + head), 1, lr)
            lr = lr.replace("\n" + head, "\n%s/*.log %s/*/*.log {\n" % (logdir, logdir))
            lr, n = re.subn(r"(?m)^\s*su slowtap slowtap$", "", lr)
            self.assertEqual(n, 1)
            lr, n = re.subn(r"(?ms)^(\s*postrotate\n).*?^(\s*endscript)$",
                            r"\1        kill -HUP %d\n\2" % proc.pid, lr)
            self.assertEqual(n, 1)
            lrconf = os.path.join(tmp, "logrotate.conf")
            with open(lrconf, "w") as f:
                f.write(lr)
            r = run(["logrotate", "-v", "-f", "-s", os.path.join(tmp, "lr.state"), lrconf])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            rotated = slow + ".1"  # delaycompress: the first rotation stays uncompressed
            self.assertTrue(logged(rotated, "SELECT 'before rotation'"), r.stdout + r.stderr)
            # nocreate: slowtap itself creates the new file when SIGHUP reopens it.
            self.assertTrue(wait_for(lambda: os.path.exists(slow)),
                            "slowtap did not reopen %s after SIGHUP" % slow)
            query("SELECT 'after rotation'")
            self.assertTrue(wait_for(lambda: logged(slow, "SELECT 'after rotation'")))
            self.assertFalse(logged(slow, "before rotation"))
            self.assertFalse(logged(rotated, "after rotation"))

            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=30), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            with open(errpath, errors="replace") as f:
                print("installed slowtap stderr:\n" + f.read())


if __name__ == "__main__":
    unittest.main()
