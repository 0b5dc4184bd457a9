"""hostsfile.py - per-process host names for tests, with no mount and no root: env(hosts_text)
returns the environment (LD_PRELOAD of tests/tools/hosts_preload.c, built once per test process
with cc into a temporary directory, plus SLOWTAP_TEST_HOSTS naming a file with hosts_text) under
which getaddrinfo() answers the names in hosts_text with those addresses, in that order, and
every other name as usual. Works in a chroot or a container whose root is not a mount point,
where `unshare --mount` cannot make its mounts private (and a bind mount over /etc/hosts would
propagate to the parent namespace when the mount holding it is shared)."""

import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "hosts_preload.c")
_built = None


def library():
    """The path of the built override (cc -shared), built on first use."""
    global _built
    if _built is None:
        d = tempfile.mkdtemp(prefix="slowtap-hosts-")
        out = os.path.join(d, "hosts_preload.so")
        r = subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", out, SRC, "-ldl"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=120)
        if r.returncode != 0:
            shutil.rmtree(d, ignore_errors=True)
            raise RuntimeError("building %s failed:\n%s" % (SRC, r.stdout))
        _built = out
    return _built


def env(hosts_text, base=None, directory=None):
    """A copy of `base` (default os.environ) in which getaddrinfo() resolves the names of
    `hosts_text` (/etc/hosts format) to its addresses in order. The hosts file is written into
    `directory` (default: a new temporary directory). ASan's check that its runtime comes first
    is turned off (the override only wraps getaddrinfo; ASan's interceptor still runs)."""
    e = dict(os.environ if base is None else base)
    d = directory or tempfile.mkdtemp(prefix="slowtap-hosts-")
    path = os.path.join(d, "hosts")
    with open(path, "w") as f:
        f.write(hosts_text)
    pre = e.get("LD_PRELOAD", "")
    e["LD_PRELOAD"] = library() + (" " + pre if pre else "")
    e["SLOWTAP_TEST_HOSTS"] = path
    asan = e.get("ASAN_OPTIONS", "")
    e["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
    return e
