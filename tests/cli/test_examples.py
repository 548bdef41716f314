"""test_examples.py: the built examples (build/examples) run and do what their first line says."""
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sockserv_harness import EXAMPLES, MODES, Case, run, wait_until  # noqa: E402

TCP = "tcp://127.0.0.1:0"


class Examples(Case):
    needs_program = False

    def example(self, name, *args):
        exe = os.path.join(EXAMPLES, name)
        if not os.access(exe, os.X_OK):
            self.fail("example not built: %s (set SOCKSERV_EXAMPLES)" % exe)
        return self.server(*args, exe=exe)

    def test_echo_prefix(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                srv = self.example("echo_prefix", TCP, mode)
                c = self.connect(srv)
                c.send(b"hello\n")
                self.assertEqual(c.recv_line(), ("%s hello\n" % c.hostport()).encode())
                c.send(b"two\nlines\n")
                self.assertEqual(c.recv_line(), ("%s two\n" % c.hostport()).encode())
                self.assertEqual(c.recv_line(), ("%s lines\n" % c.hostport()).encode())
                c.send(b" quit \n")
                self.assertEqual(c.recv_until_closed(), (b"", "eof"))
                srv.stop(signal.SIGTERM)

    def test_echo_prefix_unix_and_udp(self):
        srv = self.example("echo_prefix", "unix:" + os.path.join(self.tmp, "e.sock"))
        c = self.connect(srv)
        c.send(b"over unix\n")
        self.assertRegex(c.recv_line(), rb"^\S+ over unix\n$")
        c.close()
        srv.stop(signal.SIGINT)
        srv = self.example("echo_prefix", "udp://127.0.0.1:0")
        d = self.connect(srv)
        d.send(b"datagram\n")
        self.assertEqual(d.recv(), ("127.0.0.1:%d datagram\n" % d.sock.getsockname()[1]).encode())
        srv.stop()

    def test_hello_prints_server_request_client(self):
        srv = self.example("hello", TCP)
        c = self.connect(srv)
        client = c.hostport()
        printed = wait_until(lambda: client.encode() in srv.stdout(), 5)
        self.assertTrue(printed, "hello did not print the client\n" + srv.describe())
        out = srv.stdout().decode()
        self.assertIn(srv.url, out.split("\n", 1)[1], "hello did not print its server")
        c.close()
        srv.stop()

    def test_chat(self):
        srv = self.example("chat", TCP)
        a = self.connect(srv)
        a.send(b"a joins\n")
        self.assertEqual(a.recv_line(), ("%s a joins\n" % a.hostport()).encode())
        b = self.connect(srv)  # only now: b must not see a's join line
        b.send(b"b joins\n")
        self.assertEqual(b.recv_line(), ("%s b joins\n" % b.hostport()).encode())
        self.assertEqual(a.recv_line(), ("%s b joins\n" % b.hostport()).encode())
        a.send(b"hi all\n")
        for c in (a, b):
            self.assertEqual(c.recv_line(), ("%s hi all\n" % a.hostport()).encode())
        a.send(b"quit\n")
        self.assertEqual(a.recv_until_closed(), (b"", "eof"))
        srv.stop()

    def test_bad_usage(self):
        exe = os.path.join(EXAMPLES, "echo_prefix")
        code, out, err = run(["tcp://127.0.0.1:70000"], exe=exe)
        self.assertEqual(code, 2, err)
        code, out, err = run([TCP, "bogus-mode"], exe=exe)
        self.assertEqual(code, 2, err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
