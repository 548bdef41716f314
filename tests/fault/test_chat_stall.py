"""test_chat_stall.py: chat members that never read: the others get every line, the stallers are disconnected, the server's memory stays bounded by the per-member backlog."""
import os
import re
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_harness as fh  # noqa: E402
from sockserv_harness import CONCURRENT, SLOW, in_thread  # noqa: E402
from test_chat import ChatCase  # noqa: E402  (tests/cli: members that join, rooms that settle)

TCP = "tcp://127.0.0.1:0"
BACKLOG_KIB = 1024   # what the room queues for one member beyond its socket (--help)
SLACK_KIB = 8192     # allocator and thread noise
LINE = 1024
BURST = 64
TOTAL = 16 << 20     # bytes said in the room


class RssPeak:
    """Sample a process's RSS in a thread until stopped; the highest value seen."""

    def __init__(self, pid):
        self.peak = fh.rss_kib(pid)
        self.done = threading.Event()

        def body():
            while not self.done.wait(0.05):
                try:
                    self.peak = max(self.peak, fh.rss_kib(pid))
                except (OSError, AssertionError):
                    return
        self.thread = threading.Thread(target=body, daemon=True)
        self.thread.start()

    def stop(self):
        self.done.set()
        self.thread.join(5)
        return self.peak


class Stallers(ChatCase):
    STALLERS = 3

    def test_members_that_never_read(self):
        def case(mode):
            srv = self.server("chat", "--listen", TCP, "--mode", *mode.split())
            stallers = [self.join(srv, rcvbuf=4096) for _ in range(self.STALLERS)]  # never read again
            talkers = [self.join(srv), self.join(srv)]
            self.settle(talkers)
            rss = fh.rss_kib(srv.pid)
            peak = RssPeak(srv.pid)
            bursts = TOTAL // LINE // BURST // len(talkers)

            def talk(i, m):
                """Bursts of lines in lockstep: burst k goes out once every talker's burst
                k-1 came back, so no healthy member ever lags by more than two bursts
                (it would be disconnected as a staller past the backlog)."""
                got = []
                done = [-1] * len(talkers)  # per talker, the last burst seen whole
                pad = b"p" * (LINE - 40)

                def read_one():
                    line = m.line(timeout=20 * SLOW)
                    got.append(line)
                    end = re.search(rb" t(\d+) b(\d+) n%d " % (BURST - 1), line)
                    if end:
                        done[int(end.group(1))] = int(end.group(2))
                for k in range(bursts):
                    while min(done) < k - 1:
                        read_one()
                    m.conn.send(b"".join(b"t%d b%d n%d %s\n" % (i, k, j, pad) for j in range(BURST)))
                while min(done) < bursts - 1:
                    read_one()
                return got

            got = [j(120 * SLOW) for j in [in_thread(talk, i, m) for i, m in enumerate(talkers)]]
            high = peak.stop() - rss
            # Both healthy members got every line, whole, in the same order.
            self.assertEqual(len(got[0]), len(talkers) * bursts * BURST)
            self.assertEqual(got[0], got[1], "the two healthy members saw different lines")
            # Every staller was disconnected, long before it could have been sent everything.
            for s in stallers:
                data, how = s.conn.recv_until_closed(timeout=20 * SLOW)
                self.assertLess(len(data), TOTAL // 2, "a staller was fed (almost) everything")
            if not fh.sanitized():  # under ASan freed memory sits in quarantine
                self.assertLess(high, self.STALLERS * BACKLOG_KIB + SLACK_KIB,
                                "RSS grew by %d KiB with %d stallers" % (high, self.STALLERS))
            # The room still works after they are gone.
            talkers[0].say(b"after the stallers")
            for m in talkers:
                m.skip_to(b"after the stallers")
            srv.stop()
            sys.stderr.write("[%s: %d MiB through the room, RSS peak %+d KiB]\n" % (mode, TOTAL >> 20, high))
        # One event loop too: the room's traffic then shares one thread with every handler.
        self.at_once(CONCURRENT + ("event --workers 1",), case)


if __name__ == "__main__":
    unittest.main(verbosity=2)
