"""test_cli.py - the slowtap command line: every configuration error exits with status 2 and
prints exactly one line naming the option, key, file or pattern at fault; --help and
--version exit 0. No MariaDB needed: slowtap must refuse to start before connecting."""

import os
import subprocess
import tempfile
import unittest

import harness


def run(*args):
    r = subprocess.run([harness.slowtap_bin()] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30,
                       env=dict(os.environ, SLOWTAP_EXPLAIN_PASSWORD=""))
    return r.returncode, r.stdout, r.stderr


class Cli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="slowtap-cli-")

    def ini(self, name, text, mode=0o600):
        p = os.path.join(self.dir, name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def assert_error(self, args, *needles):
        rc, out, err = run(*args)
        self.assertEqual(rc, 2, "%r: exit %d, stderr %r" % (args, rc, err))
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, "%r: stderr %r" % (args, err))
        self.assertTrue(lines[0].startswith("slowtap: "), lines[0])
        for n in needles:
            self.assertIn(n, lines[0], args)
        return lines[0]

    def test_unknown_option(self):
        self.assertEqual(self.assert_error(["--frob"]), "slowtap: unknown option '--frob'")
        self.assert_error(["--frob=3"], "'--frob'")
        self.assert_error(["--listen"], "--listen", "missing argument")

    def test_bad_durations(self):
        for opt in ("--long-query-time", "--explain-threshold", "--explain-interval",
                    "--explain-timeout", "--handshake-timeout", "--shutdown-timeout"):
            for bad in ("abc", "-1", "1.1234567", "1s", ""):
                line = self.assert_error([opt, bad], opt, "invalid duration '%s'" % bad)
                self.assertEqual(line, "slowtap: %s: invalid duration '%s'" % (opt, bad))

    def test_bad_addresses(self):
        for opt in ("--listen", "--backend", "--http"):
            for bad in ("localhost", "127.0.0.1:0", "127.0.0.1:65536", "::1:80", "[::zz]:80",
                        "host:", "relative/path"):
                self.assert_error([opt, bad], opt, "invalid address '%s'" % bad)

    def test_bad_numbers_and_enums(self):
        self.assert_error(["--threads", "0"], "--threads", "out of range")
        self.assert_error(["--threads", "257"], "--threads")
        self.assert_error(["--max-connections", "x"], "--max-connections", "invalid number")
        self.assert_error(["--log-format", "xml"], "--log-format", "'xml'")
        self.assert_error(["--backend-tls", "maybe"], "--backend-tls", "'maybe'")

    def test_config_file_errors(self):
        p = self.ini("unknown-key.ini", "[slowtap]\nlisten = 127.0.0.1:7000\nfrobnicate = 1\n")
        self.assertEqual(self.assert_error(["--config", p]),
                         "slowtap: config file %s line 3: unknown key 'frobnicate'" % p)
        p = self.ini("unknown-section.ini", "[slowtap]\nthreads = 2\n\n[mysqld]\nport=1\n")
        self.assertEqual(self.assert_error(["--config", p]),
                         "slowtap: config file %s line 4: unknown section 'mysqld'" % p)
        p = self.ini("bad-value.ini", "long_query_time = soon\n")
        self.assert_error(["--config", p], p, "line 1", "long-query-time",
                          "invalid duration 'soon'")
        missing = os.path.join(self.dir, "missing.ini")
        self.assert_error(["--config", missing], missing, "cannot open")
        if os.geteuid() != 0:  # root reads mode-000 files anyway
            p = self.ini("unreadable.ini", "threads = 2\n", mode=0o000)
            self.assert_error(["--config", p], p)
        self.assert_error(["--config", self.dir], self.dir)
        self.assert_error(["--explain-password-file", missing], "--explain-password-file",
                          missing)

    def test_bad_regex(self):
        line = self.assert_error(["--http", "off", "--slow-log", os.path.join(self.dir, "s.log"),
                                  "--redact", "a(b"])
        self.assertEqual(line, "slowtap: --redact 'a(b': missing closing parenthesis at offset 3")
        self.assert_error(["--http", "off", "--slow-log", os.path.join(self.dir, "s.log"),
                           "--include", "x[", "--exclude", "ok"], "--include 'x['", "at offset")

    def test_help_and_version(self):
        rc, out, err = run("--help")
        self.assertEqual(rc, 0, err)
        for opt in ("--listen", "--backend", "--long-query-time", "--redact", "--threads",
                    "--backend-tls", "slowtap report --help", "127.0.0.1:6033"):
            self.assertIn(opt, out)
        rc, out, err = run("--version")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"^slowtap \d+\.\d+\.\d+\n$")


if __name__ == "__main__":
    unittest.main()
