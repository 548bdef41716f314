"""test_resets.py: clients that reset (RST) mid-line, mid-read or mid-write, and clients that half-close: the server keeps serving, answers half-closed clients in full, leaks nothing."""
import os
import random
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_harness as fh  # noqa: E402
from sockserv_harness import MODES, SLOW, Case  # noqa: E402
from test_concurrency import Many  # noqa: E402  (tests/cli: clients driven by one selector)

TCP = "tcp://127.0.0.1:0"


def send_some(conn, data):
    """Send what the socket takes now without blocking (the server may not be reading)."""
    conn.sock.setblocking(False)
    try:
        conn.sock.send(data)
    except (BlockingIOError, OSError):
        pass


class Resets(Case):
    def storm(self, srv, rng, n):
        """n clients that each end with a RST at a bad moment; returns their ports."""
        ports = []
        for i in range(n):
            c = self.connect(srv)
            ports.append(c.sockname()[1])
            kind = i % 5
            if kind == 0:    # mid-line: part of a line, no end of line
                c.send(rng.randbytes(rng.randrange(1, 20000)).replace(b"\n", b"."))
            elif kind == 1:  # whole lines then half a line, replies never read
                c.send(b"line %d\n" % i * rng.randrange(1, 50) + b"half")
            elif kind == 2:  # in the middle of a long line the server is still reading
                send_some(c, b"L" * 500000)
            elif kind == 3:  # before sending anything
                pass
            else:            # the server is blocked writing replies nobody reads
                send_some(c, b"R" * 1000 + b"\n" * 2000)
                time.sleep(0.002)
            c.reset()
        return ports

    def test_rst_storm(self):
        def case(mode):
            srv = self.server("echo", "--listen", TCP, "--mode", mode, "--drain", "1")
            healthy = [fh.echo_once(self, srv, b"warm up")]
            time.sleep(0.2)
            baseline = srv.fd_count()
            rng = random.Random(mode)
            reset_ports = set()
            for rnd in range(4):  # storms of 50, each followed by a client served in full
                reset_ports.update(self.storm(srv, rng, 50))
                self.assertTrue(srv.running(), "the server died in a RST storm\n" + srv.describe())
                healthy.append(fh.echo_once(self, srv, b"still there after storm %d" % rnd))
            self.assertFdsSettle(srv, baseline, timeout=10 * SLOW)
            srv.stop()
            total = len(reset_ports) + len(healthy)
            counters = fh.stopped_counters(srv)
            self.assertEqual((counters["accepted"], counters["completed"], counters["refused"],
                              counters["accept_errors"], counters["cancelled"]),
                             (total, total, 0, 0, 0), counters)
            # Failures are reported, once each at most, and only for the clients that reset.
            failed = [int(peer.rsplit(":", 1)[1]) for peer, _ in fh.failure_lines(srv)]
            self.assertEqual(len(failed), counters["errors"])
            self.assertEqual(len(failed), len(set(failed)), "a failure reported twice")
            self.assertLessEqual(set(failed), reset_ports, "a healthy client's request failed")
            sys.stderr.write("[%s: %d resets, %d reported as failures]\n" % (mode, len(reset_ports), len(failed)))
        self.at_once(MODES, case)


class HalfClosed(Case):
    N = 40

    def test_half_closed_clients_get_every_reply(self):
        # Each client sends its lines (the last without '\n'), shuts its writing side
        # while the replies are still coming, and must get every byte back, then EOF.
        def case(mode):
            srv = self.server("echo", "--listen", TCP, "--mode", mode)
            rng = random.Random(mode)
            many = Many(self, srv.address.addr, self.N)
            many.connect_all(batch=self.N, timeout=30 * SLOW)
            for c in many.clients:
                lines = [rng.randbytes(rng.randrange(0, 3000)).replace(b"\n", b".") + b"\n"
                         for _ in range(rng.randrange(20, 80))]
                c.out = c.want = b"".join(lines) + b"no end of line %d" % c.i
            many.exchange(timeout=60 * SLOW, shut=True)
            srv.stop()
            counters = fh.stopped_counters(srv)
            self.assertEqual((counters["accepted"], counters["completed"], counters["errors"]),
                             (self.N, self.N, 0))
        self.at_once(MODES, case)

    def test_half_close_before_sending(self):
        def case(mode):
            srv = self.server("echo", "--listen", TCP, "--mode", mode)
            baseline = srv.fd_count()
            for _ in range(50):
                with srv.connect() as c:
                    c.shutdown_write()
                    self.assertEqual(c.recv_until_closed(), (b"", "eof"))
            self.assertFdsSettle(srv, baseline)
            srv.stop()
            counters = fh.stopped_counters(srv)
            self.assertEqual((counters["accepted"], counters["completed"], counters["errors"]), (50, 50, 0))
        self.at_once(MODES, case)

    def test_unix_half_close(self):
        # The same on a Unix socket, whose shutdown semantics differ from TCP's.
        def case(mode):
            srv = self.server("echo", "--listen", "unix:" + os.path.join(self.tmp, "h-%s.sock" % mode),
                              "--mode", mode)
            for i in range(20):
                with srv.connect() as c:
                    data = b"line\n" * i + b"tail %d" % i
                    c.send(data)
                    c.shutdown_write()
                    self.assertEqual(c.recv_until_closed(), (data, "eof"))
            srv.stop()
            self.assertEqual(fh.stopped_counters(srv)["completed"], 20)
        self.at_once(MODES, case)


if __name__ == "__main__":
    unittest.main(verbosity=2)
