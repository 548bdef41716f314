"""test_ready.py: the ready line for every URL kind, the default address, --help and --version."""
import os
import re
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sockserv_harness import Case, connect, ipv6_available, port_is_free, run, unique  # noqa: E402


class ReadyLine(Case):
    def test_every_url_kind(self):
        for kind, url in sorted(self.urls().items()):
            with self.subTest(kind=kind, url=url):
                srv = self.server("echo", "--listen", url)
                if url.endswith(":0"):
                    port = srv.address.addr[1]
                    self.assertGreater(port, 0, "port 0 not resolved: %s" % srv.url)
                    self.assertEqual(srv.url, url[:-1] + str(port))
                else:
                    self.assertEqual(srv.url, url, "Unix path not printed as given")
                if srv.address.path:
                    self.assertTrue(os.path.exists(srv.address.path), srv.address.path)
                self.roundtrip(srv)
                # Exactly one line on stdout, even after serving a request.
                self.assertEqual(srv.stdout(), ("listening on %s\n" % srv.url).encode())
                srv.stop()

    def test_chat_ready_line(self):
        for kind, url in sorted(self.urls().items()):
            if "udp" in kind or "dgram" in kind:
                continue
            with self.subTest(kind=kind):
                srv = self.server("chat", "--listen", url)
                if url.endswith(":0"):
                    self.assertEqual(srv.url, url[:-1] + str(srv.address.addr[1]))
                else:
                    self.assertEqual(srv.url, url)
                srv.stop()

    def test_ipv6_in_brackets(self):
        if not ipv6_available():
            self.skipTest("no IPv6 loopback on this machine")
        srv = self.server("echo", "--listen", "tcp://[::1]:0")
        self.assertRegex(srv.url, r"^tcp://\[::1\]:[1-9][0-9]*$")
        self.roundtrip(srv)
        srv.stop()

    def test_dual_stack_any(self):
        if not ipv6_available():
            self.skipTest("no IPv6 on this machine")
        srv = self.server("echo", "--listen", "tcp://[::]:0")
        self.assertRegex(srv.url, r"^tcp://\[::\]:[1-9][0-9]*$")
        port = srv.address.addr[1]
        for host in ("127.0.0.1", "::1"):
            with self.subTest(host=host):
                url = "tcp://%s:%d" % ("[::1]" if ":" in host else host, port)
                c = connect(url)
                c.send(b"dual\n")
                self.assertEqual(c.recv_line(), b"dual\n")
                c.close()
        srv.stop()

    def test_explicit_port(self):
        # Pick a free port, then ask for it by number.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        srv = self.server("echo", "--listen", "tcp://127.0.0.1:%d" % port)
        self.assertEqual(srv.url, "tcp://127.0.0.1:%d" % port)
        self.roundtrip(srv)
        srv.stop()

    def test_abstract_leaves_no_file(self):
        name = unique("sockserv-abstract")
        srv = self.server("echo", "--listen", "unix:@" + name)
        self.assertEqual(srv.url, "unix:@" + name)
        self.assertFalse(os.path.exists("@" + name))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "@" + name)))
        self.roundtrip(srv)
        srv.stop()

    def test_stale_unix_socket_replaced(self):
        path = os.path.join(self.tmp, "stale.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.close()  # the file stays; nobody listens on it
        self.assertTrue(os.path.exists(path))
        srv = self.server("echo", "--listen", "unix:" + path)
        self.roundtrip(srv)
        srv.stop()

    def test_default_address(self):
        if not port_is_free(9999):
            self.skipTest("127.0.0.1:9999 is in use on this machine")
        for cmd in ("echo", "chat"):
            with self.subTest(cmd=cmd):
                srv = self.server(cmd)
                self.assertEqual(srv.url, "tcp://127.0.0.1:9999")
                c = self.connect(srv)
                c.send(b"default\n")
                line = c.recv_line()
                if cmd == "echo":
                    self.assertEqual(line, b"default\n")
                else:
                    self.assertEqual(line, ("%s default\n" % c.hostport()).encode())
                c.close()
                srv.stop()

    def test_default_mode_is_threading(self):
        # Two clients at once are served at once (sync would make the second wait).
        srv = self.server("echo", "--listen", "tcp://127.0.0.1:0")
        a = self.connect(srv)
        a.send(b"a\n")
        self.assertEqual(a.recv_line(), b"a\n")
        b = self.connect(srv)
        b.send(b"b\n")
        self.assertEqual(b.recv_line(), b"b\n")
        srv.stop()


class HelpVersion(Case):
    def test_help(self):
        code, out, err = run(["--help"])
        self.assertEqual(code, 0, err)
        for word in ("echo", "chat", "--listen", "--mode", "--max-line", "--drain"):
            self.assertIn(word, out, "--help output (stdout) does not mention %s:\n%s" % (word, out))

    def test_version(self):
        code, out, err = run(["--version"])
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"\b[0-9]+\.[0-9]+\.[0-9]+\b", "--version prints no version number")
        self.assertEqual(len(out.strip().splitlines()), 1, "--version: expected one line, got %r" % out)

    def test_help_has_no_ready_line(self):
        code, out, err = run(["--help"])
        self.assertNotRegex(out, re.compile("^listening on", re.M))


if __name__ == "__main__":
    unittest.main(verbosity=2)
