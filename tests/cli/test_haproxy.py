"""test_haproxy.py: sockserv behind a real HAProxy (Debian's), configured as docs/DEPLOYMENT.md shows: the client's address through PROXY v1 and v2 in the chat prefix, TLS passed through after the header (echo, sessions resumed across two workers, a failed handshake named with the client), health checks with check-send-proxy.

The HAProxy configuration and the sockserv commands behind it are the blocks
of docs/DEPLOYMENT.md marked `<!-- tested: haproxy.cfg -->` and `<!-- tested:
backends.sh -->`, read from the page at each run. The test changes only what
must change on a shared machine: the frontends bind 127.0.0.1 on free ports,
sockserv listens on port 0 and the `server` lines get the ports it reports, the
certificate is one made for the run (`openssl req`), `maxconn` is 256 (so an
unprivileged run needs no higher open-file limit), checks run every 100 ms
instead of 2 s (to see several in a second), and a `stats socket` is added so
the test can ask HAProxy how it sees the servers. The v1 run also changes
`send-proxy-v2` to `send-proxy`.

HAProxy runs in the foreground (`haproxy -db`) and is killed at the end; its
stderr is in every failure message. Clients connect to it from their own
loopback addresses (127.0.0.2, 127.0.0.3, ...: the socket is bound before
connect), so the address sockserv reports can only have come from the PROXY
header: without it, every connection would come from HAProxy's 127.0.0.1.

Without haproxy (or the openssl command, for the TLS case) the tests report
themselves skipped with the install command (exit 77).
"""
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fault"))
import fault_harness as fh  # noqa: E402  (the stop line's counters, the failure lines)
import sockserv_harness as harness  # noqa: E402
from sockserv_harness import (BIN, deployment_block, IO_TIMEOUT, SLOW, STOP_TIMEOUT, Case, Conn, require, run,  # noqa: E402
                              unique, wait_until)

HAPROXY = shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy", "/sbin/haproxy")
                                           if os.access(p, os.X_OK)), None)
require(HAPROXY, "haproxy is not installed: these tests run a real HAProxy in front of sockserv",
        "apt-get install haproxy")
OPENSSL = shutil.which("openssl")

CHECK_INTER = "100ms"


def program_has_tls():
    code, _, err = run(["echo", "--listen", "tls://127.0.0.1:0", "--tls-cert", "/nonexistent/cert.pem",
                        "--tls-key", "/nonexistent/key.pem"])
    return not (code == 2 and "without TLS" in err)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """Something listens on 127.0.0.1:port (from /proc/net/tcp: no probe connection)."""
    want = "0100007F:%04X" % port
    with open("/proc/net/tcp") as f:
        return any(len(fl) > 3 and fl[1] == want and fl[3] == "0A" for fl in (line.split() for line in f))


def make_certificate(directory):
    """(cert, key): ECDSA P-256, self-signed for 127.0.0.1, as bench/run.py makes it."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    p = subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True, timeout=60 * SLOW)
    if p.returncode != 0:
        raise RuntimeError("openssl req failed: %s" % p.stderr.decode(errors="replace"))
    return cert, key


def client_from(ip, port, timeout=IO_TIMEOUT):
    """A TCP connection to 127.0.0.1:port from the loopback address ip."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.bind((ip, 0))
        s.connect(("127.0.0.1", port))
    except BaseException:
        s.close()
        raise
    return s


class Backend:
    """One sockserv command of the page's backends.sh, as run by the test."""

    def __init__(self, argv, doc_port):
        self.argv, self.doc_port = argv, doc_port
        self.srv = None

    @property
    def port(self):
        return self.srv.address.addr[1]


class Deployment:
    """HAProxy and the sockserv processes of docs/DEPLOYMENT.md, started for one test."""

    def __init__(self, case, version):
        self.case, self.version = case, version
        self.tmp = case.tmp
        self.stats_path = os.path.join(self.tmp, "haproxy.sock")
        self.backends = self.start_backends()
        self.front = {}  # frontend name -> port
        self.cfg_text = self.config()
        self.cfg = os.path.join(self.tmp, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write(self.cfg_text)
        self.err_path = os.path.join(self.tmp, "haproxy.stderr")
        self.err = open(self.err_path, "ab")
        case.addCleanup(self.err.close)
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", self.cfg], stdin=subprocess.DEVNULL,
                                     stdout=self.err, stderr=self.err, start_new_session=True,
                                     preexec_fn=harness._die_with_parent)
        case.addCleanup(self.kill)
        if not wait_until(lambda: self.proc.poll() is not None or all(listening(p) for p in self.front.values()),
                          10 * SLOW) or self.proc.poll() is not None:
            raise AssertionError("haproxy did not listen on %s\n%s" % (sorted(self.front.values()), self.describe()))
        self.wait_all_up()

    # -- the page's blocks, made runnable here

    def start_backends(self):
        backends = []
        cert = key = None
        for line in deployment_block("backends.sh").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            argv = shlex.split(line.rstrip("&").strip())
            self.case.assertEqual(argv[0], "sockserv", "backends.sh runs something else: %r" % line)
            url = argv[argv.index("--listen") + 1]
            m = re.fullmatch(r"(tcp|tls)://127\.0\.0\.1:(\d+)", url)
            self.case.assertTrue(m, "backends.sh: unexpected --listen %r" % url)
            argv[argv.index("--listen") + 1] = "%s://127.0.0.1:0" % m.group(1)
            if "--tls-cert" in argv:
                if cert is None:
                    cert, key = make_certificate(self.tmp)
                    self.cert = cert
                argv[argv.index("--tls-cert") + 1] = cert
                argv[argv.index("--tls-key") + 1] = key
            backends.append(Backend(argv[1:], int(m.group(2))))
        for b in backends:
            b.srv = self.case.server(*b.argv)
        return backends

    def backend(self, doc_port):
        for b in self.backends:
            if b.doc_port == doc_port:
                return b
        raise AssertionError("haproxy.cfg names port %d, which no sockserv of backends.sh listens on" % doc_port)

    def config(self):
        out = []
        for line in deployment_block("haproxy.cfg").splitlines():
            words = line.split()
            if words[:1] == ["frontend"]:
                section = words[1]
            if words[:1] == ["bind"]:
                port = free_port()
                self.front[section] = port
                line = re.sub(r"bind \S+", "bind 127.0.0.1:%d" % port, line)
            elif words[:1] == ["server"]:
                m = re.search(r"127\.0\.0\.1:(\d+)", line)
                self.case.assertTrue(m, "haproxy.cfg: a server not on 127.0.0.1: %r" % line)
                line = line.replace(m.group(0), "127.0.0.1:%d" % self.backend(int(m.group(1))).port)
            elif words[:1] == ["maxconn"]:
                line = re.sub(r"maxconn \d+", "maxconn 256", line)
            if "inter " in line:
                line = re.sub(r"inter \S+", "inter " + CHECK_INTER, line)
            if self.version == 1:
                line = line.replace("send-proxy-v2", "send-proxy")
            out.append(line)
            if words[:1] == ["global"]:
                out.append("    stats socket %s level admin" % self.stats_path)
        text = "\n".join(out) + "\n"
        self.case.assertEqual(len(self.front), 2, "haproxy.cfg should have the chat and echo_tls frontends")
        self.case.assertIn("send-proxy-v2" if self.version == 2 else "send-proxy ", text)
        return text

    # -- HAProxy

    def describe(self):
        with open(self.err_path, "rb") as f:
            err = f.read().decode(errors="replace")
        return "--- haproxy.cfg:\n%s--- haproxy stderr:\n%s" % (self.cfg_text, err[-3000:])

    def stats(self):
        """HAProxy's `show stat`: {(proxy, server): {column: value}}."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(IO_TIMEOUT)
            s.connect(self.stats_path)
            s.sendall(b"show stat\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        lines = data.decode().splitlines()
        head = lines[0].lstrip("# ").split(",")
        rows = {}
        for line in lines[1:]:
            if line:
                row = dict(zip(head, line.split(",")))
                rows[(row["pxname"], row["svname"])] = row
        return rows

    def servers(self):
        return {k: v for k, v in self.stats().items() if k[1] not in ("FRONTEND", "BACKEND")}

    def wait_all_up(self):
        """Every server UP, its last check passed (the checks, with their PROXY header, work)."""
        def up():
            try:
                rows = self.servers()
            except OSError:
                return False
            return rows and all(r["status"] == "UP" and r["check_status"] == "L4OK" for r in rows.values())
        if not wait_until(up, 10 * SLOW):
            raise AssertionError("haproxy does not see every server UP: %s\n%s"
                                 % ({k: (r["status"], r["check_status"]) for k, r in self.servers().items()},
                                    self.describe()))

    def stop_haproxy(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10 * SLOW)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait(10)

    def stop_all(self):
        """HAProxy first (no check arrives afterwards), then every sockserv (exit 0):
        {doc port: its stop line's counters}."""
        self.stop_haproxy()
        counters = {}
        for b in self.backends:
            b.srv.stop()
            counters[b.doc_port] = fh.stopped_counters(b.srv)
        return counters


class Member:
    """A chat client through HAProxy, from its own loopback address."""

    def __init__(self, case, port, ip):
        self.conn = Conn(client_from(ip, port))
        case.addCleanup(self.conn.close)
        self.address = self.conn.hostport()  # what sockserv must print: ip:port
        self.lines = []

    def say(self, text):
        self.conn.send(text + b"\n")

    def read_until(self, text, timeout=IO_TIMEOUT):
        """Lines until the one ending with ' TEXT' (kept in self.lines); that line."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.conn.recv_line(max(0.1, deadline - time.monotonic()))
            self.lines.append(line)
            if line.endswith(b" " + text + b"\n"):
                return line


class Through(Case):
    """Everything through HAProxy; VERSION: the PROXY protocol version HAProxy sends."""

    VERSION = None

    def deployment(self):
        return Deployment(self, self.VERSION)

    def assertNoClientFailed(self, d, ips):
        """No failure line of any sockserv names a client from one of these addresses
        (HAProxy's own, 127.0.0.1, may appear: its checks)."""
        for b in d.backends:
            for peer, reason in fh.failure_lines(b.srv):
                self.assertNotIn(peer.rsplit(":", 1)[0], ips, "a client's request failed (%s)\n%s\n%s"
                                 % (reason, b.srv.describe(), d.describe()))

    def test_chat_prefix_is_the_clients_address(self):
        d = self.deployment()
        port = d.front["chat"]
        members = [Member(self, port, "127.0.0.%d" % (2 + i)) for i in range(4)]
        said = {}  # text -> the address of the member who said it
        for m in members:  # join one at a time: each hears its own line back
            token = unique("join").encode()
            said[token] = m.address
            m.say(token)
            line = m.read_until(token)
            self.assertEqual(line, ("%s " % m.address).encode() + token + b"\n",
                             "the chat prefix is not the client's own address\n%s" % d.describe())
        for m in members:
            token = unique("hello").encode()
            said[token] = m.address
            m.say(token)
            m.read_until(token)
        # Every line anyone received names the member who said it: never HAProxy's 127.0.0.1.
        for m in members:
            for line in m.lines:
                prefix, _, text = line.rstrip(b"\n").partition(b" ")
                self.assertIn(text, said, "an unexpected line %r" % line)
                self.assertEqual(prefix.decode(), said[text], "line %r names the wrong sender" % line)
        # Both chat processes served members (balance roundrobin).
        served = {k[1]: int(r["stot"]) for k, r in d.servers().items() if k[0] == "chat"}
        self.assertTrue(served and all(n >= 1 for n in served.values()),
                        "HAProxy did not spread the members over both chat servers: %s" % served)
        for m in members:
            m.say(b"quit")
            m.conn.recv_until_closed()
        counters = d.stop_all()
        for doc_port in (7001, 7002):
            self.assertEqual(counters[doc_port]["refused"], 0, "a PROXY header was refused\n%s" % d.describe())
        self.assertNoClientFailed(d, {m.address.rsplit(":", 1)[0] for m in members})

    def test_tls_passed_through(self):
        require(OPENSSL, "the openssl command is not installed: the test makes its certificate with it",
                "apt-get install openssl")
        require(program_has_tls(), "sockserv was built without TLS (OpenSSL 3)",
                "apt-get install libssl-dev, then rebuild sockserv")
        d = self.deployment()
        port = d.front["echo_tls"]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(d.cert)
        session = None
        for i in range(7):  # one full handshake, then six resumed: the workers share the ticket keys
            raw = client_from("127.0.0.6", port)
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session) as s:
                c = Conn(s)
                c.send(b"hello %d\n" % i)
                self.assertEqual(c.recv_line(), b"hello %d\n" % i, d.describe())
                if i:
                    self.assertTrue(s.session_reused, "reconnection %d did not resume its session\n%s"
                                    % (i, d.describe()))
                session = s.session  # the ticket came before the echo
                s.unwrap()  # close_notify: a clean end, not a truncation
        # A client that speaks plain text to the TLS port: the failure names it, not HAProxy.
        with client_from("127.0.0.7", port) as raw:
            bad = Conn(raw)
            address = bad.hostport()
            bad.send(b"GET / HTTP/1.0\r\n\r\n")
            bad.recv_until_closed()
        tls = d.backend(7444).srv
        ok = wait_until(lambda: [r for p, r in fh.failure_lines(tls) if p == address], 5 * SLOW)
        self.assertTrue(ok, "no failure line names the client %s\n%s" % (address, tls.describe()))
        self.assertIn("TLS handshake", ok[0])
        counters = d.stop_all()
        self.assertGreaterEqual(counters[7444]["tls_failed"], 1)
        self.assertEqual(counters[7444]["refused"], 0, "a PROXY header was refused\n%s" % tls.describe())
        self.assertNoClientFailed(d, {"127.0.0.6"})

    def test_health_checks_reach_nothing(self):
        # The checks pass (every server UP: Deployment waits for it), are accepted
        # (not refused), reach no chat room, and leave no error behind.
        d = self.deployment()
        port = d.front["chat"]
        members = [Member(self, port, "127.0.0.%d" % (2 + i)) for i in range(2)]
        for m in members:
            token = unique("join").encode()
            m.say(token)
            m.read_until(token)
        time.sleep(1.0)  # about ten checks per server at inter 100ms
        for m in members:
            m.conn.assert_open(wait=0.5)  # nothing arrived: a check says nothing in the room
        self.assertEqual(d.servers()[("chat", "chat1")]["status"], "UP")
        for m in members:
            m.say(b"quit")
            m.conn.recv_until_closed()
        counters = d.stop_all()
        for doc_port, clients in ((7001, 1), (7002, 1), (7444, 0)):
            c = counters[doc_port]
            b = d.backend(doc_port)
            self.assertGreaterEqual(c["accepted"], clients + 3, "the checks did not reach sockserv\n%s"
                                    % b.srv.describe())
            self.assertEqual(c["refused"], 0, "health checks were refused\n%s" % b.srv.describe())
            self.assertEqual((c["errors"], c["tls_failed"]), (0, 0),
                             "health checks were counted as errors (or failed TLS handshakes): a check "
                             "connects, sends its PROXY header and resets the connection\n%s"
                             % b.srv.describe())


class ProxyV2(Through):
    """HAProxy with send-proxy-v2, as docs/DEPLOYMENT.md shows it (checks: v2 LOCAL)."""

    VERSION = 2


class ProxyV1(Through):
    """The same with send-proxy: PROXY v1 text lines (checks: a v1 line naming HAProxy)."""

    VERSION = 1


del Through  # only its two versions run

if __name__ == "__main__":
    unittest.main(verbosity=2)
