"""test_proxy_cli.py: `--proxy-protocol` and `--trusted-proxies`: PROXY v1 and v2 headers written by hand from Python (no proxy needed: tests/cli/test_haproxy.py puts a real HAProxy in front), in several modes; echo served, the chat prefix and --allow seeing the client the header names, a v2 LOCAL header keeping the real peer, headers refused (missing, malformed, from an untrusted source) counted and reported one line each, a header before TLS, and the usage errors."""
import os
import socket
import ssl
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sockserv_harness import IO_TIMEOUT, Case, Conn, run, self_signed_cert  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fault"))
import fault_harness as fh  # noqa: E402  (the stop line's counters, the failure lines)

TCP = "tcp://127.0.0.1:0"
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src, sport, dst="127.0.0.1", dport=443):
    family = "TCP6" if ":" in src else "TCP4"
    dst = "::1" if family == "TCP6" and dst == "127.0.0.1" else dst
    return b"PROXY %s %s %s %d %d\r\n" % (family.encode(), src.encode(), dst.encode(), sport, dport)


def v2(src, sport, dst="127.0.0.1", dport=443, tlvs=b""):
    """A v2 PROXY header (command PROXY, TCP over IPv4 or IPv6), TLVs appended."""
    if ":" in src:
        fam, pack = 0x21, lambda a: socket.inet_pton(socket.AF_INET6, a)
        dst = "::1" if dst == "127.0.0.1" else dst
    else:
        fam, pack = 0x11, socket.inet_aton
    body = pack(src) + pack(dst) + struct.pack("!HH", sport, dport) + tlvs
    return V2_SIGNATURE + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


def v2_local():
    """A v2 LOCAL header: a proxy's own connection (a health check)."""
    return V2_SIGNATURE + bytes([0x20, 0x00]) + struct.pack("!H", 0)


class Proxy(Case):
    def chat_line(self, srv, header, text=b"hello"):
        """One member that sends its header and a line: the line the room sends back."""
        c = self.connect(srv)
        c.send(header + text + b"\n")
        line = c.recv_line()
        c.send(b"quit\n")
        c.recv_until_closed()
        return line

    def test_chat_prefix_is_the_proxied_client(self):
        # v1 and v2, IPv4 and IPv6 clients, a TLV skipped; LOCAL keeps the real peer.
        def case(mode):
            srv = self.server("chat", "--listen", TCP, "--proxy-protocol", "--mode", mode, "--drain", "1")
            for header, peer in ((v1("203.0.113.7", 56324), "203.0.113.7:56324"),
                                 (v1("2001:db8::7", 40000), "[2001:db8::7]:40000"),
                                 (v2("198.51.100.9", 4000), "198.51.100.9:4000"),
                                 (v2("2001:db8::9", 4001, tlvs=b"\x04\x00\x03abc"), "[2001:db8::9]:4001")):
                self.assertEqual(self.chat_line(srv, header), peer.encode() + b" hello\n")
            c = self.connect(srv)
            c.send(v2_local() + b"local\n")
            self.assertEqual(c.recv_line(), c.hostport().encode() + b" local\n")
            c.send(b"quit\n")
            c.recv_until_closed()
            srv.stop()
            counters = fh.stopped_counters(srv)
            self.assertEqual((counters["accepted"], counters["completed"], counters["refused"],
                              counters["errors"]), (5, 5, 0, 0), srv.describe())
        self.at_once(["threading", "event", "forking", "sync"], case)

    def test_echo_after_the_header(self):
        # The header's bytes are taken, not a byte past it: what follows, sent in the same
        # packet, is echoed whole.
        def case(mode):
            srv = self.server("echo", "--listen", TCP, "--proxy-protocol", "--mode", mode)
            for header in (v1("192.0.2.1", 1000), v2("192.0.2.2", 2000), v2_local()):
                c = self.connect(srv)
                c.send(header + b"first\nsecond\n")
                self.assertEqual(c.recv_line(), b"first\n")
                self.assertEqual(c.recv_line(), b"second\n")
                c.close()
            srv.stop()
        self.at_once(["threading", "event", "pool"], case)

    def test_allow_sees_the_proxied_client(self):
        # The real peer is 127.0.0.1, outside --allow; the header decides.
        srv = self.server("echo", "--listen", TCP, "--proxy-protocol", "--allow", "203.0.113.0/24")
        c = self.connect(srv)
        c.send(v1("203.0.113.50", 1234) + b"allowed\n")
        self.assertEqual(c.recv_line(), b"allowed\n")
        c.close()
        c = self.connect(srv)
        c.send(v2("198.51.100.1", 1234) + b"not allowed\n")
        self.assertEqual(c.recv_until_closed()[0], b"")
        srv.stop()
        counters = fh.stopped_counters(srv)
        self.assertEqual((counters["accepted"], counters["completed"], counters["refused"]), (2, 1, 1))

    def test_unix_listener_behind_a_proxy(self):
        # A Unix stream peer is trusted (the file's mode decides who connects), and with
        # --proxy-protocol --allow applies there too: to the client the header names.
        path = os.path.join(self.tmp, "behind.sock")
        srv = self.server("chat", "--listen", "unix:" + path, "--proxy-protocol", "--allow", "192.0.2.0/24")
        self.assertEqual(self.chat_line(srv, v1("192.0.2.8", 8000)), b"192.0.2.8:8000 hello\n")
        c = self.connect(srv)
        c.send(v1("198.51.100.8", 8000) + b"hello\n")
        self.assertEqual(c.recv_until_closed()[0], b"")
        srv.stop()
        self.assertEqual(fh.stopped_counters(srv)["refused"], 1)

    def test_refused_headers_counted_and_reported(self):
        # No header, a malformed v1, a truncated v2, a v1 without its CRLF: each refused,
        # its connection closed unanswered, one escaped line on stderr with the reason.
        def case(mode):
            srv = self.server("echo", "--listen", TCP, "--proxy-protocol", "--mode", mode, "--timeout", "2")
            bad = [b"hello\n", b"PROXY TCP4 bad\r\n", V2_SIGNATURE + b"\x21\x11\x00\x0c\x01\x02",
                   b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n\x1b[31m\n"]
            ports = []
            for data in bad:
                c = self.connect(srv)
                ports.append(c.sockname()[1])
                c.send(data)
                if data.startswith(V2_SIGNATURE):
                    c.shutdown_write()  # the rest never comes
                self.assertEqual(c.recv_until_closed(timeout=IO_TIMEOUT)[0], b"")
                c.close()
            c = self.connect(srv)
            c.send(v1("192.0.2.9", 9) + b"good\n")
            self.assertEqual(c.recv_line(), b"good\n")
            c.close()
            srv.stop()
            counters = fh.stopped_counters(srv)
            self.assertEqual((counters["accepted"], counters["refused"], counters["completed"]),
                             (len(bad) + 1, len(bad), 1), srv.describe())
            failures = fh.failure_lines(srv, "PROXY")
            self.assertEqual(sorted(int(peer.rsplit(":", 1)[1]) for peer, _ in failures), sorted(ports),
                             srv.describe())
            for _, reason in failures:
                self.assertNotIn("\x1b", reason)
        self.at_once(["threading", "event", "forking"], case)

    def test_untrusted_source_refused(self):
        # 127.0.0.1 is not among the trusted proxies: every header is refused, however valid.
        srv = self.server("echo", "--listen", TCP, "--proxy-protocol", "--trusted-proxies", "10.0.0.0/8,fd00::/8")
        for header in (v1("203.0.113.7", 1), v2("203.0.113.8", 2), v2_local()):
            c = self.connect(srv)
            c.send(header + b"hello\n")
            self.assertEqual(c.recv_until_closed()[0], b"")
        srv.stop()
        counters = fh.stopped_counters(srv)
        self.assertEqual((counters["accepted"], counters["refused"], counters["completed"]), (3, 3, 0))
        self.assertEqual(len(fh.failure_lines(srv, "PROXY")), 3, srv.describe())

    def test_trusted_proxies_by_list(self):
        srv = self.server("echo", "--listen", TCP, "--proxy-protocol", "--trusted-proxies",
                          "192.0.2.0/24,127.0.0.1/32,::1")
        c = self.connect(srv)
        c.send(v1("203.0.113.7", 1) + b"trusted\n")
        self.assertEqual(c.recv_line(), b"trusted\n")
        c.close()
        srv.stop()

    def test_header_before_tls(self):
        # The header comes first, in clear, then the TLS handshake.
        cert, key = self_signed_cert(self.tmp)
        srv = self.server("chat", "--listen", "tls://127.0.0.1:0", "--tls-cert", cert, "--tls-key", key,
                          "--proxy-protocol")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cert)
        raw = socket.create_connection(srv.address.addr, timeout=IO_TIMEOUT)
        raw.sendall(v2("203.0.113.77", 7777))
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            c = Conn(s)
            c.send(b"over tls\n")
            self.assertEqual(c.recv_line(), b"203.0.113.77:7777 over tls\n")
            c.send(b"quit\n")
            c.recv_until_closed()
        srv.stop()

    def test_usage_errors(self):
        for args, words in (
                (["echo", "--listen", "udp://127.0.0.1:0", "--proxy-protocol"],
                 ["--proxy-protocol", "udp://127.0.0.1:0"]),
                (["echo", "--listen", TCP, "--listen", "unix-dgram:/tmp/never.sock", "--proxy-protocol"],
                 ["--proxy-protocol", "unix-dgram:/tmp/never.sock"]),
                (["echo", "--listen", TCP, "--trusted-proxies", "10.0.0.0/8"],
                 ["--trusted-proxies", "--proxy-protocol"]),
                (["echo", "--listen", TCP, "--proxy-protocol", "--trusted-proxies", "10.0.0.0/33"],
                 ["invalid --trusted-proxies '10.0.0.0/33'", "prefix"]),
                (["echo", "--listen", TCP, "--proxy-protocol", "--trusted-proxies", "proxy.example"],
                 ["invalid --trusted-proxies 'proxy.example'", "address"]),
                (["echo", "--listen", TCP, "--proxy-protocol", "--trusted-proxies", ""],
                 ["invalid --trusted-proxies ''", "empty"]),
                (["echo", "--listen", TCP, "--proxy-protocol=yes"], ["option '--proxy-protocol' takes no value"])):
            with self.subTest(args=args):
                self.assertUsageError(run(args), words)


if __name__ == "__main__":
    unittest.main(verbosity=2)
