"""test_user.py: `--user NAME[:GROUP]`: as root, the program binds (a port below 1024 too), gives its Unix socket file to the user, then serves as that user and group with no supplementary group (checked in /proc/PID/status, the supervisor's and every worker's with --processes); an unknown user or group is a usage error; the switch failing (not root: setpriv drops root first) exits 1. Skipped unless run as root."""
import grp
import os
import pwd
import shutil
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sockserv_harness import BIN, SLOW, Case, children_of, port_is_free, require, run, wait_until  # noqa: E402

require(os.geteuid() == 0, "not run as root: --user switches users, which only root may do",
        "sudo make test (or run tests/cli/test_user.py as root)")
try:
    NOBODY = pwd.getpwnam("nobody")
except KeyError:
    NOBODY = None
require(NOBODY is not None, "this system has no user 'nobody' to switch to", "adduser --system nobody")
NOBODY_GROUP = grp.getgrgid(NOBODY.pw_gid).gr_name
GRACE = 10 * SLOW


def status_ids(pid):
    """{'Uid': [real, effective, saved, fs], 'Gid': [...], 'Groups': [...]} from /proc/PID/status."""
    ids = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                ids[key] = [int(v) for v in value.split()]
    return ids


def low_port():
    """A free port below 1024 (only root may bind one), or None."""
    for port in range(1023, 899, -1):
        if port_is_free(port):
            return port
    return None


class User(Case):
    def shared_dir(self):
        """A directory the user may use, as /tmp is (sticky, everyone writes): it
        removes its own socket file at exit."""
        os.chmod(self.tmp, 0o711)
        d = os.path.join(self.tmp, "shared")
        os.mkdir(d)
        os.chmod(d, 0o1777)
        return d

    def assertIsUser(self, pid, uid, gid):
        ids = status_ids(pid)
        self.assertEqual(ids["Uid"], [uid] * 4, "process %d: %s" % (pid, ids))
        self.assertEqual(ids["Gid"], [gid] * 4, "process %d: %s" % (pid, ids))
        self.assertEqual(ids["Groups"], [], "process %d keeps supplementary groups: %s" % (pid, ids))

    def test_serves_as_the_user_after_binding(self):
        # A low port (bound as root), a Unix socket file (given to the user), then the
        # switch; started with supplementary groups, which the switch clears.
        path = os.path.join(self.shared_dir(), "user.sock")
        port = low_port()
        args = ["--groups=4,27,100", "--", BIN, "echo", "--user", "nobody", "--listen", "unix:" + path,
                "--listen", "tcp://127.0.0.1:0"]
        if port is not None:
            args += ["--listen", "tcp://127.0.0.1:%d" % port]
        require(shutil.which("setpriv"), "setpriv is not installed", "apt-get install util-linux")
        srv = self.server(*args, exe=shutil.which("setpriv"), wait=False)
        urls = srv.wait_ready_lines(3 if port is not None else 2)
        self.assertIsUser(srv.pid, NOBODY.pw_uid, NOBODY.pw_gid)
        st = os.stat(path)
        self.assertEqual((st.st_uid, st.st_gid), (NOBODY.pw_uid, NOBODY.pw_gid), "the socket file's owner")
        for url in urls:
            self.roundtrip_url(url)
        srv.stop()
        self.assertFalse(os.path.exists(path), "socket file left behind")
        if port is None:
            sys.stderr.write("[no free port below 1024 here: only ports above were tried]\n")

    def roundtrip_url(self, url):
        c = self.connect(url)
        c.send(b"as nobody\n")
        self.assertEqual(c.recv_line(), b"as nobody\n")
        c.close()

    def test_group_by_name_and_numbers(self):
        for spec in ("nobody:%s" % NOBODY_GROUP, "%d:%d" % (NOBODY.pw_uid, NOBODY.pw_gid), "nobody:root"):
            with self.subTest(spec=spec):
                srv = self.server("echo", "--listen", "tcp://127.0.0.1:0", "--user", spec)
                self.assertIsUser(srv.pid, NOBODY.pw_uid, 0 if spec.endswith("root") else NOBODY.pw_gid)
                self.roundtrip(srv)
                srv.stop()

    def test_supervisor_and_workers(self):
        # --processes: the supervisor binds and switches before it forks; every worker, and
        # a restarted one, is the user.
        path = os.path.join(self.shared_dir(), "workers.sock")
        srv = self.server("echo", "--listen", "unix:" + path, "--processes", "2", "--user", "nobody")
        self.assertIsUser(srv.pid, NOBODY.pw_uid, NOBODY.pw_gid)
        workers = wait_until(lambda: len(children_of(srv.pid)) == 2 and children_of(srv.pid), GRACE)
        self.assertTrue(workers, srv.describe())
        for pid in workers:
            self.assertIsUser(pid, NOBODY.pw_uid, NOBODY.pw_gid)
        os.kill(next(iter(workers)), signal.SIGKILL)
        fresh = wait_until(lambda: len(set(children_of(srv.pid)) - set(workers)) == 1
                           and set(children_of(srv.pid)) - set(workers), GRACE)
        self.assertTrue(fresh, srv.describe())
        for pid in fresh:
            self.assertIsUser(pid, NOBODY.pw_uid, NOBODY.pw_gid)
        self.roundtrip(srv)
        srv.stop()

    def test_unknown_user_or_group(self):
        for spec, words in (("nosuchuser-sockserv", ["no such user 'nosuchuser-sockserv'"]),
                            ("nobody:nosuchgroup-sockserv", ["no such group 'nosuchgroup-sockserv'"]),
                            ("4000000000", ["no such user"]),
                            (":root", ["expected NAME or NAME:GROUP"]),
                            ("nobody:", ["expected NAME or NAME:GROUP"])):
            with self.subTest(spec=spec):
                self.assertUsageError(run(["echo", "--listen", "tcp://127.0.0.1:0", "--user", spec]), words,
                                      starts="sockserv: invalid --user '%s': " % spec)

    def test_switch_fails_without_root(self):
        # Started as nobody (setpriv drops root, its capabilities and groups first), the
        # program cannot switch to root: exit 1, one line, nothing served.
        setpriv = shutil.which("setpriv")
        require(setpriv, "setpriv is not installed", "apt-get install util-linux")
        for extra in ([], ["--processes", "2"]):
            with self.subTest(extra=extra):
                code, out, err = run(["--reuid=%d" % NOBODY.pw_uid, "--regid=%d" % NOBODY.pw_gid, "--clear-groups",
                                      "--", BIN, "echo", "--listen", "tcp://127.0.0.1:0", "--user", "root"] + extra,
                                     exe=setpriv)
                self.assertEqual(code, 1, err)
                self.assertEqual(out, "")
                self.assertEqual(err, "sockserv: cannot switch to user root: Operation not permitted\n")

    def test_low_port_refused_without_root(self):
        # For contrast: as nobody the low port cannot be bound at all (exit 1).
        setpriv = shutil.which("setpriv")
        require(setpriv, "setpriv is not installed", "apt-get install util-linux")
        port = low_port()
        if port is None:
            self.skipTest("no free port below 1024 here")
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:  # may be lower here
            if int(f.read()) <= port:
                self.skipTest("ports from %d on are unprivileged on this machine" % port)
        code, out, err = run(["--reuid=%d" % NOBODY.pw_uid, "--regid=%d" % NOBODY.pw_gid, "--clear-groups",
                              "--", BIN, "echo", "--listen", "tcp://127.0.0.1:%d" % port], exe=setpriv)
        self.assertEqual(code, 1, err)
        self.assertIn("permission denied", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
