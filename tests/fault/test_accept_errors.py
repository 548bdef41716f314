"""test_accept_errors.py: transient and persistent accept() failures (injected by accept_fault.so) never stop the server, and a persistent one does not make it spin."""
import errno
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_harness as fh  # noqa: E402
from sockserv_harness import IO_TIMEOUT, MODES, SLOW, Case, in_thread  # noqa: E402

TCP = "tcp://127.0.0.1:0"
ONE_OF_EACH = ("ECONNABORTED", "EINTR", "EPROTO", "ENOBUFS", "EMFILE", "ENFILE", "ENOMEM")


def echo_once(case, srv, text):
    with case.connect(srv) as c:
        c.send(text + b"\n")
        case.assertEqual(c.recv_line(), text + b"\n")
        c.shutdown_write()
        case.assertEqual(c.recv_until_closed(), (b"", "eof"))


class AcceptErrors(Case):
    def setUp(self):
        super().setUp()
        if not os.path.exists(fh.SHIM):
            self.fail("accept_fault.so not found at %s (set SS_FAULT_SHIM)" % fh.SHIM)

    def start(self, mode, faults, every=1):
        log = os.path.join(self.tmp, "faults-%s.log" % mode)
        srv = fh.launch(self, ["echo", "--listen", TCP, "--mode", mode, "--drain", "1"],
                        env=fh.shim_env(faults, log, every))
        return srv, log

    def test_each_error_once_then_served(self):
        # The first accept calls fail with each error in turn: the waiting client is
        # still served, and so is everyone after it.
        def case(mode):
            srv, log = self.start(mode, ",".join(ONE_OF_EACH))
            for i in range(21):
                echo_once(self, srv, b"client %d after %s" % (i, mode.encode()))
            self.assertEqual(fh.injected(log), list(ONE_OF_EACH))
            srv.stop()
            self.assertEqual(fh.stopped_counters(srv),
                             dict(accepted=21, refused=0, completed=21, errors=0,
                                  accept_errors=len(ONE_OF_EACH), cancelled=0, dropped=0, tls_failed=0))
        self.at_once(MODES, case)

    def test_errors_interleaved_with_traffic(self):
        # Every second accept call fails until 100 failures are used up, while ten
        # clients at a time connect: all 300 connections are served.
        faults = "ECONNABORTED*30,EINTR*30,EPROTO*30,ENOBUFS*5,EMFILE*5"

        def case(mode):
            srv, log = self.start(mode, faults, every=2)

            def client(k):
                for i in range(30):
                    echo_once(self, srv, b"client %d.%d" % (k, i))
            for join in [in_thread(client, k) for k in range(10)]:
                join(60 * SLOW)
            self.assertEqual(len(fh.injected(log)), 100)
            srv.stop()
            counters = fh.stopped_counters(srv)
            self.assertEqual((counters["accepted"], counters["completed"], counters["errors"]), (300, 300, 0))
            self.assertEqual(counters["accept_errors"], 100)
        self.at_once(MODES, case)

    def test_persistent_error_backs_off(self):
        # EMFILE forty times in a row: the server pauses between attempts instead of
        # retrying at once (a spinning server would use up all forty in a moment),
        # stays near idle meanwhile, then serves the client.
        def case(mode):
            srv, log = self.start(mode, "EMFILE*40")
            c = self.connect(srv)
            c.send(b"waiting\n")
            share = fh.cpu_share(srv.pid, 1.0)
            tried = len(fh.injected(log))
            self.assertGreater(tried, 0, "the server never tried to accept")
            self.assertLess(tried, 40, "40 failed accepts within a second: no back-off")
            self.assertLess(share, fh.IDLE_CPU, "the server used %.0f%% of a core while failing" % (100 * share))
            self.assertEqual(c.recv_line(timeout=IO_TIMEOUT + 4), b"waiting\n")
            self.assertEqual(len(fh.injected(log)), 40)
            c.close()
            srv.stop()
            counters = fh.stopped_counters(srv)
            self.assertEqual((counters["accepted"], counters["accept_errors"]), (1, 40))
            sys.stderr.write("[%s: %d failed accepts in the first second, %.1f%% CPU]\n"
                             % (mode, tried, 100 * share))
        self.at_once(MODES, case)

    def test_shim_really_fails_accept(self):
        # The shim itself: a plain Python listener under it sees the injected errors.
        log = os.path.join(self.tmp, "self.log")
        code = ("import socket\n"
                "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
                "c = socket.create_connection(s.getsockname())\n"
                "errs = []\n"
                "for _ in range(3):\n"
                "    try:\n"
                "        s.accept()\n"
                "        errs.append('ok')\n"
                "    except OSError as e:\n"
                "        errs.append(e.errno)\n"
                "print(errs)\n")
        env = dict(os.environ, **fh.shim_env("ECONNABORTED,EPROTO", log))
        out = subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                             timeout=IO_TIMEOUT, check=True).stdout.decode()
        self.assertEqual(out.strip(), str([errno.ECONNABORTED, errno.EPROTO, "ok"]))
        self.assertEqual(fh.injected(log), ["ECONNABORTED", "EPROTO"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
