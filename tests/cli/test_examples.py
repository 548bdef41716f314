"""test_examples.py: the built examples (build/examples) run and do what their first line says, in every mode.

The examples' handlers are written once, in blocking style; the same code runs
unmodified under sync, forking, pool and event (the mode is only a program
argument), and these tests hold it to the same expectations in every mode.
What differs is only what the mode itself means: sync serves one client at a
time, and forking gives each client a process (so state in memory, such as the
chat example's room or the key-value store's table, is per client there).

The C++ example (CxxExamples) is built only when there is a C++ compiler;
without one its test reports itself skipped, with the reason and the install
command. ctest runs that class alone too, as examples.cxx, so the skip shows
there as Skipped rather than as a pass.
"""
import os
import signal
import socket
import socketserver
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sockserv_harness import (EXAMPLES, MODES, ROOT, Case, ipv6_available, require,  # noqa: E402
                              run, thread_count, wait_until)

TCP = "tcp://127.0.0.1:0"
SHARED_ROOM = ("threading", "pool", "event")  # chat example: one room for every client
SHARED_STATE = tuple(m for m in MODES if m != "forking")  # one table for every client (kvstore, linecount)


def ask(conn, line):
    """Send one line, return the one-line reply without its newline."""
    conn.send(line + b"\n")
    return conn.recv_line().rstrip(b"\n")


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

    def test_dgram_upper(self):
        # A datagram service on udp:// and unix-dgram:, every mode: one reply per datagram.
        def case(p):
            mode, url = p["mode"], p["url"]
            if url == "unix-dgram":
                url = "unix-dgram:" + os.path.join(self.tmp, "up-%s.sock" % mode)
            srv = self.example("dgram_upper", url, mode)
            d = self.connect(srv)
            d.send(b"hello, datagram")
            self.assertEqual(d.recv(), b"HELLO, DATAGRAM")
            d.send(b"x" * 3000)  # past its 2048-byte limit: not served, no reply
            d.send(b"still here")
            self.assertEqual(d.recv(), b"STILL HERE")
            srv.stop(signal.SIGINT)
            self.assertIn(b"larger than max_packet_size", srv.stderr(), "the oversized datagram was not reported")
        self.at_once([dict(mode=m, url=u) for m in MODES for u in ("udp://127.0.0.1:0", "unix-dgram")], case)

    def test_dgram_upper_wants_a_datagram_url(self):
        code, out, err = run([TCP], exe=os.path.join(EXAMPLES, "dgram_upper"))
        self.assertEqual(code, 2, err)
        self.assertIn("udp://", err)

    def test_lookup(self):
        # getaddrinfo through ss_run_blocking, in every mode; names that need no DNS server.
        def case(p):
            mode = p["mode"]
            srv = self.example("lookup", TCP, mode)
            threads_before = thread_count(srv.pid)
            c = self.connect(srv)
            self.assertEqual(ask(c, b"127.0.0.1"), b"127.0.0.1 127.0.0.1")
            if ipv6_available():
                self.assertEqual(ask(c, b"::1"), b"::1 ::1")
            c.send(b"\n")  # an empty line asks nothing: the next reply is for the next name
            # localhost as this machine's resolver has it (/etc/hosts; a bare chroot may have none).
            try:
                local = {a[4][0] for a in socket.getaddrinfo("localhost", None, socket.AF_INET)}
            except socket.gaierror:
                local = set()
            answer = ask(c, b"localhost")
            if local:
                self.assertTrue(any(b" " + a.encode() in answer for a in local), (answer, local))
            else:
                self.assertIn(b"localhost ERROR ", answer, "localhost does not resolve here")
            if mode == "event":  # the lookups ran on a helper thread, started on first use
                self.assertGreater(thread_count(srv.pid), threads_before, "no ss_run_blocking helper thread")
            d = self.connect(srv) if mode != "sync" else None  # sync: one client at a time
            if d:
                self.assertEqual(ask(d, b"127.0.0.1"), b"127.0.0.1 127.0.0.1")
            c.close()
            srv.stop()
        self.at_once([dict(mode=m) for m in MODES], case)

    def test_relay(self):
        # ss_wait_fd: each client relayed to an upstream server, bytes both ways, in every mode.
        upstream = Upstream()
        self.addCleanup(upstream.close)

        def case(p):
            mode = p["mode"]
            srv = self.example("relay", TCP, upstream.hostport, mode)
            c = self.connect(srv)
            self.assertEqual(ask(c, b"hello upstream"), b"HELLO UPSTREAM")
            big = b"y" * 100000  # more than one recv, both ways
            c.send(big + b"\n")
            self.assertEqual(c.recv_exact(len(big) + 1), big.upper() + b"\n")
            if mode != "sync":  # a second client at once, relayed on its own connection
                d = self.connect(srv)
                self.assertEqual(ask(d, b"second"), b"SECOND")
                d.close()
            # The client's end of output reaches upstream, which answers and closes.
            c.shutdown_write()
            self.assertEqual(c.recv_until_closed(), (b"bye\n", "eof"))
            srv.stop()
        self.at_once([dict(mode=m) for m in MODES], case)

    def test_relay_upstream_down(self):
        # Nothing listens upstream: the client is closed and the reason reported, in every mode.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # bound, not listening: connections are refused

            def case(p):
                srv = self.example("relay", TCP, "127.0.0.1:%d" % port, p["mode"])
                c = self.connect(srv)
                self.assertEqual(c.recv_until_closed()[0], b"")
                reported = wait_until(lambda: b"Connection refused" in srv.stderr(), 5)
                self.assertTrue(reported, "the refused upstream was not reported\n" + srv.describe())
                srv.stop()
            self.at_once([dict(mode=m) for m in MODES], case)

    def test_kvstore(self):
        # One table for every client, except under forking (a copy per client).
        def case(p):
            mode = p["mode"]
            srv = self.example("kvstore", TCP, mode)
            a = self.connect(srv)
            for line, reply in ((b"GET k", b"NOT_FOUND"), (b"SET k v1", b"STORED"), (b"GET k", b"VALUE v1"),
                                (b"SET k two words", b"STORED"), (b"GET k", b"VALUE two words"),
                                (b"DEL k", b"DELETED"), (b"DEL k", b"NOT_FOUND"), (b"GET k", b"NOT_FOUND"),
                                (b"SET shared 42", b"STORED")):
                self.assertEqual(ask(a, line), reply, line)
            for bad in (b"", b"PUT k v", b"GET", b"GET k extra", b"SET k"):
                self.assertTrue(ask(a, bad).startswith(b"ERROR usage"), bad)
            if mode == "sync":  # the next client is served once this one has left
                a.close()
            b = self.connect(srv)
            if mode in SHARED_STATE:
                self.assertEqual(ask(b, b"GET shared"), b"VALUE 42", "the table is not shared")
            else:
                self.assertEqual(ask(b, b"GET shared"), b"NOT_FOUND", "forking: a copy per client")
                self.assertIn(b"own copy", srv.stderr(), "forking: the copy is not announced")
            if mode != "sync":  # a change by one client is seen by the other at once
                self.assertEqual(ask(b, b"SET from-b 1"), b"STORED")
                self.assertEqual(ask(a, b"GET from-b"),
                                 b"VALUE 1" if mode in SHARED_STATE else b"NOT_FOUND")
            srv.stop()
        self.at_once([dict(mode=m) for m in MODES], case)

    def test_kvstore_many_writers(self):
        # Clients storing at once on several threads lose nothing (the mutex).
        def case(p):
            srv = self.example("kvstore", TCP, p["mode"])
            conns = [self.connect(srv) for _ in range(8)]

            def writer(i):
                for k in range(50):
                    self.assertEqual(ask(conns[i], b"SET k%d-%d %d" % (i, k, k)), b"STORED")
            threads = [threading.Thread(target=writer, args=(i,)) for i in range(len(conns))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            for i in range(len(conns)):
                for k in (0, 49):
                    self.assertEqual(ask(conns[0], b"GET k%d-%d" % (i, k)), b"VALUE %d" % k)
            srv.stop()
        self.at_once([dict(mode=m) for m in ("threading", "pool", "event")], case)

    def test_bad_usage(self):
        exe = os.path.join(EXAMPLES, "echo_prefix")
        code, out, err = run(["tcp://127.0.0.1:70000"], exe=exe)
        self.assertEqual(code, 2, err)
        self.assertIn("port", err, "the bad URL is not explained")
        before_mode = {"relay": [TCP, "127.0.0.1:1"], "dgram_upper": ["udp://127.0.0.1:0"]}
        for name in C_EXAMPLES:
            with self.subTest(example=name):
                args = before_mode.get(name, [TCP]) + ["bogus-mode"]
                code, out, err = run(args, exe=os.path.join(EXAMPLES, name))
                self.assertEqual(code, 2, err)
                self.assertIn("event", err, "the usage line does not list the modes")

    def test_error_convention(self):
        # A hook returns 0 or a negative errno: a bare `return -1` reads as -EPERM.
        for name in os.listdir(os.path.join(ROOT, "examples")):
            with open(os.path.join(ROOT, "examples", name)) as f:
                for number, line in enumerate(f, 1):
                    self.assertNotRegex(line, r"\breturn\s*\(?\s*-1\s*\)?\s*;",
                                        "examples/%s:%d returns -1, not a negative errno" % (name, number))


# The C examples, each built into EXAMPLES (examples/*.c).
C_EXAMPLES = sorted(n[:-2] for n in os.listdir(os.path.join(ROOT, "examples")) if n.endswith(".c"))


class Upstream:
    """A TCP server for the relay to reach: each line back in capitals; at the client's
    end of output, "bye" and close."""

    def __init__(self):
        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                for line in self.rfile:
                    self.wfile.write(line.upper())
                self.wfile.write(b"bye\n")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.hostport = "127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class CxxExamples(Case):
    """The C++ example, when a C++ compiler built it; else a skip with the reason."""

    needs_program = False

    def require_built(self, name):
        """The example's path; a skip when the build had no C++ compiler (it leaves
        cxx-skipped.txt saying so), a failure when it is missing for another reason."""
        exe = os.path.join(EXAMPLES, name)
        if not os.access(exe, os.X_OK):
            marker = os.path.join(EXAMPLES, "cxx-skipped.txt")
            if not os.path.exists(marker):
                self.fail("C++ example not built: %s, and the build does not say why (%s missing)" % (exe, marker))
            with open(marker) as f:
                why = f.read().strip()
            require(False, why, "apt-get install g++, then configure a fresh build directory (make clean)")
        return exe

    def test_linecount(self):
        exe = self.require_built("linecount")

        def case(p):
            mode = p["mode"]
            srv = self.server(TCP, mode, exe=exe)
            a = self.connect(srv)
            self.assertEqual(ask(a, b"hi"), b"1 hi")
            self.assertEqual(ask(a, b"hi"), b"2 hi")
            self.assertEqual(ask(a, b"other line"), b"1 other line")
            if mode == "sync":
                a.close()
            b = self.connect(srv)
            self.assertEqual(ask(b, b"hi"), b"3 hi" if mode in SHARED_STATE else b"1 hi")
            # An exception in the handler: caught in the hook, reported, this client closed.
            b.send(b"nul\x00byte\n")
            self.assertEqual(b.recv_until_closed()[0], b"")
            reported = wait_until(lambda: b"NUL byte" in srv.stderr(), 5)
            self.assertTrue(reported, "the exception's reason was not reported\n" + srv.describe())
            if mode != "sync":  # the others are served on
                self.assertEqual(ask(a, b"hi"), b"4 hi" if mode in SHARED_STATE else b"3 hi")
            srv.stop()
        self.at_once([dict(mode=m) for m in MODES], case)


if __name__ == "__main__":
    unittest.main(verbosity=2)
