"""test_concurrency.py: many clients at once: one event loop serves 500; two pool workers serve 50 in turn."""
import os
import random
import resource
import selectors
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sockserv_harness import PROGRAM_THREADS, SLOW, Case, wait_until  # noqa: E402

TCP = "tcp://127.0.0.1:0"


def raise_fd_limit(want):
    """Make room for `want` descriptors in this process and the servers it starts
    (they inherit the limit); False if the hard limit forbids it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return True
    if hard != resource.RLIM_INFINITY and hard < want:
        return False
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return True


class Client:
    """One non-blocking connection driven by a selector: what it still has to send
    and the bytes it expects back."""

    def __init__(self, i, sock):
        self.i = i
        self.sock = sock
        self.out = b""
        self.want = b""
        self.got = b""
        self.eof = False


class Many:
    """Drive clients with one selector, with an overall deadline."""

    def __init__(self, test, addr, n):
        self.test = test
        self.sel = selectors.DefaultSelector()
        self.clients = []
        for i in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            test.addCleanup(s.close)
            self.clients.append(Client(i, s))
        self.addr = addr

    def connect_all(self, batch, timeout):
        """Connect in batches smaller than the listen backlog; wait for each batch."""
        deadline = time.monotonic() + timeout
        for start in range(0, len(self.clients), batch):
            group = self.clients[start:start + batch]
            for c in group:
                err = c.sock.connect_ex(self.addr)
                self.test.assertIn(err, (0, 115), "connect: %s" % os.strerror(err))  # EINPROGRESS
                self.sel.register(c.sock, selectors.EVENT_WRITE, c)
            waiting = set(c.i for c in group)
            while waiting:
                left = deadline - time.monotonic()
                self.test.assertGreater(left, 0, "%d connections still not established" % len(waiting))
                for key, _ in self.sel.select(min(left, 1.0)):
                    c = key.data
                    err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    self.test.assertEqual(err, 0, "client %d: connect: %s" % (c.i, os.strerror(err)))
                    self.sel.unregister(c.sock)
                    waiting.discard(c.i)

    def exchange(self, timeout, shut=False):
        """Send every client's `out` while reading what comes back, until every client got
        `want` (and EOF, if shut: each half-closes once its output is sent)."""
        deadline = time.monotonic() + timeout
        busy = {}
        for c in self.clients:
            c.got = b""
            c.eof = False
            busy[c.i] = c
            self.sel.register(c.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if c.out else 0), c)
        while busy:
            left = deadline - time.monotonic()
            if left <= 0:
                c = next(iter(busy.values()))
                self.test.fail("%d clients not done in %.0fs; client %d has %d of %d bytes, eof %s"
                               % (len(busy), timeout, c.i, len(c.got), len(c.want), c.eof))
            for key, ev in self.sel.select(min(left, 1.0)):
                c = key.data
                if ev & selectors.EVENT_WRITE and c.out:
                    n = c.sock.send(c.out)
                    c.out = c.out[n:]
                    if not c.out:
                        self.sel.modify(c.sock, selectors.EVENT_READ, c)
                        if shut:
                            c.sock.shutdown(socket.SHUT_WR)
                if ev & selectors.EVENT_READ:
                    try:
                        data = c.sock.recv(1 << 16)
                    except BlockingIOError:
                        continue
                    if not data:
                        c.eof = True
                    c.got += data
                    if len(c.got) > len(c.want) or c.want[:len(c.got)] != c.got:
                        self.test.fail("client %d got bytes it did not send (%d bytes in)"
                                       % (c.i, len(c.got)))
                    if c.eof and not shut:
                        self.test.fail("client %d: the server closed the connection" % c.i)
                if c.got == c.want and not c.out and (c.eof or not shut):
                    self.sel.unregister(c.sock)
                    del busy[c.i]


class EventLoop(Case):
    N = 500

    def test_500_concurrent_connections_on_one_loop(self):
        if not raise_fd_limit(4 * self.N):
            self.skipTest("RLIMIT_NOFILE too low for %d connections" % self.N)
        srv = self.server("echo", "--listen", TCP, "--mode", "event", "--workers", "1")
        baseline = srv.fd_count()
        many = Many(self, srv.address.addr, self.N)
        many.connect_all(batch=100, timeout=60 * SLOW)
        rng = random.Random(8)
        # Three rounds in which every client has something in flight at once, from a
        # short line to several lines of up to 20 KB, then a last line without '\n'
        # and a half-close: each gets back exactly its own bytes, then EOF.
        for rnd in range(3):
            for c in many.clients:
                lines = [b"client %d round %d " % (c.i, rnd)
                         + rng.randbytes(rng.randrange(0, 20000)).replace(b"\n", b".") + b"\n"
                         for _ in range(rng.randrange(1, 4))]
                c.out = c.want = b"".join(lines)
            many.exchange(timeout=60 * SLOW)
            if rnd == 0:
                # Every connection is open in the server at once, on one loop: no thread each.
                self.assertGreaterEqual(srv.fd_count() - baseline, self.N,
                                        "the server does not hold all %d connections" % self.N)
                self.assertThreads(srv, PROGRAM_THREADS + 1, "one loop: the program's threads and the loop's")
        for c in many.clients:
            c.out = c.want = b"bye %d, no end of line" % c.i
        many.exchange(timeout=60 * SLOW, shut=True)
        for c in many.clients:
            c.sock.close()
        self.assertFdsSettle(srv, baseline, timeout=10 * SLOW)
        srv.stop()


class Pool(Case):
    N = 50
    WORKERS = 2

    def test_50_clients_on_2_workers(self):
        # All 50 are served while every one of them stays connected: a
        # request waiting for input holds no worker, and still only the
        # main thread and the 2 workers exist.
        srv = self.server("echo", "--listen", TCP, "--mode", "pool", "--workers", str(self.WORKERS))
        baseline = srv.fd_count()
        conns = []
        for i in range(self.N):
            c = self.connect(srv)
            c.send(b"client %d\n" % i)
            conns.append(c)
        for i, c in enumerate(conns):
            self.assertEqual(c.recv_line(), b"client %d\n" % i)
        self.assertThreads(srv, PROGRAM_THREADS + self.WORKERS,
                           "the program's threads and a pool of %d workers" % self.WORKERS)
        self.assertEqual(srv.fd_count() - baseline, self.N, "every client is connected at once")
        for i, c in enumerate(conns):
            c.send(b"bye %d\n" % i)
        for i, c in enumerate(conns):
            self.assertEqual(c.recv_line(), b"bye %d\n" % i)
            c.shutdown_write()
            self.assertEqual(c.recv_until_closed(), (b"", "eof"))
            c.close()
        self.assertTrue(wait_until(lambda: srv.fd_count() <= baseline, 5 * SLOW), "connections left open")
        srv.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
