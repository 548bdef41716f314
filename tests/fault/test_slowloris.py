"""test_slowloris.py: --timeout closes idle, dribbling and never-reading clients, spares slow but progressing ones; a slowloris crowd starves nobody in pool or event mode and is shed by the timeout."""
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_harness as fh  # noqa: E402
from sockserv_harness import IO_TIMEOUT, MODES, SLOW, Case, in_thread, wait_until  # noqa: E402

TCP = "tcp://127.0.0.1:0"
TIMEOUT = 1
GRACE = 5.0 * SLOW
TIMED_OUT = "timed out"


def port_of(conn):
    return conn.sockname()[1]


def failed_ports(srv, why=TIMED_OUT):
    return {int(peer.rsplit(":", 1)[1]) for peer, _ in fh.failure_lines(srv, why)}


class Timeouts(Case):
    def start(self, mode, timeout=TIMEOUT):
        return self.server("echo", "--listen", TCP, "--mode", mode, "--timeout", str(timeout), "--drain", "1")

    def test_idle_connection_closed(self):
        def case(mode):
            srv = self.start(mode)
            c = self.connect(srv)
            t0 = time.monotonic()
            self.assertEqual(c.recv_until_closed(timeout=TIMEOUT + GRACE)[0], b"")
            self.assertGreater(time.monotonic() - t0, TIMEOUT / 2.0, "closed before the timeout")
            self.assertTrue(wait_until(lambda: port_of(c) in failed_ports(srv), GRACE),
                            "no 'timed out' failure line\n" + srv.describe())
            srv.stop()
            counters = fh.stopped_counters(srv)
            self.assertEqual((counters["accepted"], counters["completed"], counters["errors"]), (1, 1, 1))
        self.at_once(MODES, case)

    def test_dribbled_line_closed(self):
        # Bytes keep coming but the line never ends: the read still times out.
        def case(mode):
            srv = self.start(mode)
            c = self.connect(srv)
            t0 = time.monotonic()
            closed = False
            while time.monotonic() - t0 < TIMEOUT + GRACE and not closed:
                try:
                    c.send(b"x")
                except OSError:
                    closed = True
                    break
                c.sock.settimeout(0.2)
                try:
                    closed = c.sock.recv(100) == b""
                except socket.timeout:
                    pass
                except OSError:
                    closed = True
            self.assertTrue(closed, "a line dribbled byte by byte for %.0fs was not cut" % (TIMEOUT + GRACE))
            self.assertIn(port_of(c), failed_ports(srv))
            srv.stop()
        self.at_once(MODES, case)

    def test_active_client_kept(self):
        # Whole lines more often than the timeout: the connection lives on well past it.
        def case(mode):
            srv = self.start(mode)
            c = self.connect(srv)
            for i in range(int(3 * TIMEOUT / 0.25)):
                c.send(b"line %d\n" % i)
                self.assertEqual(c.recv_line(), b"line %d\n" % i)
                time.sleep(0.25)
            c.shutdown_write()
            self.assertEqual(c.recv_until_closed(), (b"", "eof"))
            srv.stop()
            self.assertEqual(fh.stopped_counters(srv)["errors"], 0)
        self.at_once(MODES, case)

    def test_client_that_never_reads(self):
        # The replies pile up unread: once the socket takes no byte for the timeout,
        # the write fails and the connection is closed.
        def case(mode):
            srv = self.start(mode)
            c = self.connect(srv, rcvbuf=4096)
            c.sock.setblocking(False)
            sent = 0
            deadline = time.monotonic() + GRACE
            while time.monotonic() < deadline:  # until the server stops reading too
                try:
                    sent += c.sock.send(b"z" * 1023 + b"\n")
                except BlockingIOError:
                    break
            self.assertTrue(wait_until(lambda: port_of(c) in failed_ports(srv), TIMEOUT + GRACE),
                            "the blocked write was not failed\n" + srv.describe())
            c.sock.setblocking(True)
            data, how = c.recv_until_closed(timeout=GRACE)
            self.assertLess(len(data), sent, "everything was delivered: the server never blocked")
            srv.stop()
        self.at_once(MODES, case)

    def test_slow_reader_kept(self):
        # A reader slower than the server but never stalled as long as the timeout
        # gets every byte: the write timeout counts from the last progress.
        def case(mode):
            srv = self.start(mode)
            c = self.connect(srv, rcvbuf=16384)
            blob = b"".join(b"%06d %s\n" % (i, b"s" * 200) for i in range(10000))  # ~2 MB
            def send():
                c.send(blob, timeout=60 * SLOW)
                c.shutdown_write()
            sender = in_thread(send)
            got = []
            n = 0
            t0 = time.monotonic()
            while n < len(blob):
                part = c.recv_exact(min(32768, len(blob) - n), timeout=IO_TIMEOUT)
                got.append(part)
                n += len(part)
                time.sleep(0.03)
            sender(IO_TIMEOUT)
            self.assertEqual(c.recv_until_closed(), (b"", "eof"))
            took = time.monotonic() - t0
            self.assertEqual(b"".join(got), blob)
            self.assertGreater(took, TIMEOUT, "the reader was not slower than the timeout: proves nothing")
            srv.stop()
            self.assertEqual(fh.failure_lines(srv), [])
        self.at_once(MODES, case)


class Slowloris(Case):
    CROWD = 200

    def crowd_and_healthy(self, srv):
        """A crowd dribbling one byte per connection every half second; meanwhile
        fresh clients are served. Returns the crowd (still dribbling) and its stop."""
        crowd = fh.Crowd(self, srv.address, self.CROWD)
        crowd.send_each(b"s")
        halt = crowd.dribble(b"s", 0.5)
        self.addCleanup(halt)
        for i in range(5):
            try:
                c = srv.connect()
            except OSError as e:
                raise AssertionError("starved by the slowloris crowd: cannot even connect (%s)" % e) from None
            with c:
                c.send(b"healthy %d\n" % i)
                self.assertEqual(c.recv_line(), b"healthy %d\n" % i, "starved by the slowloris crowd")
        return crowd, halt

    def test_crowd_does_not_starve_others(self):
        def case(mode):
            srv = self.server("echo", "--listen", TCP, "--mode", mode, "--drain", "0")
            crowd, halt = self.crowd_and_healthy(srv)
            self.assertEqual(crowd.closed(), [], "crowd connections closed with no timeout set")
            halt()
            srv.stop()
        self.at_once(("threading", "pool", "event"), case)

    def test_crowd_shed_by_timeout(self):
        def case(mode):
            srv = self.server("echo", "--listen", TCP, "--mode", mode, "--timeout", "3", "--drain", "0")
            t0 = time.monotonic()
            crowd, halt = self.crowd_and_healthy(srv)
            shed = wait_until(lambda: len(crowd.closed()) == self.CROWD, 3 + 3 * GRACE, step=0.2)
            took = time.monotonic() - t0
            halt()
            self.assertTrue(shed, "%d of %d crowd connections still open after %.0fs"
                            % (self.CROWD - len(crowd.closed()), self.CROWD, took))
            self.assertTrue(wait_until(lambda: set(crowd.ports()) <= failed_ports(srv), GRACE),
                            "not every crowd connection failed with 'timed out'")
            srv.stop()
            counters = fh.stopped_counters(srv)
            self.assertEqual(counters["errors"], self.CROWD)
            self.assertEqual(counters["completed"], self.CROWD + 5)
            sys.stderr.write("[%s: %d slowloris connections shed in %.1fs]\n" % (mode, self.CROWD, took))
        self.at_once(("threading", "pool", "event"), case)


if __name__ == "__main__":
    unittest.main(verbosity=2)
