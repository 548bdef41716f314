"""test_volume.py: a million lines echoed end to end: byte count and SHA-256 equal both ways (nothing lost, nothing duplicated, nothing reordered)."""
import hashlib
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_harness as fh  # noqa: E402
from sockserv_harness import SLOW, Case, in_thread  # noqa: E402

LINES = 1000000
CHUNK = 1 << 16


def lines_blob(first, count):
    """Lines numbered first.. of varied length (1 to ~90 bytes, '\\n' included)."""
    fill = b"abcdefghijklmnopqrstuvwxyz0123456789" * 2
    return b"".join(b"%d %s\n" % (i, fill[: i * 7919 % 73]) for i in range(first, first + count))


def pump(conn, blob, timeout):
    """Send blob while reading the echo; returns (bytes back, their SHA-256, seconds)."""
    sock = conn.sock
    sock.settimeout(timeout)
    t0 = time.monotonic()

    def send():
        view = memoryview(blob)
        for off in range(0, len(view), CHUNK):
            sock.sendall(view[off:off + CHUNK])
        sock.shutdown(socket.SHUT_WR)
    sender = in_thread(send)
    digest = hashlib.sha256()
    n = 0
    while True:
        data = sock.recv(1 << 20)
        if not data:
            break
        digest.update(data)
        n += len(data)
    sender(timeout)
    return n, digest.hexdigest(), time.monotonic() - t0


class Volume(Case):
    def run_volume(self, url, args, conns):
        srv = self.server("echo", "--listen", url, *args)
        per = LINES // conns
        blobs = [lines_blob(k * per, per) for k in range(conns)]
        clients = [self.connect(srv) for _ in range(conns)]
        joins = [in_thread(pump, c, b, 60 * SLOW) for c, b in zip(clients, blobs)]
        results = [j(90 * SLOW) for j in joins]
        for blob, (n, digest, took) in zip(blobs, results):
            self.assertEqual(n, len(blob), "bytes back != bytes sent")
            self.assertEqual(digest, hashlib.sha256(blob).hexdigest(), "the echo differs from what was sent")
        srv.stop()
        counters = fh.stopped_counters(srv)
        self.assertEqual((counters["accepted"], counters["completed"], counters["errors"]), (conns, conns, 0))
        sys.stderr.write("[%s %s: %d lines, %.1f MB each way over %d connection(s) in %.1fs]\n"
                         % (url.split(":")[0], " ".join(args), LINES, sum(map(len, blobs)) / 1e6, conns,
                            max(r[2] for r in results)))

    def test_one_connection_each_thread_mode(self):
        self.at_once(("sync", "threading", "pool"),
                     lambda mode: self.run_volume("tcp://127.0.0.1:0", ("--mode", mode), 1))

    def test_four_connections_one_event_loop(self):
        self.run_volume("tcp://127.0.0.1:0", ("--mode", "event", "--workers", "1"), 4)

    def test_unix_forking(self):
        self.run_volume("unix:" + os.path.join(self.tmp, "v.sock"), ("--mode", "forking"), 2)

if __name__ == "__main__":
    unittest.main(verbosity=2)
