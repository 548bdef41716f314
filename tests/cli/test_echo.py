"""test_echo.py: `sockserv echo` on every transport in every mode: lines, binary data, limits, datagrams, fds, junk."""
import os
import random
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sockserv_harness import MODES, Case, in_thread, unique, wait_until  # noqa: E402

TCP = "tcp://127.0.0.1:0"
MiB = 1 << 20


def junk_line(n, rng):
    """n random bytes with no b'\\n' among them."""
    return bytes(b if b != 10 else 11 for b in rng.randbytes(n))


class EchoStream(Case):
    def test_binary_line_byte_for_byte(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                srv = self.server("echo", "--listen", TCP, "--mode", mode)
                rng = random.Random(1)
                every_byte = bytes(b for b in range(256) if b != 10)
                c = self.connect(srv)
                for line in (every_byte, every_byte * 3, b"\0" * 100, b"\r\r\r", b"", junk_line(70000, rng)):
                    c.send(line + b"\n")
                    self.assertEqual(c.recv_exact(len(line) + 1), line + b"\n")
                c.close()
                srv.stop()

    def test_crlf_kept(self):
        srv = self.server("echo", "--listen", TCP)
        c = self.connect(srv)
        c.send(b"dos line\r\n")
        self.assertEqual(c.recv_line(), b"dos line\r\n")
        c.close()  # an idle client left connected would wait out the drain
        srv.stop()

    def test_last_line_without_newline_then_close(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                srv = self.server("echo", "--listen", TCP, "--mode", mode)
                c = self.connect(srv)
                c.send(b"first\nlast without newline \x00\xff")
                c.shutdown_write()
                data, how = c.recv_until_closed()
                self.assertEqual(data, b"first\nlast without newline \x00\xff")
                self.assertEqual(how, "eof")
                srv.stop()

    def test_eof_closes_connection(self):
        srv = self.server("echo", "--listen", TCP)
        c = self.connect(srv)
        c.send(b"one\n")
        self.assertEqual(c.recv_line(), b"one\n")
        c.shutdown_write()
        data, how = c.recv_until_closed()
        self.assertEqual((data, how), (b"", "eof"))
        srv.stop()

    def test_pipelined_lines(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                srv = self.server("echo", "--listen", TCP, "--mode", mode)
                rng = random.Random(2)
                lines = [junk_line(rng.randrange(0, 300), rng) + b"\n" for _ in range(5000)]
                blob = b"".join(lines)
                c = self.connect(srv)
                join = in_thread(c.send, blob)  # send while reading: no deadlock on full buffers
                got = c.recv_exact(len(blob), timeout=30)
                join()
                self.assertEqual(got, blob)
                c.shutdown_write()
                self.assertEqual(c.recv_until_closed(), (b"", "eof"))
                srv.stop()

    def test_line_split_across_writes(self):
        srv = self.server("echo", "--listen", TCP)
        c = self.connect(srv)
        for piece in (b"sp", b"li", b"t ", b"li", b"ne"):
            c.send(piece)
            time.sleep(0.02)
        c.assert_open(0.2)  # nothing echoed before the end of line
        c.send(b"\n")
        self.assertEqual(c.recv_line(), b"split line\n")
        c.close()
        srv.stop()

    def test_big_line_under_default_limit(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                srv = self.server("echo", "--listen", TCP, "--mode", mode)
                rng = random.Random(3)
                line = junk_line(MiB - 1, rng) + b"\n"  # 1 MiB with its end of line: within the default
                c = self.connect(srv)
                join = in_thread(c.send, line)
                self.assertEqual(c.recv_exact(len(line), timeout=30), line)
                join()
                c.close()
                srv.stop()

    def test_line_over_default_limit_disconnects(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                srv = self.server("echo", "--listen", TCP, "--mode", mode)
                c = self.connect(srv)
                join = in_thread(self.send_ignoring_reset, c, b"y" * (MiB + 2) + b"\n")
                data, how = c.recv_until_closed(timeout=30)
                join()
                self.assertNotIn(b"y" * 1000, data, "an over-long line was echoed (in part)")
                srv.stop()

    @staticmethod
    def send_ignoring_reset(c, data):
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server hung up on us: that is the point

    def test_max_line(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                srv = self.server("echo", "--listen", TCP, "--max-line", "100", "--mode", mode)
                other = None
                if mode != "sync":  # a client that stays connected meanwhile
                    other = self.connect(srv)
                    other.send(b"before\n")
                    self.assertEqual(other.recv_line(), b"before\n")
                # Within the limit however it is counted (99 bytes + end of line).
                c = self.connect(srv)
                ok = b"a" * 99 + b"\n"
                c.send(ok)
                self.assertEqual(c.recv_line(), ok)
                # Over the limit however it is counted: never echoed, client dropped.
                client = c.hostport()
                before = len(srv.stderr())
                self.send_ignoring_reset(c, b"prefix-ok\n" + b"b" * 101 + b"\nafter\n")
                data, how = c.recv_until_closed()
                self.assertNotIn(b"b" * 101, data)
                self.assertNotIn(b"after", data, "lines after the over-long one were served")
                self.assertIn(data, (b"", b"prefix-ok\n"))
                # Reported through handle_error: one line naming the client.
                port = client.rsplit(":", 1)[1]
                self.assertTrue(wait_until(lambda: port.encode() in srv.stderr()[before:], 5),
                                "no error naming %s on stderr:\n%s"
                                % (client, srv.stderr()[before:].decode(errors="replace")))
                # The server serves on: the other client and a new one.
                if other:
                    other.send(b"still here\n")
                    self.assertEqual(other.recv_line(), b"still here\n")
                    other.close()
                n = self.connect(srv)
                n.send(b"new\n")
                self.assertEqual(n.recv_line(), b"new\n")
                n.close()
                srv.stop()

    def test_max_line_exactly_at_limit(self):
        # --max-line counts the line's bytes without its end of line (see the report):
        # a 100-byte line is echoed, a 101-byte one is not.
        srv = self.server("echo", "--listen", TCP, "--max-line", "100")
        c = self.connect(srv)
        line = b"x" * 100 + b"\n"
        c.send(line)
        self.assertEqual(c.recv_line(), line)
        # A last line at the limit without its end of line, at EOF, is echoed too.
        c.send(b"z" * 100)
        c.shutdown_write()
        self.assertEqual(c.recv_until_closed(), (b"z" * 100, "eof"))
        d = self.connect(srv)
        self.send_ignoring_reset(d, b"x" * 101 + b"\n")
        data, how = d.recv_until_closed()
        self.assertEqual(data, b"")
        srv.stop()

    def test_max_line_without_newline_at_eof(self):
        srv = self.server("echo", "--listen", TCP, "--max-line", "100")
        c = self.connect(srv)
        self.send_ignoring_reset(c, b"w" * 150)
        try:
            c.shutdown_write()
        except OSError:
            pass
        data, how = c.recv_until_closed()
        self.assertEqual(data, b"", "a last line over the limit was echoed")
        srv.stop()


class EchoDatagram(Case):
    def datagram_kinds(self):
        return {k: u for k, u in self.urls().items() if "udp" in k or "dgram" in k}

    def test_datagrams_whole(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                rng = random.Random(4)
                for kind, url in sorted(self.datagram_kinds().items()):
                    with self.subTest(kind=kind):
                        srv = self.server("echo", "--listen", url, "--mode", mode)
                        c = self.connect(srv)
                        for size in (1, 2, 100, 1400, 4096, 8192):
                            msg = rng.randbytes(size)  # any bytes, '\n' included
                            c.send(msg)
                            self.assertEqual(c.recv(), msg, "size %d" % size)
                        c.send(b"a\nb\nc\n")
                        self.assertEqual(c.recv(), b"a\nb\nc\n")
                        c.send(b"no newline")
                        self.assertEqual(c.recv(), b"no newline")
                        srv.stop()

    def test_each_sender_gets_its_own(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                for kind, url in sorted(self.datagram_kinds().items()):
                    with self.subTest(kind=kind):
                        srv = self.server("echo", "--listen", url, "--mode", mode)
                        clients = [self.connect(srv) for _ in range(3)]
                        for rnd in range(5):
                            for i, c in enumerate(clients):
                                c.send(b"client %d round %d" % (i, rnd))
                            for i, c in enumerate(clients):
                                self.assertEqual(c.recv(), b"client %d round %d" % (i, rnd))
                        srv.stop()

    def test_oversized_datagram_does_not_stop_the_server(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                for kind, url in sorted(self.datagram_kinds().items()):
                    with self.subTest(kind=kind):
                        srv = self.server("echo", "--listen", url, "--mode", mode)
                        c = self.connect(srv)
                        try:
                            c.send(b"J" * 60000)
                        except OSError:
                            pass  # the kernel may refuse it; fine
                        marker = unique("marker").encode()
                        c.send(marker)
                        while True:  # the big one may come back whole, or not at all
                            got = c.recv()
                            if got == marker:
                                break
                            self.assertEqual(got, b"J" * 60000, "a datagram came back cut")
                        srv.stop()


def exchange(test, srv, clients=3, lines=3):
    """Echo on any transport: concurrent clients, or one after another in sync mode."""
    stream = srv.address.type == socket.SOCK_STREAM
    sync = "sync" in srv.args

    def one(i, c):
        for j in range(lines):
            msg = b"client %d line %d \x00\xff" % (i, j)
            if stream:
                c.send(msg + b"\n")
                test.assertEqual(c.recv_line(), msg + b"\n")
            else:
                c.send(msg)
                test.assertEqual(c.recv(), msg)

    if sync and stream:
        for i in range(clients):
            c = test.connect(srv)
            one(i, c)
            c.close()
        return
    conns = [test.connect(srv) for _ in range(clients)]
    joins = [in_thread(one, i, c) for i, c in enumerate(conns)]
    try:
        for j in joins:
            j()
    except AssertionError as e:
        raise AssertionError("%s\nclients %s\n%s" % (e, [c.sock.getsockname() for c in conns],
                                                  srv.describe())) from None
    for c in conns:
        c.close()


class EveryModeEveryTransport(Case):
    def test_matrix(self):
        for mode in MODES:
            for kind, url in sorted(self.urls().items()):
                with self.subTest(mode=mode, kind=kind):
                    srv = self.server("echo", "--listen", url, "--mode", mode)
                    exchange(self, srv)
                    srv.stop()


class Resources(Case):
    def test_fds_flat_after_200_connections(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                srv = self.server("echo", "--listen", TCP, "--mode", mode)
                for _ in range(3):  # warm up: anything created once per server
                    with self.connect(srv) as c:
                        c.send(b"w\n")
                        c.recv_line()
                time.sleep(0.2)
                baseline = srv.fd_count()
                for i in range(200):
                    with self.connect(srv) as c:
                        c.send(b"%d\n" % i)
                        self.assertEqual(c.recv_line(), b"%d\n" % i)
                self.assertFdsSettle(srv, baseline)
                srv.stop()

    def test_fds_flat_unix(self):
        def case(p):
            path = os.path.join(self.tmp, "fd-%s.sock" % p["mode"])
            srv = self.server("echo", "--listen", "unix:" + path, "--mode", p["mode"])
            with self.connect(srv) as c:
                c.send(b"w\n")
                c.recv_line()
            time.sleep(0.2)
            baseline = srv.fd_count()
            for i in range(100):
                with self.connect(srv) as c:
                    c.send(b"%d\n" % i)
                    self.assertEqual(c.recv_line(), b"%d\n" % i)
            self.assertFdsSettle(srv, baseline)
            srv.stop()
        self.at_once([dict(mode=m) for m in MODES], case)


class Junk(Case):
    def test_junk_and_resets(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                srv = self.server("echo", "--listen", TCP, "--mode", mode, "--max-line", "4096")
                rng = random.Random(5)
                baseline = None
                for i in range(40):
                    c = self.connect(srv)
                    kind = i % 4
                    try:
                        if kind == 0:  # random bytes, '\n' included, then a reset
                            c.send(rng.randbytes(rng.randrange(1, 20000)))
                            c.reset()
                        elif kind == 1:  # connect and reset at once
                            c.reset()
                        elif kind == 2:  # junk without end of line, then a clean close
                            c.send(junk_line(rng.randrange(1, 3000), rng))
                            c.close()
                        else:  # junk, half-close, read a little, reset
                            c.send(rng.randbytes(5000))
                            c.shutdown_write()
                            c.sock.settimeout(0.05)
                            try:
                                c.sock.recv(10)
                            except OSError:
                                pass
                            c.reset()
                    except OSError:
                        pass  # the server may hang up first (long line): fine
                    if i == 3:
                        time.sleep(0.3)
                        baseline = srv.fd_count()
                self.assertTrue(srv.running(), "the server died on junk\n" + srv.describe())
                c = self.connect(srv)
                c.send(b"still serving\n")
                self.assertEqual(c.recv_line(), b"still serving\n")
                c.close()
                self.assertFdsSettle(srv, baseline)
                srv.stop()

    def test_junk_datagrams(self):
        kinds = sorted((k, u) for k, u in self.urls().items() if "udp" in k or "dgram" in k)

        def case(p):
            rng = random.Random(6)
            for kind, url in kinds:
                if url.startswith("unix-dgram:/"):  # a path of its own per mode
                    url = "unix-dgram:" + os.path.join(self.tmp, "junk-%s.sock" % p["mode"])
                elif url.startswith("unix-dgram:@"):
                    url = "unix-dgram:@" + unique("junk-" + p["mode"])
                srv = self.server("echo", "--listen", url, "--mode", p["mode"])
                c = self.connect(srv)
                # Sent without waiting: a Unix-datagram server's replies to a client that
                # does not read yet fill the server's send buffer, and a blocking sender
                # would then wait for a server that waits for it.
                c.sock.setblocking(False)
                for _ in range(50):
                    try:
                        c.sock.send(rng.randbytes(rng.randrange(0, 9000)))
                    except OSError:
                        pass
                self.assertTrue(srv.running(), "the server died on junk (%s)\n%s" % (kind, srv.describe()))
                # Datagrams may be dropped on full buffers: ask again until the marker comes back.
                marker = unique("after-junk").encode()
                for attempt in range(20):
                    c.sock.setblocking(False)  # the server may still wait for us to read
                    try:
                        c.sock.send(marker)
                    except OSError:
                        pass
                    if self.drain_until(c, marker, 1.0):
                        break
                else:
                    self.fail("no reply to a datagram after junk (%s)\n%s" % (kind, srv.describe()))
                c.close()
                srv.stop()
        self.at_once([dict(mode=m) for m in MODES], case)

    @staticmethod
    def drain_until(c, marker, wait):
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                if c.recv(timeout=left) == marker:
                    return True
            except AssertionError:
                return False


if __name__ == "__main__":
    unittest.main(verbosity=2)
