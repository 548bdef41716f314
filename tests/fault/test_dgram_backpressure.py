"""test_dgram_backpressure.py: datagram clients that never read their replies: the server holds nothing for them, drops and counts what they cannot take, and goes on serving everyone else."""
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_harness as fh  # noqa: E402
from sockserv_harness import IO_TIMEOUT, MODES, Case, thread_count, unique, wait_until  # noqa: E402

FLOOD = 4000          # requests of the client that never reads
SIZE = 1000           # bytes each (a reply the same size)


def ask(sock, text, tries=20, wait=0.5):
    """Send text until the same comes back (a datagram reply may be dropped):
    the number of tries it took; AssertionError after `tries`."""
    for n in range(1, tries + 1):
        sock.send(text)
        sock.settimeout(wait)
        try:
            while True:
                if sock.recv(65536) == text:
                    return n
        except socket.timeout:
            continue
    raise AssertionError("no reply to %r in %d tries" % (text, tries))


def flood(sock, count, payload):
    """Send count datagrams, waiting for room in the client's own buffer."""
    sent = 0
    sock.settimeout(10)
    while sent < count:
        sock.send(payload)
        sent += 1


class UnreadReplies(Case):

    def unix_hog(self, mode):
        path = os.path.join(self.tmp, "d-%s.sock" % mode)
        srv = self.server("echo", "--listen", "unix-dgram:" + path, "--mode", mode)
        hog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(hog.close)
        hog.bind("\0" + unique("hog"))
        hog.connect(path)  # a connected client: the kernel's per-receiver queue limit does not apply
        flood(hog, FLOOD, b"h" * SIZE)
        good = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(good.close)
        good.bind("\0" + unique("good"))
        good.connect(path)
        for i in range(50):
            ask(good, b"line %d of a client that reads" % i)
        # Nothing waits in the server for the hog: no thread, no child, no fd per reply
        # (threading may still be working through the flood: each request ends at once).
        self.assertTrue(wait_until(lambda: thread_count(srv.pid) < 16, IO_TIMEOUT),
                        "%d threads" % thread_count(srv.pid))
        self.assertTrue(wait_until(lambda: srv.fd_count() < 64, IO_TIMEOUT), "%d fds" % srv.fd_count())
        # Once it reads, it finds a bounded share of its replies, and is served again.
        hog.settimeout(0.3)
        waiting = 0
        try:
            while hog.recv(65536):
                waiting += 1
        except socket.timeout:
            pass
        self.assertGreater(waiting, 0)
        self.assertLess(waiting, FLOOD // 2)
        ask(hog, b"the hog reads now")
        srv.stop()
        counters = fh.stopped_counters(srv)
        self.assertGreater(counters["dropped"], 0, counters)
        self.assertEqual(counters["errors"], 0, counters)
        return counters

    def test_unix_client_that_never_reads(self):
        self.at_once(MODES, self.unix_hog)

    def test_udp_client_that_never_reads(self):
        # UDP: the kernel drops at the receiver; the server never waits either.
        def case(mode):
            srv = self.server("echo", "--listen", "udp://127.0.0.1:0", "--mode", mode)
            hog = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.addCleanup(hog.close)
            hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            hog.connect(srv.address.addr)
            flood(hog, FLOOD, b"u" * SIZE)
            good = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.addCleanup(good.close)
            good.connect(srv.address.addr)
            for i in range(50):
                ask(good, b"udp line %d" % i)
            self.assertTrue(wait_until(lambda: thread_count(srv.pid) < 16, IO_TIMEOUT),
                            "%d threads" % thread_count(srv.pid))
            srv.stop()
            self.assertEqual(fh.stopped_counters(srv)["errors"], 0)
        self.at_once(MODES, case)


if __name__ == "__main__":
    unittest.main(verbosity=2)
