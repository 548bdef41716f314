"""test_signals.py: SIGINT/SIGTERM stop the program cleanly in every mode, with a drain for requests in flight; SIGUSR1 reports the counters; SIGHUP without tls:// says there is nothing to reload (tests/cli/test_tls.py: the reload); the other signals that would end it are ignored."""
import json
import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sockserv_harness import MODES, SLOW, Case, connect, wait_until  # noqa: E402

SIGNALS = (signal.SIGINT, signal.SIGTERM)
SIGNALS_BY_NAME = {sig.name: sig for sig in SIGNALS}
DRAIN = 2
GRACE = 5.0 * SLOW  # how long after the drain deadline the exit may take


def refused(url):
    """True if a new connection is refused now (a connection that gets in is closed again)."""
    try:
        c = connect(url, timeout=2)
    except (ConnectionError, FileNotFoundError):  # refused, or reset while the listener closes
        return True
    c.close()
    return False


class StopCleanly(Case):
    def test_idle_server_every_mode_every_signal(self):
        for cmd in ("echo", "chat"):
            for mode in MODES:
                for sig in SIGNALS:
                    with self.subTest(cmd=cmd, mode=mode, sig=sig.name):
                        path = os.path.join(self.tmp, "%s-%s-%s.sock" % (cmd, mode, sig.name))
                        srv = self.server(cmd, "--listen", "unix:" + path, "--mode", mode)
                        took = srv.stop(sig)  # exit 0, socket file gone, no process left
                        self.assertLess(took, GRACE, "an idle server took %.1fs to stop" % took)

    def test_with_connected_clients_every_mode_every_signal(self):
        def case(p):
            cmd, mode, sig = p["cmd"], p["mode"], SIGNALS_BY_NAME[p["sig"]]
            path = os.path.join(self.tmp, "c-%s-%s-%s.sock" % (cmd, mode, sig.name))
            srv = self.server(cmd, "--listen", "unix:" + path, "--mode", mode, "--drain", "1")
            c = self.connect(srv)
            c.send(b"hi\n")
            c.recv_line()  # served: in forking mode a child process now runs
            if mode != "sync":
                d = self.connect(srv)
                d.send(b"hi\n")
                d.recv_line()
            srv.note_children()
            if mode == "forking":
                self.assertTrue(srv.kids, "forking mode but no child process seen")
            took = srv.stop(sig, timeout=1 + GRACE)
            c.recv_until_closed(timeout=GRACE)
            self.assertLess(took, 1 + GRACE)
        self.at_once([dict(cmd=cmd, mode=mode, sig=sig.name)
                      for cmd in ("echo", "chat") for mode in MODES for sig in SIGNALS], case)

    def test_tcp_every_mode(self):
        def case(mode):
            srv = self.server("echo", "--listen", "tcp://127.0.0.1:0", "--mode", mode, "--drain", "1")
            port = srv.address.addr[1]
            c = self.connect(srv)
            c.send(b"x\n")
            c.recv_line()
            srv.stop(signal.SIGTERM, timeout=1 + GRACE)
            # The port is free again at once: a new server (in the same mode) can take it.
            again = self.server("echo", "--listen", "tcp://127.0.0.1:%d" % port, "--mode", mode)
            again.stop()
        self.at_once([dict(mode=m) for m in MODES], lambda p: case(p["mode"]))

    def test_ctrl_c_to_the_process_group(self):
        # A terminal's ^C reaches the server and its children alike.
        def case(p):
            srv = self.server("chat", "--listen", "tcp://127.0.0.1:0", "--mode", p["mode"], "--drain", "1")
            c = self.connect(srv)
            c.send(b"hello\n")
            c.recv_line()
            srv.stop(signal.SIGINT, timeout=1 + GRACE, group=True)
        self.at_once([dict(mode=m) for m in MODES], case)

    def test_second_signal_during_drain(self):
        # Impatience must not break the exit: a second SIGTERM during the drain still exits 0.
        srv = self.server("echo", "--listen", "tcp://127.0.0.1:0", "--drain", "3")
        c = self.connect(srv)
        c.send(b"x\n")
        c.recv_line()
        os.kill(srv.pid, signal.SIGTERM)
        time.sleep(0.3)
        srv.stop(signal.SIGTERM, timeout=3 + GRACE)


# Signals an operator, a terminal or the environment may send that must not end the
# server: each is ignored (SIGUSR1 prints the counters; SIGHUP says there is nothing to reload).
HARMLESS = ["SIGHUP", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGIO", "SIGPWR",
            "SIGXFSZ", "SIGSTKFLT", "SIGTTIN", "SIGTTOU", "SIGPIPE"]
HARMLESS = [getattr(signal, name) for name in HARMLESS if hasattr(signal, name)]
COUNTER_KEYS = ["accepted", "refused", "completed", "errors", "accept_errors", "cancelled", "dropped",
                "tls_failed", "active", "threads", "children"]
# Then these, unless the library was built with SS_STATS=OFF.
DETAILED_KEYS = ["bytes_in", "bytes_out", "duration_sum_us", "duration_p50_us", "duration_p99_us"]


def reports(srv):
    """The JSON lines SIGUSR1 printed on stderr, parsed."""
    found = []
    for line in srv.stderr().decode(errors="replace").splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


class OtherSignals(Case):
    def test_each_signal_leaves_the_server_serving(self):
        # Sent to the whole process group (a forked child gets it too), while a client
        # is connected: the client and a new one are served, then SIGTERM stops the
        # server cleanly: exit 0, the stop line, no socket file left.
        def case(p):
            sig, mode = signal.Signals[p["sig"]], p["mode"]
            path = os.path.join(self.tmp, "%s-%s.sock" % (sig.name, mode))
            srv = self.server("echo", "--listen", "unix:" + path, "--mode", mode, "--drain", "1")
            c = self.connect(srv)
            c.send(b"before\n")
            self.assertEqual(c.recv_line(), b"before\n")
            srv.note_children()
            os.killpg(srv.pid, sig)
            os.killpg(srv.pid, sig)  # twice: a handler that ran once is not reset
            if mode != "sync":
                self.roundtrip(srv, b"another client")
            c.send(b"after %s\n" % sig.name.encode())
            self.assertEqual(c.recv_line(), b"after %s\n" % sig.name.encode())
            c.close()
            self.roundtrip(srv, b"after it")
            srv.stop(signal.SIGTERM, timeout=1 + GRACE)
            self.assertEqual(srv.stderr().count(b"sockserv: stopped:"), 1, srv.describe())
        self.at_once([dict(sig=sig.name, mode=mode) for sig in HARMLESS for mode in ("threading", "forking")],
                     case)

    def test_sigusr1_prints_the_counters(self):
        def case(p):
            cmd, mode = p["cmd"], p["mode"]
            srv = self.server(cmd, "--listen", "tcp://127.0.0.1:0", "--mode", mode, "--drain", "1")
            c = self.connect(srv)
            c.send(b"hi\n")
            c.recv_line()  # in flight now
            srv.note_children()
            os.killpg(srv.pid, signal.SIGUSR1)  # the forked child gets it too: it says nothing
            self.assertTrue(wait_until(lambda: reports(srv), 5 * SLOW), "no report on stderr\n" + srv.describe())
            time.sleep(0.3)  # a second line (from a child) would be here by now
            got = reports(srv)
            self.assertEqual(len(got), 1, "one SIGUSR1, %d reports\n%s" % (len(got), srv.describe()))
            self.assertIn(list(got[0]), (COUNTER_KEYS, COUNTER_KEYS + DETAILED_KEYS))
            self.assertTrue(all(isinstance(v, int) and v >= 0 for v in got[0].values()), got[0])
            self.assertEqual((got[0]["accepted"], got[0]["active"], got[0]["completed"]), (1, 1, 0), got[0])
            if mode == "forking":
                self.assertEqual(got[0]["children"], 1, got[0])
            # The server and the connected client carry on.
            c.send(b"still here\n")
            self.assertTrue(c.recv_line().endswith(b"still here\n"))
            os.kill(srv.pid, signal.SIGUSR1)
            self.assertTrue(wait_until(lambda: len(reports(srv)) == 2, 5 * SLOW), srv.describe())
            c.close()
            srv.stop(signal.SIGTERM, timeout=1 + GRACE)
        self.at_once([dict(cmd=cmd, mode=mode) for cmd in ("echo", "chat") for mode in MODES], case)

    def test_sighup_without_tls_has_nothing_to_reload(self):
        # A server that is not tls:// has no files to read again: one line says so for each
        # SIGHUP (a forked request process that gets it says nothing), and serving goes on.
        def case(mode):
            srv = self.server("echo", "--listen", "tcp://127.0.0.1:0", "--mode", mode, "--drain", "1")
            c = self.connect(srv)
            c.send(b"hi\n")
            c.recv_line()
            srv.note_children()
            os.killpg(srv.pid, signal.SIGHUP)
            said = lambda: srv.stderr().count(b"sockserv: SIGHUP: nothing to reload")
            self.assertTrue(wait_until(said, 5 * SLOW), srv.describe())
            time.sleep(0.3)  # a second line (from a child) would be here by now
            self.assertEqual(said(), 1, srv.describe())
            c.send(b"still here\n")
            self.assertEqual(c.recv_line(), b"still here\n")
            c.close()
            srv.stop(signal.SIGTERM, timeout=1 + GRACE)
        self.at_once(["threading", "forking"], case)

    def test_signal_storm(self):
        # Many reports asked for at once: the server still serves and stops cleanly.
        srv = self.server("echo", "--listen", "tcp://127.0.0.1:0")
        for _ in range(200):
            os.kill(srv.pid, signal.SIGUSR1)
        self.roundtrip(srv)
        self.assertTrue(wait_until(lambda: reports(srv), 5 * SLOW), srv.describe())
        srv.stop(signal.SIGTERM)

    def test_reports_while_forking(self):
        # Forking mode, SIGUSR1 every half millisecond while clients come one after the
        # other: each request process is forked while the helper thread may be reporting,
        # and must not inherit a lock it held (under GCC 12's ASan, about one child in a
        # hundred hung in its first allocation before forks waited for the report).
        srv = self.server("echo", "--listen", "tcp://127.0.0.1:0", "--mode", "forking")
        done = threading.Event()

        def storm():
            while not done.is_set():
                os.kill(srv.pid, signal.SIGUSR1)
                time.sleep(0.0005)
        t = threading.Thread(target=storm)
        t.start()
        try:
            for i in range(300):
                self.roundtrip(srv, b"client %d" % i)
        finally:
            done.set()
            t.join()
        srv.stop(signal.SIGTERM)


class Drain(Case):
    def test_in_flight_client_finishes_within_drain(self):
        for mode in MODES:  # quick: the client ends on its own, no drain is waited out
            with self.subTest(mode=mode):
                srv = self.server("echo", "--listen", "tcp://127.0.0.1:0", "--mode", mode,
                                  "--drain", str(DRAIN))
                a = self.connect(srv)
                a.send(b"before the signal\n")
                self.assertEqual(a.recv_line(), b"before the signal\n")
                t0 = time.monotonic()
                os.kill(srv.pid, signal.SIGTERM)
                # New connections are refused soon after the signal...
                deadline = t0 + 1.5
                while not refused(srv.address) and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.assertTrue(refused(srv.address), "still accepting connections after the signal")
                # ...while the client in flight goes on talking and ends on its own.
                for i in range(3):
                    a.send(b"during the drain %d\n" % i)
                    self.assertEqual(a.recv_line(), b"during the drain %d\n" % i)
                a.send(b"last line, no newline")
                a.shutdown_write()
                self.assertEqual(a.recv_until_closed(), (b"last line, no newline", "eof"))
                code = srv.wait_exit(DRAIN + GRACE)
                self.assertIsNotNone(code, "did not exit after the last request finished\n" + srv.describe())
                srv.check_exit(code, 0)

    def test_idle_client_cut_off_at_deadline(self):
        def case(p):
            srv = self.server(p["cmd"], "--listen", "tcp://127.0.0.1:0", "--mode", p["mode"],
                              "--drain", str(DRAIN))
            a = self.connect(srv)
            a.send(b"x\n")
            a.recv_line()
            srv.note_children()
            t0 = time.monotonic()
            os.kill(srv.pid, signal.SIGTERM)
            data, how = a.recv_until_closed(timeout=DRAIN + GRACE)
            cut = time.monotonic() - t0
            self.assertEqual(data, b"")
            self.assertGreater(cut, DRAIN / 2.0, "the idle client was cut off before the drain ended")
            code = srv.wait_exit(DRAIN + GRACE - cut + 1)
            self.assertIsNotNone(code, "did not exit within drain + %.0fs\n%s" % (GRACE, srv.describe()))
            srv.check_exit(code, 0)
            self.assertLess(time.monotonic() - t0, DRAIN + GRACE)
        self.at_once([dict(cmd=cmd, mode=m) for cmd in ("echo", "chat") for m in MODES], case)

    def test_idle_unix_client_cut_off(self):
        srv = self.server("chat", "--listen", "unix:" + os.path.join(self.tmp, "d.sock"),
                          "--mode", "forking", "--drain", "1")
        a = self.connect(srv)
        a.send(b"x\n")
        a.recv_line()
        srv.stop(signal.SIGINT, timeout=1 + GRACE)
        a.recv_until_closed(timeout=GRACE)

    def test_drain_zero_exits_promptly(self):
        srv = self.server("echo", "--listen", "tcp://127.0.0.1:0", "--drain", "0")
        a = self.connect(srv)
        a.send(b"x\n")
        a.recv_line()
        took = srv.stop(signal.SIGTERM, timeout=GRACE)
        self.assertLess(took, GRACE)
        a.recv_until_closed(timeout=GRACE)

    def test_default_drain_is_bounded(self):
        # No --drain: the default (5 s) still ends an idle client and the process.
        srv = self.server("echo", "--listen", "tcp://127.0.0.1:0")
        a = self.connect(srv)
        a.send(b"x\n")
        a.recv_line()
        t0 = time.monotonic()
        srv.stop(signal.SIGTERM, timeout=5 + GRACE)
        self.assertGreater(time.monotonic() - t0, 1.0, "the default drain did not wait for the client at all")


if __name__ == "__main__":
    unittest.main(verbosity=2)
