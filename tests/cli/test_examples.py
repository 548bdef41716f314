"""test_examples.py: the built examples (build/examples) run and do what their first line says, in every mode.

The examples' handlers are written once, in blocking style, for threading; the
same code runs unmodified under sync, forking, pool and event (the mode is only
the program's second argument), and these tests hold it to the same
expectations in every mode. What differs is only what the mode itself means:
sync serves one client at a time, and forking gives each client a process (so
the chat example's room, a list in memory, is per client there).
"""
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sockserv_harness import EXAMPLES, MODES, Case, run, wait_until  # noqa: E402

TCP = "tcp://127.0.0.1:0"
SHARED_ROOM = ("threading", "pool", "event")  # chat example: one room for every client


class Examples(Case):
    needs_program = False

    def example(self, name, *args):
        exe = os.path.join(EXAMPLES, name)
        if not os.access(exe, os.X_OK):
            self.fail("example not built: %s (set SOCKSERV_EXAMPLES)" % exe)
        return self.server(*args, exe=exe)

    def test_echo_prefix(self):
        def case(p):
            srv = self.example("echo_prefix", TCP, p["mode"])
            c = self.connect(srv)
            c.send(b"hello\n")
            self.assertEqual(c.recv_line(), ("%s hello\n" % c.hostport()).encode())
            c.send(b"two\nlines\n")
            self.assertEqual(c.recv_line(), ("%s two\n" % c.hostport()).encode())
            self.assertEqual(c.recv_line(), ("%s lines\n" % c.hostport()).encode())
            d = self.connect(srv)  # sync: served once c is done
            d.send(b"second client\n")
            c.send(b" quit \n")
            self.assertEqual(c.recv_until_closed(), (b"", "eof"))
            self.assertEqual(d.recv_line(), ("%s second client\n" % d.hostport()).encode())
            d.send(b"last, no newline")
            d.shutdown_write()
            self.assertEqual(d.recv_until_closed(), (("%s last, no newline\n" % d.hostport()).encode(), "eof"))
            srv.stop(signal.SIGTERM)
        self.at_once([dict(mode=m) for m in MODES], case)

    def test_echo_prefix_unix_and_udp(self):
        def case(p):
            mode = p["mode"]
            srv = self.example("echo_prefix", "unix:" + os.path.join(self.tmp, "e-%s.sock" % mode), mode)
            c = self.connect(srv)
            c.send(b"over unix\n")
            self.assertRegex(c.recv_line(), rb"^\S+ over unix\n$")
            c.close()
            srv.stop(signal.SIGINT)
            srv = self.example("echo_prefix", "udp://127.0.0.1:0", mode)
            d = self.connect(srv)
            for i in range(3):
                d.send(b"datagram %d\n" % i)
                self.assertEqual(d.recv(), ("127.0.0.1:%d datagram %d\n" % (d.sock.getsockname()[1], i)).encode())
            srv.stop()
        self.at_once([dict(mode=m) for m in MODES], case)

    def test_hello_prints_server_request_client(self):
        def case(p):
            srv = self.example("hello", TCP, p["mode"])
            c = self.connect(srv)
            client = c.hostport()
            printed = wait_until(lambda: client.encode() in srv.stdout(), 5)
            self.assertTrue(printed, "hello did not print the client\n" + srv.describe())
            out = srv.stdout().decode()
            self.assertIn(srv.url, out.split("\n", 1)[1], "hello did not print its server")
            c.close()
            closed = wait_until(lambda: ("client %s closed" % client).encode() in srv.stdout(), 5)
            self.assertTrue(closed, "hello did not see the client close\n" + srv.describe())
            srv.stop()
        self.at_once([dict(mode=m) for m in MODES], case)

    def test_chat(self):
        def case(p):
            mode = p["mode"]
            srv = self.example("chat", TCP, mode)
            a = self.connect(srv)
            a.send(b"a joins\n")
            self.assertEqual(a.recv_line(), ("%s a joins\n" % a.hostport()).encode())
            b = self.connect(srv)  # only now: b must not see a's join line
            b.send(b"b joins\n")
            if mode == "sync":  # b waits in the backlog until a leaves
                b.assert_open(0.3)
                a.send(b"alone\n")
                self.assertEqual(a.recv_line(), ("%s alone\n" % a.hostport()).encode())
                a.send(b"quit\n")
                self.assertEqual(a.recv_until_closed(), (b"", "eof"))
                self.assertEqual(b.recv_line(), ("%s b joins\n" % b.hostport()).encode())
                b.send(b"quit\n")
                self.assertEqual(b.recv_until_closed(), (b"", "eof"))
                srv.stop()
                return
            self.assertEqual(b.recv_line(), ("%s b joins\n" % b.hostport()).encode())
            if mode in SHARED_ROOM:
                self.assertEqual(a.recv_line(), ("%s b joins\n" % b.hostport()).encode())
            a.send(b"hi all\n")
            for c in (a, b) if mode in SHARED_ROOM else (a,):
                self.assertEqual(c.recv_line(), ("%s hi all\n" % a.hostport()).encode())
            if mode == "forking":  # a room per process: nothing of a's reaches b
                b.assert_open(0.3)
            a.send(b"quit\n")
            self.assertEqual(a.recv_until_closed(), (b"", "eof"))
            b.send(b"still here\n")
            self.assertEqual(b.recv_line(), ("%s still here\n" % b.hostport()).encode())
            srv.stop()
        self.at_once([dict(mode=m) for m in MODES], case)

    def test_chat_reader_that_stalls(self):
        # The example's broadcast never blocks: a member that stops reading is
        # disconnected once its socket is full, and the others go on (under event, a
        # blocking send would stall the whole loop, one loop here).
        def case(p):
            args = p["args"].split()
            srv = self.example("chat", TCP, *args)
            slow = self.connect(srv, rcvbuf=4096)
            slow.send(b"slow joins\n")
            slow.recv_line()
            talker = self.connect(srv)
            talker.send(b"talker joins\n")
            self.assertEqual(talker.recv_line(), ("%s talker joins\n" % talker.hostport()).encode())
            pad = b"p" * 4000
            for i in range(3000):  # 12 MB: far more than the kernel buffers for the slow one
                talker.send(b"%d %s\n" % (i, pad))
                self.assertEqual(talker.recv_line(), ("%s %d " % (talker.hostport(), i)).encode() + pad + b"\n")
            data, how = slow.recv_until_closed()
            self.assertLess(len(data), 3000 * 4000, "the stalled member was never disconnected")
            srv.stop()
        self.at_once([dict(args=a) for a in ("threading", "pool", "event")], case)

    def test_bad_usage(self):
        exe = os.path.join(EXAMPLES, "echo_prefix")
        code, out, err = run(["tcp://127.0.0.1:70000"], exe=exe)
        self.assertEqual(code, 2, err)
        code, out, err = run([TCP, "bogus-mode"], exe=exe)
        self.assertEqual(code, 2, err)
        self.assertIn("event", err, "the usage line does not list the modes")


if __name__ == "__main__":
    unittest.main(verbosity=2)
